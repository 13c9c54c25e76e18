"""The CLI shell: version, help, and exit codes for usage errors."""

from __future__ import annotations

import subprocess
import sys

from psykhe_cli import __version__
from psykhe_cli.cli import run


def test_run_version_prints_version(capsys: object) -> None:
    assert run(["--version"]) == 0


def test_module_entry_point_prints_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "psykhe_cli", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert out.stdout == f"psykhe {__version__}\n"


def test_run_unknown_option_is_usage_error() -> None:
    assert run(["--no-such-option"]) == 2
