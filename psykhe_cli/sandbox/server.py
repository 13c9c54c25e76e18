"""Serving a sandbox with uvicorn: in the foreground (``psykhe sandbox``) or in a thread.

The socket is bound before uvicorn starts, so the real port (``--port 0``: any free one) is
known at once. Connections go through a uvicorn protocol that registers its transport, so a
fault can reset a connection (``connections.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from psykhe_cli import threads
from psykhe_cli.sandbox.app import Sandbox
from psykhe_cli.sandbox.connections import ConnectionRegistry
from psykhe_cli.sandbox.settings import SandboxSettings

#: seconds running requests get to finish at shutdown before their connections are reset
GRACEFUL_SHUTDOWN = 3


def protocol_class(registry: ConnectionRegistry) -> type[H11Protocol]:
    """The h11 protocol, registering each connection's transport in ``registry``."""

    class RegisteringH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            registry.add(self.client, transport)

        def connection_lost(self, exc: Exception | None) -> None:
            registry.discard(self.client)
            super().connection_lost(exc)

    return RegisteringH11Protocol


class _Server(uvicorn.Server):
    """uvicorn's server; SIGINT/SIGTERM stop it cleanly and are not re-raised afterwards."""

    def __init__(
        self, config: uvicorn.Config, registry: ConnectionRegistry, *, signals: bool
    ) -> None:
        super().__init__(config)
        self._registry = registry
        self._signals = signals

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if not self._signals or threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        # uploads still running past the grace period: reset them, leave no open transport
        for peer in self._registry.peers():
            self._registry.abort(peer)
        await asyncio.sleep(0)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 picks a free one."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def base_url_of(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(sandbox: Sandbox, *, signals: bool) -> _Server:
    config = uvicorn.Config(
        sandbox.app,
        http=protocol_class(sandbox.connections),
        ws="none",
        lifespan="on",
        log_config=None,
        access_log=False,  # our own access line shows no query string and no header
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
    )
    return _Server(config, sandbox.connections, signals=signals)


def configure_logging(*, quiet: bool = False) -> None:
    """Sandbox and uvicorn logs: one line each, on stderr (stdout is for the export lines);
    ``quiet``: warnings and errors only."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("psykhe sandbox: %(message)s"))
    for name in ("psykhe.sandbox", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING if quiet else logging.INFO)
        logger.propagate = False


def serve_foreground(settings: SandboxSettings, announce: Callable[[Sandbox, str], None]) -> None:
    """Serve until SIGINT/SIGTERM; ``announce(sandbox, base_url)`` once listening."""
    sandbox = Sandbox(settings)
    try:
        sock = bind(settings.host, settings.port)
        with sock:
            announce(sandbox, base_url_of(sock))
            _server(sandbox, signals=True).run(sockets=[sock])
    finally:
        sandbox.close()


class SandboxServer:
    """A sandbox served in a background thread; ``start()``/``stop()`` or ``with``."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.sandbox: Sandbox | None = None
        self.base_url = ""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._failure: BaseException | None = None

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_key(self) -> str:
        """The first accepted key."""
        assert self.sandbox is not None
        return self.sandbox.api_key

    @property
    def client_id(self) -> str:
        """The client of ``api_key``."""
        assert self.sandbox is not None
        return self.sandbox.client_id

    def start(self, timeout: float = 15.0) -> None:
        """Bind, serve in a thread, and return once the server accepts requests."""
        self.sandbox = Sandbox(self.settings)
        self._sock = bind(self.settings.host, self.settings.port)
        self.base_url = base_url_of(self._sock)
        self._server = _server(self.sandbox, signals=False)
        self._thread = threading.Thread(target=self._run, name="psykhe-sandbox", daemon=True)
        threads.start(self._thread)
        deadline = time.monotonic() + timeout
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._server.started:
            self.stop()
            raise RuntimeError(f"the sandbox did not start: {self._failure!r}")

    def _run(self) -> None:
        assert self._server is not None and self._sock is not None
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # reported by start()
            self._failure = exc

    def stop(self) -> None:
        """Stop serving, wait for the thread, close the database."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join()
        if self._sock is not None:
            self._sock.close()
        if self.sandbox is not None:
            self.sandbox.close()
        self._server = self._thread = self._sock = None
        self.sandbox = None

    def info(self) -> dict[str, Any]:
        """base_url, api_key and client_id."""
        return {"base_url": self.base_url, "api_key": self.api_key, "client_id": self.client_id}
