"""Fault injection: the rules, their JSON schema, and which rule a request meets.

``POST /_sandbox/faults`` (and each ``--faults`` start-up option) takes one JSON object whose
keys are fault kinds; each value is one rule object or a list of them::

    {"respond":  {"status": 503, "retry_after": 2, "count": 2}}
    {"respond":  {"status": 502, "body": "html", "on": "status"}}  # or json empty bare no_id
    {"respond":  {"status": 401, "early": true}}          # before reading the body
    {"respond":  {"status": 200, "on": "status", "ingestion_status": 7}}  # status number
    {"redirect": {"status": 307, "location": "http://127.0.0.1:9/v1/ingestion/"}}
    {"drop":     {"after_bytes": 65536}}                  # TCP reset mid-upload
    {"drop":     {}}                                      # whole body read, no answer
    {"delay":    {"before_body": 2.0, "before_answer": 1.0}}
    {"slow_read": {"bytes_per_second": 100000}}
    {"ingestion": {"outcome": "failed"}}                  # or "stalled" (STARTED forever)

Every request rule also takes ``on`` (``create`` — the default —, ``status``, ``key_check``
— ``GET /v1/ingestion/0``, which ``status`` rules leave alone — or ``any``) and
``count`` (default 1; ``null`` = until reset). A request consumes at most one rule of each
group — timing (``delay``), throttle (``slow_read``), answer (``respond``/``redirect``/
``drop``) — the oldest matching one. ``ingestion`` rules apply to the next accepted ingestions.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ENDPOINTS = ("create", "status", "key_check", "any")
ANSWER_KINDS = ("respond", "redirect", "drop")
KINDS = (*ANSWER_KINDS, "delay", "slow_read", "ingestion")
BODY_STYLES = ("json", "html", "empty", "bare", "no_id")
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
OUTCOMES = ("failed", "stalled")

#: the error code a ``respond`` rule sends for a status, unless it names its own ``code``
STATUS_CODES: dict[int, str] = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


class FaultError(ValueError):
    """Raised for a fault description that does not follow the schema."""


@dataclass
class Fault:
    """One rule: what to do, to which requests, how many more times."""

    kind: str
    on: str = "create"
    remaining: int | None = 1
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, endpoint: str) -> bool:
        """Whether this rule applies to a request of ``endpoint`` (create/status)."""
        return self.remaining != 0 and self.on in (endpoint, "any")

    def to_json(self) -> dict[str, Any]:
        """The rule as ``GET /_sandbox/faults`` shows it."""
        return {"kind": self.kind, "on": self.on, "count": self.remaining, **self.params}

    def get(self, name: str, default: Any = None) -> Any:
        """A parameter of the rule."""
        return self.params.get(name, default)


@dataclass(frozen=True)
class FaultPlan:
    """The rules one request consumed: at most one per group."""

    delay: Fault | None = None
    slow_read: Fault | None = None
    answer: Fault | None = None

    @property
    def names(self) -> list[str]:
        """The kinds applied, for the request log."""
        return [f.kind for f in (self.delay, self.slow_read, self.answer) if f is not None]


def status_code_name(status: int) -> str:
    """The error code matching an HTTP status (``http_<status>`` when none is usual)."""
    return STATUS_CODES.get(status, f"http_{status}")


def _number(params: dict[str, Any], name: str, *, minimum: float = 0.0) -> float:
    value = params.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise FaultError(f"{name} must be a number >= {minimum:g}")
    return float(value)


def _check_respond(params: dict[str, Any]) -> None:
    status = params.get("status")
    if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
        raise FaultError("respond.status must be an HTTP status between 200 and 599")
    if params.setdefault("body", "json") not in BODY_STYLES:
        raise FaultError(f"respond.body must be one of {', '.join(BODY_STYLES)}")
    retry_after = params.get("retry_after")
    if retry_after is not None and not isinstance(retry_after, (int, float, str)):
        raise FaultError("respond.retry_after must be a number or a string")
    if params.get("context") is not None and not isinstance(params["context"], dict):
        raise FaultError("respond.context must be an object")
    for name in ("code", "message"):
        if params.get(name) is not None and not isinstance(params[name], str):
            raise FaultError(f"respond.{name} must be a string")
    number = params.get("ingestion_status")
    if number is not None and (isinstance(number, bool) or not isinstance(number, int)):
        raise FaultError("respond.ingestion_status must be an integer (any, even undocumented)")


def _check_redirect(params: dict[str, Any]) -> None:
    if params.setdefault("status", 307) not in REDIRECT_STATUSES:
        raise FaultError(f"redirect.status must be one of {REDIRECT_STATUSES}")
    if not isinstance(params.get("location"), str) or not params["location"]:
        raise FaultError("redirect.location (the URL to redirect to) is required")


def _check_drop(params: dict[str, Any]) -> None:
    after = params.setdefault("after_bytes", None)
    if after is not None and (isinstance(after, bool) or not isinstance(after, int) or after < 0):
        raise FaultError("drop.after_bytes must be an integer >= 0 or null (whole body)")
    if not isinstance(params.setdefault("accept", False), bool):
        raise FaultError("drop.accept must be true or false")


def _check_delay(params: dict[str, Any]) -> None:
    params["before_body"] = _number(params, "before_body")
    params["before_answer"] = _number(params, "before_answer")


def _check_slow_read(params: dict[str, Any]) -> None:
    if _number(params, "bytes_per_second", minimum=1) < 1:
        raise FaultError("slow_read.bytes_per_second must be >= 1")


def _check_ingestion(params: dict[str, Any]) -> None:
    if params.get("outcome") not in OUTCOMES:
        raise FaultError(f"ingestion.outcome must be one of {', '.join(OUTCOMES)}")


_CHECKS = {
    "respond": _check_respond,
    "redirect": _check_redirect,
    "drop": _check_drop,
    "delay": _check_delay,
    "slow_read": _check_slow_read,
    "ingestion": _check_ingestion,
}


def _parse_rule(kind: str, rule: object) -> Fault:
    if not isinstance(rule, dict):
        raise FaultError(f"{kind}: a rule must be a JSON object")
    params = dict(rule)
    on = params.pop("on", "create")
    if on not in ENDPOINTS:
        raise FaultError(f"{kind}.on must be one of {', '.join(ENDPOINTS)}")
    count = params.pop("count", 1)
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise FaultError(f"{kind}.count must be an integer >= 1, or null for 'until reset'")
    if kind == "ingestion":
        on = "any"  # an outcome belongs to the next accepted ingestion, not to a request
    if not isinstance(params.setdefault("early", False), bool) or (
        params["early"] and kind not in ("respond", "redirect")
    ):
        raise FaultError(f"{kind}.early must be true or false (respond and redirect only)")
    if kind not in ("respond", "redirect"):
        del params["early"]
    _CHECKS[kind](params)
    return Fault(kind=kind, on=on, remaining=count, params=params)


def parse_faults(document: object) -> list[Fault]:
    """Rules from one JSON document of the ``POST /_sandbox/faults`` shape."""
    if not isinstance(document, Mapping):
        raise FaultError("faults must be a JSON object keyed by fault kind")
    rules: list[Fault] = []
    for kind, value in document.items():
        if kind not in KINDS:
            raise FaultError(f"unknown fault kind {kind!r} (known: {', '.join(KINDS)})")
        for rule in value if isinstance(value, list) else [value]:
            rules.append(_parse_rule(kind, rule))
    return rules


class FaultBook:
    """The active rules of one sandbox; safe to use from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []

    def add(self, rules: list[Fault]) -> None:
        """Append rules after the existing ones."""
        with self._lock:
            self._rules.extend(rules)

    def clear(self) -> None:
        """Forget every rule."""
        with self._lock:
            self._rules.clear()

    def to_json(self) -> list[dict[str, Any]]:
        """The rules still active."""
        with self._lock:
            return [rule.to_json() for rule in self._rules]

    def _take(self, kinds: tuple[str, ...], endpoint: str) -> Fault | None:
        for rule in self._rules:
            if rule.kind in kinds and rule.matches(endpoint):
                if rule.remaining is not None:
                    rule.remaining -= 1
                if rule.remaining == 0:
                    self._rules.remove(rule)
                return rule
        return None

    def plan(self, endpoint: str) -> FaultPlan:
        """Consume the rules one request of ``endpoint`` meets."""
        with self._lock:
            return FaultPlan(
                delay=self._take(("delay",), endpoint),
                slow_read=self._take(("slow_read",), endpoint),
                answer=self._take(ANSWER_KINDS, endpoint),
            )

    def take_outcome(self) -> str | None:
        """The forced outcome of the next accepted ingestion, if any rule sets one."""
        with self._lock:
            rule = self._take(("ingestion",), "any")
        return None if rule is None else str(rule.get("outcome"))
