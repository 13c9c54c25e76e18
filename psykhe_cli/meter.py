"""How far an upload has gone, read from the kernel, and a way to stop it from another thread.

Kept apart from the HTTP client, which imports httpx (~0.15 s): a push makes its meter before
the feed's workers start, and the import must not delay them.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable

from psykhe_cli.spool import StreamAborted


class UploadMeter:
    """How far an upload has gone and a way to stop it, for another thread (a display, the
    compression pacer, Ctrl-C).

    ``handed``: bytes of the current attempt's body the transport took; some may still wait in
    the kernel's send buffer, which holds megabytes on a slow link. ``delivered()``: of those,
    the ones the server's side acknowledged, as far as the OS tells (Linux, macOS; elsewhere
    all that were handed; once the connection is closed, the last figure it told, or all
    that were handed if the server answered). ``whole``: the body's end was handed over too.
    ``stop()`` calls the cuts the transport registered (``on_stop``: the HTTP client's reset
    the connection, so what still waits in the send buffer is dropped, never sent) and ends
    the upload (``StreamAborted``) instead of retrying or waiting to retry; from then on
    ``delivered()`` is what the server's side had acknowledged just before (a reset socket
    no longer tells, and what it had handed is not what arrived).
    """

    def __init__(self) -> None:
        self.handed = 0
        self.whole = False
        #: attempts begun so far (1 for the first)
        self.attempts = 0
        #: when the attempt in progress handed its first bytes over (``time.monotonic``)
        self.began: float | None = None
        self._socket: socket.socket | None = None
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._cuts: list[Callable[[], None]] = []
        #: ``delivered()`` kept just before the connection was reset
        self._frozen: int | None = None
        #: ``delivered()`` when the socket last told it
        self._last = 0
        #: the server began its answer to this attempt
        self._answered = False

    def delivered(self) -> int:
        """Bytes of this attempt's body the server's side acknowledged (a close lower bound)."""
        frozen = self._frozen
        if frozen is not None:
            return frozen
        handed, sock = self.handed, self._socket
        if sock is None:
            return handed
        waiting = _unacknowledged(sock)
        if waiting is None:
            # closed, so it no longer tells (closed by whoever ended the run, perhaps): the
            # last figure it told, unless the server answered (then it had it all)
            return handed if self._answered else self._last
        self._last = max(handed - waiting, 0)
        return self._last

    @property
    def stopped(self) -> bool:
        """``stop()`` was called."""
        return self._stopped.is_set()

    def stop(self) -> None:
        """End the upload: cut its connection (the client resets it); a retry, or a wait to
        retry, raises."""
        self.freeze()
        with self._lock:
            self._stopped.set()
            cuts, self._cuts = self._cuts, []
        for cut in cuts:
            cut()

    # -- the transport's side (``IngestionClient``) -------------------------------------------
    def begin_attempt(self) -> None:
        """A new attempt at sending the body starts (``StreamAborted`` once stopped)."""
        if self.stopped:
            raise StreamAborted("the upload was stopped")
        with self._lock:
            self.handed, self.whole, self._socket, self._frozen = 0, False, None, None
            self._last, self._answered = 0, False
        self.attempts += 1
        self.began = None

    def follow(self, sock: socket.socket) -> None:
        """Ask ``sock`` (the attempt's connection) what it has delivered."""
        self._socket = sock

    def took(self, handed: int) -> None:
        """The transport took ``handed`` bytes of this attempt's body so far (the socket is
        asked at once what it delivered, so the figure stays known after it is closed)."""
        if self.began is None:
            self.began = time.monotonic()
        self.handed = handed
        self.delivered()

    def answered(self) -> None:
        """The server began its answer to this attempt."""
        self._answered = True

    def freeze(self) -> None:
        """The connection is about to be reset: keep what it delivered until now as
        ``delivered()`` for the rest of this attempt (the first call counts)."""
        with self._lock:
            if self._frozen is None:
                self._frozen = self.delivered()

    def on_stop(self, cut: Callable[[], None]) -> None:
        """Call ``cut()`` when (or at once, if) the upload is stopped."""
        with self._lock:
            if not self._stopped.is_set():
                self._cuts.append(cut)
                return
        cut()

    def pause(self, seconds: float) -> None:
        """Wait before a retry; ``StreamAborted`` as soon as the upload is stopped."""
        if self._stopped.wait(seconds):
            raise StreamAborted("the upload was stopped")


def _unacknowledged(sock: socket.socket) -> int | None:
    """Bytes written to ``sock`` that its peer has not acknowledged yet; 0 where the OS does
    not tell, None once the socket is closed."""
    fd = sock.fileno()
    if fd < 0:
        return None
    try:
        if sys.platform.startswith("linux"):
            import fcntl
            import termios

            # SIOCOUTQ (= TIOCOUTQ) on a TCP socket: written less acknowledged
            answer = fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0")
            return max(int.from_bytes(answer, sys.byteorder, signed=True), 0)
        if sys.platform == "darwin":
            return max(sock.getsockopt(socket.SOL_SOCKET, _SO_NWRITE), 0)
    except OSError:
        pass
    return 0


#: macOS's getsockopt for the bytes in a socket's send buffer (not yet acknowledged)
_SO_NWRITE = 0x1024
