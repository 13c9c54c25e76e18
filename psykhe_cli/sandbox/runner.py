"""``psykhe sandbox exec``: run one command against a throwaway sandbox.

The sandbox serves in a thread of this process; the command runs as a child with
``PSYKHE_BASE_URL`` and ``PSYKHE_API_KEY`` set, and its exit code becomes ours.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from psykhe_cli.sandbox.server import SandboxServer
from psykhe_cli.sandbox.settings import SandboxSettings

#: the shell's codes for "command not found" and "found but not executable"
NOT_FOUND, NOT_EXECUTABLE = 127, 126


def _terminal_sends_sigint_to_child() -> bool:
    # Ctrl-C at a terminal reaches the whole foreground process group, the child included:
    # forwarding it too would deliver it twice.
    if not hasattr(os, "tcgetpgrp"):  # Windows: a console's Ctrl-C reaches every process on it
        return True
    try:
        return os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


@contextmanager
def _forwarding_signals(child: subprocess.Popen[bytes]) -> Iterator[None]:
    def forward(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and _terminal_sends_sigint_to_child():
            return
        if child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def exit_code_of(returncode: int) -> int:
    """A child's return code as a shell reports it (killed by signal N → 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


def run_with_sandbox(settings: SandboxSettings, command: list[str]) -> int:
    """Serve a sandbox, run ``command`` against it, stop it; the command's exit code."""
    with SandboxServer(settings) as server:
        env = {**os.environ, "PSYKHE_BASE_URL": server.base_url, "PSYKHE_API_KEY": server.api_key}
        try:
            child = subprocess.Popen(command, env=env)
        except FileNotFoundError:
            sys.stderr.write(f"psykhe: error: command not found: {command[0]}\n")
            return NOT_FOUND
        except PermissionError:
            sys.stderr.write(f"psykhe: error: permission denied: {command[0]}\n")
            return NOT_EXECUTABLE
        with _forwarding_signals(child):
            returncode = child.wait()
    return exit_code_of(returncode)
