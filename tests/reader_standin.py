"""A loopback server of a test's own that reads request bodies as a slow or picky server does.

``Reader(rate=…)`` listens on an ephemeral port and serves each connection in a thread: it
reads the head, then the body (chunked or with a Content-Length) at ``rate`` bytes a second
through a 64 KiB receive buffer,
and records every request as a ``Seen``: how many bytes of its body it read, whether the
request was complete, and how the connection ended (``ended`` is set then: an end of stream,
a reset). A complete ``POST /v1/ingestion/`` is answered 202 with an ingestion id, a
``GET`` with a COMPLETED status. ``refuse_chunked=411`` answers a chunked POST with that
status as soon as its head is read; ``drop_after=N`` resets the connection of a chunked
POST once N bytes of its body were read.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType


@dataclass
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    #: bytes of the body read (chunk payloads only, for a chunked body)
    body_read: int = 0
    complete: bool = False
    answered: int | None = None
    #: how the connection ended: "eof", "reset", or "closed" (by the server)
    how: str | None = None
    ended: threading.Event = field(default_factory=threading.Event)

    @property
    def chunked(self) -> bool:
        return self.headers.get("transfer-encoding", "").lower() == "chunked"


class _Gone(Exception):
    """The client ended the connection."""

    def __init__(self, how: str) -> None:
        super().__init__(how)
        self.how = how


class Reader:
    """The server; ``seen`` lists the requests in the order they began."""

    def __init__(
        self,
        *,
        rate: float | None = None,
        refuse_chunked: int | None = None,
        drop_after: int | None = None,
    ) -> None:
        self._rate = rate
        self._refuse_chunked = refuse_chunked
        self._drop_after = drop_after
        self._server = socket.socket()
        # a modest receive window, as over a real link: what the server's side acknowledged
        # stays close to what it read, and the rest of a big body waits in the client's buffer
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen()
        self.base_url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self.seen: list[Seen] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> Reader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.close()

    def posts(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST"]

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        stream = _Stream(connection, self._rate)
        seen: Seen | None = None
        try:
            head = stream.until(b"\r\n\r\n").decode("latin-1").split("\r\n")
            method, path, _ = head[0].split(" ", 2)
            headers = {
                name.strip().lower(): value.strip()
                for name, value in (line.split(":", 1) for line in head[1:] if line)
            }
            seen = Seen(method, path, headers)
            self.seen.append(seen)
            if method == "POST" and seen.chunked and self._refuse_chunked is not None:
                self._answer(connection, seen, self._refuse_chunked, {})
                seen.how = "closed"
                return
            self._read_body(stream, seen, connection)
            seen.complete = True
            if method == "POST":
                self._answer(connection, seen, 202, {"ingestion_id": 7})
            else:
                self._answer(connection, seen, 200, {"ingestion_id": 7, "status": 2})
            seen.how = "closed"
        except _Gone as gone:
            if seen is not None:
                seen.how = gone.how
        finally:
            if seen is not None:
                seen.ended.set()
            connection.close()

    def _read_body(self, stream: _Stream, seen: Seen, connection: socket.socket) -> None:
        drop = self._drop_after if seen.chunked else None
        if not seen.chunked:
            left = int(seen.headers.get("content-length", "0"))
            while left:
                left -= len(stream.read(min(left, 4096), seen))
            return
        while True:
            size = int(stream.until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                stream.until(b"\r\n")  # the end of the (empty) trailer section
                return
            while size:
                size -= len(stream.read(min(size, 4096), seen))
                if drop is not None and seen.body_read >= drop:
                    linger = struct.pack("ii", 1, 0)  # close with a reset
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    raise _Gone("closed")
            stream.until(b"\r\n")

    @staticmethod
    def _answer(connection: socket.socket, seen: Seen, status: int, data: dict[str, int]) -> None:
        body = json.dumps({"errors": None, "meta": None, "data": data or None}).encode()
        head = (
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        try:
            connection.sendall(head.encode("latin-1") + body)
        except OSError:
            return
        seen.answered = status


class _Stream:
    """Buffered reads from a connection, paced to ``rate`` bytes a second."""

    def __init__(self, connection: socket.socket, rate: float | None) -> None:
        self._connection = connection
        self._rate = rate
        self._buffer = b""

    def _fill(self) -> None:
        try:
            chunk = self._connection.recv(4096)
        except OSError:  # a reset
            raise _Gone("reset") from None
        if not chunk:
            raise _Gone("eof")
        if self._rate is not None:
            time.sleep(len(chunk) / self._rate)  # the pace of a slow server, not a wait
        self._buffer += chunk

    def until(self, mark: bytes) -> bytes:
        while mark not in self._buffer:
            self._fill()
        line, self._buffer = self._buffer.split(mark, 1)
        return line

    def read(self, most: int, seen: Seen) -> bytes:
        if not self._buffer:
            self._fill()
        data, self._buffer = self._buffer[:most], self._buffer[most:]
        seen.body_read += len(data)
        return data
