"""Ending one request from another thread: at its deadline, or at once when it is abandoned.

httpx's timeouts bound each socket operation, not a whole answer: a server sending a byte
every half second never trips them. ``Watchdog`` learns the request's connection from
httpcore's ``trace`` extension and, at the deadline, shuts it down (``shut_down``): the
reading thread wakes with an end of stream. An abandoned upload (``Watchdog.cut``) is
*reset* instead (``reset``): a graceful shutdown would send what still waits in the kernel's
send buffer — megabytes on a slow link — and then the end of the body, so the server could
get the whole request after psykhe gave it up.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx


class AnswerDeadline(httpx.ReadTimeout):
    """The answer did not arrive in full in time, however steadily its bytes trickled."""

    def __init__(self, limit: str, *, request: httpx.Request) -> None:
        super().__init__(f"no complete answer came within {limit}", request=request)
        #: which limit passed, for messages: "the read timeout (3 s)"
        self.limit = limit


class Watchdog:
    """Ends one request at its deadline, however slowly the server sends its answer.

    Arms itself once the request is sent (the answer must then be complete within
    ``answer_within`` seconds) or earlier (``arm``); ``cut`` ends the request at once.
    ``abortive``: until the answer begins, closing the connection resets it — also when the
    process exits on a signal with the upload in flight, and no thread got to ``cut`` it.
    """

    def __init__(
        self,
        *,
        answer_within: float | None,
        on_body_sent: Callable[[], None] | None = None,
        on_socket: Callable[[socket.socket], None] | None = None,
        on_answer: Callable[[], None] | None = None,
        abortive: bool = False,
    ) -> None:
        self._answer_within = answer_within
        self._on_answer = on_answer
        self._abortive = abortive
        self._on_body_sent = on_body_sent
        self._on_socket = on_socket
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer: threading.Timer | None = None
        self._deadline = math.inf
        self._reason = ""
        self._active = True
        #: the request was abandoned: its connections are reset, not shut down
        self._abandoned = False
        #: the limit that passed, once the watchdog has ended the request
        self.fired: str | None = None

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpcore's ``trace`` callback: note new connections, arm once the request is sent."""
        if event.endswith((".connect_tcp.complete", ".start_tls.complete")):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                if self._abortive:
                    _linger_zero(sock, True)
                with self._lock:
                    self._sockets.append(sock)
                    if self.fired is not None:  # the time was up before it connected
                        self._end(sock)
                if self._on_socket is not None:
                    self._on_socket(sock)
        elif event.endswith(".receive_response_headers.complete"):
            if self._on_answer is not None:
                self._on_answer()
            if self._abortive:
                # answered: the request's fate is sealed, its connection may end gracefully
                with self._lock:
                    sockets = [] if self._abandoned else list(self._sockets)
                for sock in sockets:
                    _linger_zero(sock, False)
        elif event.endswith(".send_request_body.complete"):
            # the whole body, its end included (a chunked body's final chunk), was written
            if self._on_body_sent is not None:
                self._on_body_sent()
            if self._answer_within is not None:
                self.arm(self._answer_within, f"the read timeout ({self._answer_within:g} s)")

    def arm(self, seconds: float, reason: str) -> None:
        """End the request ``seconds`` from now, unless an earlier deadline is set."""
        at = time.monotonic() + max(0.0, seconds)
        with self._lock:
            if not self._active or at >= self._deadline:
                return
            self._deadline, self._reason = at, reason
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(max(0.0, seconds), self._fire)
            self._timer.daemon = True
            self._timer.start()

    def cut(self) -> None:
        """End the request now (its body was abandoned): reset its connection, so nothing
        more of the body reaches the server, and the request never completes."""
        with self._lock:
            self._reason = "the upload was abandoned"
            self._abandoned = True
        self._fire()

    def stop(self) -> None:
        """The request is over: never touch its connection again."""
        with self._lock:
            self._active = False
            if self._timer is not None:
                self._timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            if not self._active:
                return
            self.fired = self._reason
            for sock in self._sockets:
                self._end(sock)

    def _end(self, sock: socket.socket) -> None:
        (reset if self._abandoned else shut_down)(sock)


def shut_down(sock: socket.socket) -> None:
    """Shut a connection down from another thread: its reader sees the end of the stream.

    Through a duplicate descriptor, because ``SSLSocket.shutdown`` would also drop the TLS
    state that the reading thread is using; a closed socket (``fileno() == -1``) is left be.
    """
    fd = sock.fileno()
    if fd < 0:
        return
    try:
        with socket.socket(fileno=os.dup(fd)) as twin:
            twin.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def reset(sock: socket.socket) -> None:
    """Abort a connection from another thread, even one blocked sending: the peer gets a
    reset, and what still waits in the send buffer is dropped, never sent.

    A linger time of 0 makes the socket's close a reset; on Linux ``connect(AF_UNSPEC)``
    (the kernel's ``tcp_disconnect``) resets it at once and wakes the blocked thread. Where
    that is not available, a shutdown wakes the thread, whose close then resets (whatever it
    did, the process's exit closes the socket the same way).
    """
    fd = sock.fileno()
    if fd < 0:
        return
    try:
        with socket.socket(fileno=os.dup(fd)) as twin:
            _linger_zero(twin, True)
            if not _disconnect(twin.fileno()):
                twin.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _linger_zero(sock: socket.socket, on: bool) -> None:
    """With ``on``, closing ``sock`` resets it and drops what its send buffer still holds."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", int(on), 0))


def _disconnect(fd: int) -> bool:
    """``connect(fd, AF_UNSPEC)`` — Python's ``socket.connect`` cannot name that family."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    unspecified = (ctypes.c_ubyte * 16)()  # a sockaddr whose family is 0: AF_UNSPEC
    return bool(libc.connect(fd, unspecified, len(unspecified)) == 0)
