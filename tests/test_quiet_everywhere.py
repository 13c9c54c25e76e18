"""``-q`` on every command the README names: the sandbox's quiet is errors and warnings only;
completion and sandbox exec accept it (they print nothing else already)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import isolated_env, psykhe
from tests.test_sandbox_api import line, post
from tests.test_sandbox_cli import foreground, stop


def test_sandbox_q_prints_the_export_lines_and_nothing_on_stderr() -> None:
    with foreground("-q", "--processing-delay", "0.01") as (process, exported):
        handle = SandboxHandle(exported["PSYKHE_BASE_URL"], exported["PSYKHE_API_KEY"])
        assert post(handle, line("A")).status_code == 202
        assert handle.wait_for(1)["status"] == 4
        code, out, err = stop(process, signal.SIGTERM)
    assert (code, out, err) == (0, "", "")


def test_completion_q_prints_the_same_script(tmp_path: Path) -> None:
    env = isolated_env(tmp_path / "home")
    plain = psykhe("completion", "bash", env=env)
    quiet = psykhe("completion", "-q", "bash", env=env)
    assert (quiet.returncode, quiet.stderr) == (0, "")
    assert quiet.stdout == plain.stdout and "_psykhe" in quiet.stdout


def test_sandbox_exec_q_runs_the_command() -> None:
    import subprocess

    from tests.helpers import PSYKHE

    result = subprocess.run(
        [*PSYKHE, "sandbox", "exec", "-q", "--", sys.executable, "-c", "print('ran')"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "ran\n", "")
