"""The stop flag is a value an ``Environment`` is given, not a switch of the process."""

from __future__ import annotations

import io
import signal

import pytest

from psykhe_cli import terminal
from psykhe_cli.errors import SignalReceived
from psykhe_cli.terminal import Environment, StopFlag


def _environment(**kwargs: object) -> Environment:
    return Environment(
        stdin=io.BytesIO(),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        stdin_isatty=False,
        stdout_isatty=False,
        stderr_isatty=False,
        **kwargs,  # type: ignore[arg-type]
    )


def test_sending_raises_the_stop_signal_its_flag_holds() -> None:
    with pytest.raises(SignalReceived) as raised:
        _environment(stop=StopFlag(signal.SIGTERM)).sending()
    assert raised.value.signum == signal.SIGTERM


def test_a_signal_the_process_received_stops_only_the_environments_given_its_flag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(terminal.PROCESS_STOP, "received", signal.SIGHUP)
    _environment().sending()  # its own flag: nothing received
    with pytest.raises(SignalReceived):
        _environment(stop=terminal.PROCESS_STOP).sending()
