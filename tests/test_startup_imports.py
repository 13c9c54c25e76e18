"""What a command loads before it can start: the libraries it does not need stay unloaded.

Start-up is paid by every command (``bench/bench_startup.py``): httpx (~0.1 s, with httpcore
more), numpy (~0.07 s) and pydantic (typer's value coercion, ~0.07 s) are each a large part
of it, so what never sends a request or checks a feed must not load them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import catalog, isolated_env, write_feed

#: the psykhe command line, run in-process; prints the modules loaded once it ended
_LOADED = """
import json, sys
from psykhe_cli.cli import run
code = run(sys.argv[1:])
sys.stdout.flush()
sys.stderr.write("\\nLOADED " + json.dumps(sorted(sys.modules)) + "\\n")
sys.exit(code)
"""


def loaded_by(args: list[str], tmp_path: Path) -> tuple[int, set[str]]:
    """The exit code of ``psykhe ARGS`` and the top-level packages it had loaded."""
    env = isolated_env(tmp_path / "home")
    out = subprocess.run(
        [sys.executable, "-c", _LOADED, *args], env=env, capture_output=True, text=True
    )
    modules = json.loads(out.stderr.rpartition("\nLOADED ")[2])
    return out.returncode, {name.partition(".")[0] for name in modules}


@pytest.mark.parametrize("args", [["--help"], ["--version"]], ids=" ".join)
def test_help_and_version_load_no_http_client_numpy_or_pydantic(
    args: list[str], tmp_path: Path
) -> None:
    code, loaded = loaded_by(args, tmp_path)
    assert code == 0
    assert not loaded & {"httpx", "httpcore", "numpy", "pydantic", "msgspec"}, loaded


@pytest.mark.parametrize(
    "args",
    [["push", "--help"], ["status", "--help"], ["validate", "--help"], ["restore", "--help"]],
    ids=" ".join,
)
def test_a_commands_help_loads_no_http_client_or_numpy(args: list[str], tmp_path: Path) -> None:
    """(typer 0.29 coerces the group's unused --help through pydantic: every command loads it.)"""
    code, loaded = loaded_by(args, tmp_path)
    assert code == 0
    assert not loaded & {"httpx", "httpcore", "numpy", "msgspec"}, loaded


def test_validate_loads_no_http_client(tmp_path: Path) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    code, loaded = loaded_by(["validate", "-q", str(feed)], tmp_path)
    assert code == 0
    assert not loaded & {"httpx", "httpcore"}, loaded
