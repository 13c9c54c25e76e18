"""--quiet on every command, NO_COLOR and FORCE_COLOR: the real CLI as a subprocess (pipes)."""

from __future__ import annotations

from pathlib import Path

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import FAST, catalog, product, psykhe, wrapped, write_feed


def _warned_and_broken(tmp_path: Path) -> tuple[Path, Path]:
    warned = tmp_path / "warned.jsonl"
    untitled = {k: v for k, v in product("W1").items() if k != "title"}  # a warning
    warned.write_bytes(wrapped(untitled) + wrapped(product("W2")))
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(warned.read_bytes() + b"not json\n")
    return warned, broken


def test_validate_quiet_prints_errors_only(tmp_path: Path, env: dict[str, str]) -> None:
    warned, broken = _warned_and_broken(tmp_path)
    loud = psykhe("validate", str(warned), env=env)
    assert "warning[" in loud.stderr and "result: ok" in loud.stdout
    quiet = psykhe("validate", "-q", str(warned), env=env)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    failed = psykhe("validate", "--quiet", str(broken), env=env)
    assert failed.returncode == 3
    assert failed.stdout == ""
    (line,) = failed.stderr.splitlines()
    assert line.startswith(f"{broken}:3: error[invalid_json]: ")
    # --strict makes warnings errors, so -q shows them as errors
    strict = psykhe("validate", "-q", "--strict", str(warned), env=env)
    assert strict.returncode == 3 and "error[missing_title]" in strict.stderr


def test_push_quiet_prints_nothing_on_success(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    out = psykhe("push", "-q", str(feed), *FAST, env=env)
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    assert len(sandbox.ingestions()) == 1


def test_status_quiet_prints_nothing_and_exits_with_the_outcome(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    assert psykhe("push", str(feed), *FAST, env=env).returncode == 0
    out = psykhe("status", "--last", "-q", env=env)
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    watched = psykhe("status", "1", "--watch", "--quiet", *FAST, env=env)
    assert (watched.returncode, watched.stdout, watched.stderr) == (0, "", "")
    missing = psykhe("status", "99", "-q", env=env)
    assert missing.returncode == 6 and missing.stderr.startswith("psykhe: error: ")


def test_force_color_colours_the_plain_summary_and_keeps_its_lines(
    tmp_path: Path, env: dict[str, str]
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    plain = psykhe("validate", str(feed), env=env)
    assert "\x1b[" not in plain.stdout
    forced = psykhe("validate", str(feed), env=env | {"FORCE_COLOR": "1"})
    assert forced.returncode == 0
    assert "result: \x1b[1;32mok\x1b[0m\n" in forced.stdout
    assert forced.stdout.replace("\x1b[1;32m", "").replace("\x1b[0m", "") == plain.stdout
    both = psykhe("validate", str(feed), env=env | {"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert both.stdout == plain.stdout
