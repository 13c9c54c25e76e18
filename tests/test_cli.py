"""The CLI shell: version, help, usage errors, and the commands through Typer's runner."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from psykhe_cli import __version__
from psykhe_cli.cli import app, run
from psykhe_cli.errors import ConfigError

CATALOG = Path(__file__).resolve().parent.parent / "examples" / "catalog.jsonl"


def test_run_version_prints_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert capsys.readouterr().out == f"psykhe {__version__}\n"


def test_module_entry_point_prints_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "psykhe_cli", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert out.stdout == f"psykhe {__version__}\n"


def test_run_unknown_option_is_usage_error() -> None:
    assert run(["--no-such-option"]) == 2


def test_typer_runner_validate_example_catalog() -> None:
    result = CliRunner().invoke(app, ["validate", str(CATALOG), "--json"])
    assert result.exit_code == 0, result.output
    assert '"ok":true' in result.stdout
    assert '"errors":0' in result.stdout


def test_typer_runner_push_without_key_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PSYKHE_API_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["push", str(CATALOG)])
    # Typer's runner hands the error over as it is; cli.run turns it into exit 4
    assert isinstance(result.exception, ConfigError)
    assert run(["push", str(CATALOG)]) == 4


def test_importing_psykhe_patches_no_other_library() -> None:
    # a program that imports psykhe as a library must find httpx (and every module) intact
    code = (
        "import sys; before = dict(sys.modules); import psykhe_cli.cli, psykhe_cli.push.run; "
        "print(sorted(k for k, v in sys.modules.items() if v is None and k not in before))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "[]\n"
