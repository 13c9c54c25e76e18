"""What an upload reports as sent: what the server's side acknowledged, never the megabytes
that only wait in the kernel's send buffer (on a slow link they hold seconds of sending)."""

from __future__ import annotations

import socket
import sys

import pytest

from psykhe_cli.http.watchdog import reset
from psykhe_cli.meter import UploadMeter
from psykhe_cli.spool import StreamAborted
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


def test_no_connection_counts_what_was_handed() -> None:
    meter = UploadMeter()
    meter.took(1234)
    assert meter.delivered() == 1234


def test_a_closed_connection_keeps_the_last_figure_it_told_until_the_server_answers() -> None:
    # a closed socket no longer tells: what it had handed is not what arrived
    sender, receiver = _pair()
    with receiver:
        meter = UploadMeter()
        meter.follow(sender)
        meter.took(_fill(sender))
        told = meter.delivered()
        assert 0 < told < meter.handed
        sender.close()
        assert meter.delivered() == told
        meter.answered()  # the server answered: it had the whole body
        assert meter.delivered() == meter.handed


def test_stop_resets_and_keeps_what_was_acknowledged_before() -> None:
    sender, receiver = _pair()
    with sender, receiver:
        meter = UploadMeter()
        meter.follow(sender)
        meter.took(_fill(sender))
        meter.on_stop(lambda: reset(sender))
        told = meter.delivered()
        meter.stop()
        assert meter.stopped
        kept = meter.delivered()
        assert 0 < told <= kept < meter.handed  # not what the reset socket says (0 waiting)
        read = 0
        with pytest.raises(ConnectionResetError):
            while data := receiver.recv(1 << 20):
                read += len(data)
        assert kept <= read < meter.handed  # what it said arrived; the rest never did
        assert meter.delivered() == kept
        with pytest.raises(StreamAborted):
            meter.begin_attempt()
