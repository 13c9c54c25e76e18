"""A misbehaving server of a test's own on 127.0.0.1, for answers the sandbox never gives.

``StandIn(answer)`` listens on an ephemeral loopback port; for each request it reads the
request line, the headers and the whole body (``Content-Length``), records ``(method, path)``
and calls ``answer(method, path, connection)``, which writes whatever bytes it likes. Every
connection is served in its own thread; ``close()`` (or leaving the ``with`` block) stops
accepting and tells trickling answers to stop.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from types import TracebackType

Answer = Callable[[str, str, socket.socket], None]


class StandIn:
    """A loopback HTTP/1.1 server whose answers are written by the test."""

    def __init__(self, answer: Answer) -> None:
        self._answer = answer
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.requests: list[tuple[str, str]] = []
        #: set at close: trickling answers stop
        self.stopping = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> StandIn:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting connections and end trickling answers."""
        self.stopping.set()
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            try:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    head += chunk
                head, body = head.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {
                    name.strip().lower(): value.strip()
                    for name, value in (line.split(":", 1) for line in lines[1:])
                }
                length = int(headers.get("content-length", "0"))
                while len(body) < length:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    body += chunk
                self.requests.append((method, path))
                self._answer(method, path, connection)
            except OSError:  # the client went away: nothing more to answer
                return


def envelope_answer(status: str, body: bytes, *, extra: str = "") -> bytes:
    """A whole HTTP/1.1 answer: ``status`` is e.g. ``"200 OK"``; ``extra`` more header lines."""
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    ).encode("latin-1") + body
