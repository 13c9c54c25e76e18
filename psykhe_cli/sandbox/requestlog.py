"""The request log: every API request the sandbox received, with the key redacted.

Kept in memory (newest ``LIMIT`` entries), cleared by reset, shown by
``GET /_sandbox/ingestions``. An entry is added when the request arrives and filled in as the
request goes on, so a test can see an upload that is still running or was cut short.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from contextvars import ContextVar, Token
from dataclasses import asdict, dataclass, field
from typing import Any

from psykhe_cli.sandbox.store import utc_now

LIMIT = 10_000
REDACTED = "[redacted]"
_SECRET_HEADERS = frozenset({"x-psykhe-api-key", "authorization", "proxy-authorization", "cookie"})
_KEY_PATTERN = re.compile(r"[sp]k_[A-Za-z0-9_\-]+")


def redact(text: str) -> str:
    """``text`` with anything that looks like an API key replaced."""
    return _KEY_PATTERN.sub(REDACTED, text)


def redact_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Request headers as a dict (repeated ones joined by ", "), secrets redacted."""
    headers: dict[str, str] = {}
    for name_bytes, value_bytes in raw:
        name = name_bytes.decode("latin-1").lower()
        value = value_bytes.decode("latin-1")
        value = REDACTED if name in _SECRET_HEADERS else redact(value)
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


@dataclass
class RequestRecord:
    """One request as the sandbox saw it."""

    seq: int
    method: str
    path: str
    query: str
    headers: dict[str, str]
    time: str = field(default_factory=utc_now)
    client_id: str | None = None
    mode: str | None = None
    #: bytes of the body as received (compressed if gzip)
    body_bytes: int = 0
    #: the body was read to its end (and, if gzip, the gzip stream was whole)
    complete: bool = False
    #: SHA-1 of the whole body as received; null unless complete
    sha1: str | None = None
    #: HTTP status answered; null while running or when the connection was dropped
    status: int | None = None
    error_code: str | None = None
    ingestion_id: int | None = None
    faults: list[str] = field(default_factory=list)
    #: the sandbox is done with the request: answered, or its connection gone
    ended: bool = False

    def to_json(self) -> dict[str, Any]:
        """The entry as ``GET /_sandbox/ingestions`` shows it."""
        return asdict(self)


class RequestLog:
    """The newest ``LIMIT`` request records; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=LIMIT)
        self._seq = 0

    def open(self, method: str, path: str, query: str, headers: dict[str, str]) -> RequestRecord:
        """Add the record of a request that just arrived."""
        with self._lock:
            self._seq += 1
            record = RequestRecord(self._seq, method, redact(path), redact(query), headers)
            self._records.append(record)
            return record

    def to_json(self) -> list[dict[str, Any]]:
        """Every record, oldest first."""
        with self._lock:
            return [record.to_json() for record in self._records]

    def clear(self) -> None:
        """Forget every record; numbering starts again at 1."""
        with self._lock:
            self._records.clear()
            self._seq = 0


_CURRENT: ContextVar[RequestRecord | None] = ContextVar("psykhe_sandbox_request", default=None)


def set_current(record: RequestRecord | None) -> Token[RequestRecord | None]:
    """Make ``record`` the one ``current_record`` returns in this task."""
    return _CURRENT.set(record)


def reset_current(token: Token[RequestRecord | None]) -> None:
    """Undo ``set_current``."""
    _CURRENT.reset(token)


def current_record() -> RequestRecord:
    """The record of the request being handled (a detached one outside the log)."""
    record = _CURRENT.get()
    return record if record is not None else RequestRecord(0, "", "", "", {})
