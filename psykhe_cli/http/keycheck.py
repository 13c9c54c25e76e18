"""Is the key accepted? One cheap request, answered before a large body is sent.

The API has no "who am I" endpoint. It authenticates ``GET /v1/ingestion/{id}`` before it looks
the id up, so a request for an ingestion that cannot exist (id 0: ids start at 1) tells the key's
fate without touching anything (``api-contract.md``, "Checking a key", **[assumed]**):

    404 with the envelope's code not_found ....... accepted  the key passed authentication
    401, whatever the body ....................... refused   (``KeyVerdict.error``: AuthError, 4)
    anything else — 2xx, 3xx, 403, 429, 5xx, a 404 that is not the API's envelope (a proxy's
    page), no connection, no complete answer within the deadline .. unknown: go ahead, the
    upload's own answer decides

A 401 whatever its body: a gateway in front that refuses the request would refuse the upload
the same way. One attempt, never retried, all of it (connecting included) within
``KEY_CHECK_DEADLINE`` seconds; the key is never in a reason (every text is scrubbed).
``KeyCheck`` runs the check on a thread of its own, started through ``threads.start``; this
module imports httpx only when a check runs, so a push may hold a ``KeyCheck`` before its
validation workers start without delaying them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from psykhe_cli import threads
from psykhe_cli.errors import AuthError, ConfigError

if TYPE_CHECKING:
    from psykhe_cli.http.envelope import Refusals
    from psykhe_cli.http.exchange import Answer, Exchange

#: an ingestion id no ingestion has: the API's ids start at 1
KEY_CHECK_INGESTION_ID = 0
#: seconds the whole check may take: it must never hold a push up longer than this
KEY_CHECK_DEADLINE = 5.0
#: how long ``KeyCheck.verdict`` waits past the deadline for a check that should have ended
_JOIN_GRACE = 0.5


class KeyStatus(str, Enum):
    """What the server made of the key."""

    ACCEPTED = "accepted"
    REFUSED = "refused"
    #: the answer tells nothing: a push goes ahead
    UNKNOWN = "unknown"


@dataclass(frozen=True, kw_only=True)
class KeyVerdict:
    """The outcome of one key check: the status, and why (the key never in it)."""

    status: KeyStatus
    #: what the server answered, or what went wrong: ``HTTP 401 Unauthorized: unauthorized: …``
    reason: str
    #: where the key came from, for messages: ``PSYKHE_API_KEY``, ``--api-key-file PATH``, …
    key_source: str
    #: the answer's HTTP status; None when no answer came
    http_status: int | None = None

    def error(self, consequence: str | None = None, *, nothing_sent: bool = False) -> AuthError:
        """The ``AuthError`` (exit 4) a refused key ends a run with; ``consequence`` is added
        to the message; ``nothing_sent``: a push stopped before its upload completed (the
        error then says what became of the upload)."""
        from psykhe_cli.http.envelope import KEY_HINT

        message = f"the server rejected the API key from {self.key_source} ({self.reason})"
        message += f"; {consequence}" if consequence else ""
        return AuthError(message, hint=KEY_HINT, nothing_sent=nothing_sent)

    def to_json(self) -> dict[str, Any]:
        """The check as ``--json`` shows it."""
        return {"status": self.status.value, "reason": self.reason, "http_status": self.http_status}


def check_key(
    exchange: Exchange,
    refusals: Refusals,
    *,
    base_url: str,
    key_source: str,
    deadline: float = KEY_CHECK_DEADLINE,
) -> KeyVerdict:
    """One ``GET /v1/ingestion/0`` within ``deadline`` seconds, read as the module's table."""
    import httpx

    url = f"{base_url}/v1/ingestion/{KEY_CHECK_INGESTION_ID}"
    try:
        answer = exchange.send("GET", url, {}, None, 1, within=deadline)
    except httpx.RequestError as exc:
        try:
            exchange.raise_if_untrusted(exc)
        except ConfigError as untrusted:  # the upload will say so with its own exit code
            reason = untrusted.message
        else:
            reason = exchange.describe(exc)
        return KeyVerdict(status=KeyStatus.UNKNOWN, reason=reason, key_source=key_source)
    return _verdict_of(answer, refusals, key_source)


def _verdict_of(answer: Answer, refusals: Refusals, key_source: str) -> KeyVerdict:
    error = refusals.error_of(answer)
    status = answer.status_code
    reason = f"{answer.status_text}{error.suffix()}"
    if status == 401:
        verdict = KeyStatus.REFUSED
    elif status == 404 and error.code == "not_found":
        verdict = KeyStatus.ACCEPTED
    else:
        verdict = KeyStatus.UNKNOWN
        if 200 <= status < 300:
            what = f"ingestion {KEY_CHECK_INGESTION_ID}, which cannot exist"
            reason = f"{answer.status_text} for {what}"
    return KeyVerdict(status=verdict, reason=reason, key_source=key_source, http_status=status)


class KeyCheck:
    """One key check on a thread of its own; its verdict, waited for no longer than its deadline.

    ``start`` starts the thread through ``threads.start``: call it from the validation engine's
    ``on_workers``, or once the check of the feed has ended (never while workers may still be
    forked). ``done`` looks without waiting; ``verdict`` starts the check if it was not, and
    waits at most what is left of ``deadline`` (a moment more): a check still running then is
    ``unknown``. What the check raised (a bug, a client that could not be made) is raised
    again by ``done`` and ``verdict``.
    """

    def __init__(
        self,
        check: Callable[[], KeyVerdict],
        *,
        key_source: str,
        deadline: float = KEY_CHECK_DEADLINE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``check`` makes the request (``IngestionClient.check_key``) within ``deadline``."""
        self._check = check
        self._key_source = key_source
        self._deadline = deadline
        self._clock = clock
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._verdict: KeyVerdict | None = None
        self._error: BaseException | None = None

    @property
    def started(self) -> bool:
        """Whether ``start`` was called."""
        return self._thread is not None

    def start(self) -> None:
        """Start the check on its thread, unless it was started already."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="psykhe-key-check", daemon=True)
        self._started = self._clock()
        threads.start(self._thread)

    def _run(self) -> None:
        try:
            self._verdict = self._check()
        except BaseException as exc:  # raised again in the caller's thread
            self._error = exc

    def done(self) -> KeyVerdict | None:
        """The verdict if the check has ended, else None; never waits."""
        if self._thread is None or self._thread.is_alive():
            return None
        return self._outcome()

    def verdict(self) -> KeyVerdict:
        """The verdict, waiting at most what is left of the deadline (starting the check now if
        it was not started)."""
        self.start()
        assert self._thread is not None
        left = self._started + self._deadline + _JOIN_GRACE - self._clock()
        self._thread.join(max(0.0, left))
        if self._thread.is_alive():
            return KeyVerdict(
                status=KeyStatus.UNKNOWN,
                reason=f"no answer within {self._deadline:g} s",
                key_source=self._key_source,
            )
        return self._outcome()

    def _outcome(self) -> KeyVerdict:
        if self._error is not None:
            raise self._error
        assert self._verdict is not None
        return self._verdict
