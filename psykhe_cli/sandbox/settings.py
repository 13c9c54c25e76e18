"""The options of one sandbox, and the API keys it accepts."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psykhe_cli.errors import UsageError

#: the client id of a ``--key`` given without ``=client-id``, and of the generated key
DEFAULT_CLIENT_ID = "sandbox"
DEFAULT_PORT = 8787


@dataclass(frozen=True, kw_only=True)
class SandboxSettings:
    """Everything one sandbox server is started with."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    #: accepted private key -> the client (tenant) it belongs to; empty: generate one
    keys: Mapping[str, str] = field(default_factory=dict)
    #: SQLite file kept across restarts; None: a temporary file removed at shutdown
    db_path: Path | None = None
    #: seconds spent in CREATED and again in STARTED
    processing_delay: float = 0.5
    #: limit on the decompressed body, in MiB (2**20 bytes)
    max_body_mb: float = 256.0
    #: fault rules installed at start-up, in the JSON shape of ``POST /_sandbox/faults``
    faults: tuple[Mapping[str, Any], ...] = ()
    #: log one line per request on stderr (method, path, status; never headers)
    access_log: bool = True

    @property
    def max_body_bytes(self) -> int:
        """The decompressed-size limit in bytes."""
        return int(self.max_body_mb * 1024 * 1024)


def generate_key() -> str:
    """A fresh private key, valid only for this sandbox run."""
    return "sk_sandbox_" + secrets.token_hex(16)


def parse_key_option(value: str) -> tuple[str, str]:
    """``sk_…`` or ``sk_…=client-id`` → (key, client_id)."""
    key, sep, client_id = value.partition("=")
    key = key.strip()
    if not key.startswith("sk_") or len(key) <= len("sk_"):
        raise UsageError(
            "--key must be a private key starting with 'sk_'",
            hint="use --key sk_…  or  --key sk_…=client-id",
        )
    if sep and not client_id.strip():
        raise UsageError(f"--key …={client_id!r}: the client id is empty")
    return key, (client_id.strip() if sep else DEFAULT_CLIENT_ID)


def keys_from_options(values: list[str]) -> dict[str, str]:
    """The key map of repeated ``--key`` options (later ones win)."""
    return dict(parse_key_option(value) for value in values)
