"""The state of one sandbox, apart from the app that serves it (``app.py``) and its routes
(``api.py``, ``app.py``), which all read it."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping
from pathlib import Path

from psykhe_cli.sandbox.connections import ConnectionRegistry
from psykhe_cli.sandbox.faults import FaultBook, parse_faults
from psykhe_cli.sandbox.requestlog import RequestLog
from psykhe_cli.sandbox.settings import DEFAULT_CLIENT_ID, SandboxSettings, generate_key
from psykhe_cli.sandbox.store import Store
from psykhe_cli.sandbox.worker import Worker


class SandboxState:
    """The state of one sandbox: keys, faults, store, worker, request log, connections;
    ``close()`` when done."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        #: accepted key -> client id; a generated key when none was given
        self.keys: Mapping[str, str] = dict(settings.keys) or {generate_key(): DEFAULT_CLIENT_ID}
        self.key_generated = not settings.keys
        self.faults = FaultBook()
        for document in settings.faults:
            self.faults.add(parse_faults(document))
        self._tmp = (
            tempfile.TemporaryDirectory(prefix="psykhe-sandbox-")
            if settings.db_path is None
            else None
        )
        if self._tmp is not None:
            db_path, spool_dir = Path(self._tmp.name) / "sandbox.db", Path(self._tmp.name) / "spool"
        else:
            assert settings.db_path is not None
            db_path, spool_dir = (
                settings.db_path,
                settings.db_path.with_name(settings.db_path.name + ".spool"),
            )
        self.store = Store(db_path, spool_dir)
        self.worker = Worker(self.store, settings.processing_delay)
        self.log = RequestLog()
        self.connections = ConnectionRegistry()

    @property
    def api_key(self) -> str:
        """The first accepted key (the generated one when none was given)."""
        return next(iter(self.keys))

    @property
    def client_id(self) -> str:
        """The client of ``api_key``."""
        return self.keys[self.api_key]

    async def reset(self) -> None:
        """Forget ingestions, products, requests and faults."""
        self.faults.clear()
        self.log.clear()
        self.worker.clear()
        await asyncio.to_thread(self.store.reset)

    def close(self) -> None:
        """Leave the database consistent; remove it if it was temporary."""
        self.store.close()
        if self._tmp is not None:
            self._tmp.cleanup()
