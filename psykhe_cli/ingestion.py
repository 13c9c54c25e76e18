"""What the API says about an ingestion: its status numbers, its record, its id.

Pure data, no HTTP: ``poll.py``, ``status.py`` and ``render/`` use it without the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from psykhe_cli.errors import UsageError
from psykhe_cli.printable import clipped

#: ingestion status numbers of the API and the names psykhe shows; any other number is "unknown"
STATUS_NAMES: Mapping[int, str] = {
    1: "unknown",
    2: "created",
    3: "started",
    4: "completed",
    5: "failed",
}
STATUS_COMPLETED = 4
STATUS_FAILED = 5


@dataclass(frozen=True, kw_only=True)
class Ingestion:
    """One ingestion as ``GET /v1/ingestion/{id}`` describes it; absent fields are ``None``."""

    id: int
    client_id: str | None
    #: the processing mode, from ``trigger_source.mode``
    mode: str | None
    #: the API's number; 1 (UNKNOWN) when the answer had none
    status: int
    #: undocumented shape: whatever keys the server sent, or ``None``
    product_metrics: dict[str, Any] | None
    file_identifier: str | None
    created_at: str | None
    updated_at: str | None
    #: the whole ``data`` object, unknown fields included
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def status_name(self) -> str:
        """unknown, created, started, completed or failed (any other number: unknown)."""
        return STATUS_NAMES.get(self.status, "unknown")

    @property
    def is_terminal(self) -> bool:
        """True once the status is COMPLETED or FAILED."""
        return self.status in (STATUS_COMPLETED, STATUS_FAILED)

    @property
    def succeeded(self) -> bool:
        """True for COMPLETED only."""
        return self.status == STATUS_COMPLETED

    @property
    def failed(self) -> bool:
        """True for FAILED only."""
        return self.status == STATUS_FAILED

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, ingestion_id: int) -> Ingestion:
        """Build from a response's ``data`` object, tolerating missing and extra fields."""
        trigger = data.get("trigger_source")
        metrics = data.get("product_metrics")
        return cls(
            id=as_int(data.get("id")) or ingestion_id,
            client_id=as_str(data.get("client_id")),
            mode=as_str(trigger.get("mode")) if isinstance(trigger, Mapping) else None,
            status=as_int(data.get("status")) or 1,
            product_metrics=dict(metrics) if isinstance(metrics, Mapping) else None,
            file_identifier=as_str(data.get("file_identifier")),
            created_at=as_str(data.get("created_at")),
            updated_at=as_str(data.get("updated_at")),
            raw=dict(data),
        )


def parse_ingestion_id(text: str) -> int:
    """An ingestion id typed by a person (``477021``); ``UsageError`` (exit 2) otherwise."""
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or int(value) <= 0:
        raise UsageError(f"an ingestion id is a positive whole number, not {clipped(text, 40)!r}")
    return int(value)


def as_int(value: object) -> int | None:
    """An int from a JSON number or digit string; None otherwise (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def as_str(value: object) -> str | None:
    """The value when it is a string, else None."""
    return value if isinstance(value, str) else None
