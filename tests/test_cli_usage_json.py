"""A usage error with ``--json`` anywhere on the command line: one JSON object on stdout, exit 2
(the README: "``--json`` … also on failure"); Click's own words stay on stderr."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.helpers import isolated_env, psykhe


def _click_error(stderr: str) -> str:
    """The message of Click's own ``Error: …`` line: its words differ between Click versions."""
    lines = [line for line in stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, stderr
    return lines[0].removeprefix("Error: ")


@pytest.mark.parametrize(
    ("args", "culprit"),
    [
        (["push", "--only-x", "--json"], "--only-x"),
        (["push", "--json", "--retries", "many", "feed.jsonl"], "'--retries'"),
        (["push", "feed.jsonl", "--json", "--mode"], "'--mode' requires an argument"),
        (["validate", "--json", "--max-problems", "-5", "feed.jsonl"], "'--max-problems'"),
        (["validate", "--only-x", "feed.jsonl", "--json"], "--only-x"),
        (["status", "--json", "--timeout", "soon", "--last"], "'--timeout'"),
        (["status", "--last", "--json", "--only-x"], "--only-x"),
    ],
)
def test_a_usage_error_with_json_prints_one_object(
    tmp_path: Path, args: list[str], culprit: str
) -> None:
    out = psykhe(*args, env=isolated_env(tmp_path / "home"), cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert out.stdout.count("\n") == 1
    message = _click_error(out.stderr)  # what a person reads is unchanged
    assert culprit in message
    assert orjson.loads(out.stdout) == {
        "ok": False,
        "exit_code": 2,
        "error": {"code": "usage_error", "message": message},
    }


def test_a_usage_error_without_json_prints_nothing_on_stdout(tmp_path: Path) -> None:
    out = psykhe("push", "--only-x", env=isolated_env(tmp_path / "home"))
    assert (out.returncode, out.stdout) == (2, "")
    assert "--only-x" in _click_error(out.stderr)


def test_a_file_named_json_after_the_options_end_is_a_feed(tmp_path: Path) -> None:
    (tmp_path / "--json").write_bytes(b"")
    out = psykhe("validate", "--", "--json", env=isolated_env(tmp_path / "home"), cwd=tmp_path)
    assert out.returncode == 3, out.stderr  # an empty feed, not a usage error
    assert out.stdout.startswith("files:")


@pytest.mark.parametrize("args", [["status", "--json"], ["status", "7", "--last", "--json"]])
def test_status_without_one_ingestion_to_show_prints_one_object(
    tmp_path: Path, args: list[str]
) -> None:
    out = psykhe(*args, env=isolated_env(tmp_path / "home"))
    assert out.returncode == 2, out.stderr
    assert orjson.loads(out.stdout) == {
        "ok": False,
        "exit_code": 2,
        "error": {"code": "usage_error", "message": "give an ingestion id or --last (one of them)"},
    }


def test_a_usage_error_in_a_command_report_is_still_one_object(
    tmp_path: Path, env: dict[str, str]
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"")
    args = ["push", str(feed), "--json", "--mode", "soft_replace", "--skip-invalid"]
    out = psykhe(*args, env=env)
    assert out.returncode == 2, out.stderr
    assert out.stdout.count("\n") == 1
    report = orjson.loads(out.stdout)
    assert (report["exit_code"], report["error"]["code"]) == (2, "usage_error")
    assert report["mode"] == "soft_replace"  # push's own report, not a second object
