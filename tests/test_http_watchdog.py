"""Ending a connection from another thread while the uploading thread is blocked sending:
``reset`` drops what the kernel still holds (a shutdown would let it be sent, then end the
stream gracefully: tests/test_reliability_interrupted_upload.py shows the difference)."""

from __future__ import annotations

import socket
import sys
import threading

import pytest

from psykhe_cli.http.watchdog import reset

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith(("linux", "darwin")), reason="POSIX sockets"
)

BODY = b"x" * (8 << 20)  # more than the two kernels' buffers hold together


def _blocked_sender() -> tuple[socket.socket, socket.socket, threading.Thread, list[BaseException]]:
    """A connection whose receiver (small buffer) does not read, and a thread blocked
    sending ``BODY`` into it."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        sender = socket.create_connection(listener.getsockname())
        receiver, _ = listener.accept()
    failed: list[BaseException] = []

    def send() -> None:
        try:
            sender.sendall(BODY)
        except OSError as exc:
            failed.append(exc)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return sender, receiver, thread, failed


def _read_all(receiver: socket.socket) -> tuple[int, str]:
    read = 0
    try:
        while data := receiver.recv(1 << 20):
            read += len(data)
    except ConnectionResetError:
        return read, "reset"
    return read, "eof"


def test_reset_from_another_thread_wakes_the_sender_and_never_delivers_the_rest() -> None:
    sender, receiver, thread, failed = _blocked_sender()
    with sender, receiver:
        reset(sender)
        thread.join(30)
        assert not thread.is_alive() and failed  # the blocked send ended in an error
        read, how = _read_all(receiver)
    assert how == "reset"
    assert read < len(BODY)


def test_a_read_timeout_that_beats_the_watchdog_names_the_requests_own_limit() -> None:
    """httpx's own read timeout (the request's ``within``) and the watchdog end a silent
    request at the same moment; whichever wins, the words name the same limit."""
    import time

    import httpx

    from psykhe_cli.config import Secret
    from psykhe_cli.http.exchange import Exchange

    with httpx.Client(timeout=60) as http:
        exchange = Exchange(
            http, base_url="http://127.0.0.1:9", api_key=Secret("sk_test_x"), clock=time.monotonic
        )
        own = http.build_request("GET", "http://127.0.0.1:9/", timeout=httpx.Timeout(0.3))
        default = http.build_request("GET", "http://127.0.0.1:9/")
        assert (
            exchange.describe(httpx.ReadTimeout("timed out", request=own))
            == "no complete answer came within 0.3 s"
        )
        assert (
            exchange.describe(httpx.ReadTimeout("timed out", request=default))
            == "no complete answer came within the read timeout (60 s)"
        )
