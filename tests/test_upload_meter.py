"""What an upload reports as sent: what the server's side acknowledged, never the megabytes
that only wait in the kernel's send buffer (on a slow link they hold seconds of sending)."""

from __future__ import annotations

import socket
import sys

import pytest

from psykhe_cli.meter import UploadMeter
from tests.helpers import wait_until

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the kernel's count is read on Linux"
)

#: the receiver's buffer: what it can acknowledge without its application reading
RECEIVE_BUFFER = 64 * 1024


def _pair() -> tuple[socket.socket, socket.socket]:
    """A loopback TCP connection whose receiving end has a small buffer and never reads."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        sender = socket.socket()
        # a fixed send buffer (no autotuning), larger than what the receiver can take
        sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1024 * 1024)
        sender.connect(listener.getsockname())
        receiver, _ = listener.accept()
    return sender, receiver


def _fill(sender: socket.socket) -> int:
    """Write until the kernel takes no more; the bytes it took."""
    sender.setblocking(False)
    handed, chunk = 0, b"x" * 65536
    while True:
        try:
            handed += sender.send(chunk)
        except BlockingIOError:
            return handed


def test_delivered_counts_what_the_peer_acknowledged_not_what_was_handed() -> None:
    sender, receiver = _pair()
    with sender, receiver:
        meter = UploadMeter()
        meter.follow(sender)
        meter.handed = _fill(sender)
        # the receiver holds at most its buffer (the kernel doubles what is asked for)
        capacity = receiver.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        assert meter.handed > 2 * capacity
        assert 0 < meter.delivered() <= capacity
        # once the peer reads everything, all of it was delivered
        receiver.setblocking(False)
        got = 0

        def drained() -> bool:
            nonlocal got
            try:
                while data := receiver.recv(1 << 20):
                    got += len(data)
            except BlockingIOError:
                pass
            return meter.delivered() == meter.handed == got

        wait_until(drained)


def test_a_closed_connection_and_no_connection_count_what_was_handed() -> None:
    meter = UploadMeter()
    meter.handed = 1234
    assert meter.delivered() == 1234
    sender, receiver = _pair()
    receiver.close()
    meter.follow(sender)
    sender.close()
    assert meter.delivered() == 1234
