"""`psykhe validate` shows its progress: rich on a terminal, plain lines in logs, numbers
with separators."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from psykhe_cli.render.validate import PLAIN_TENTHS_FROM, PlainProgress
from psykhe_cli.terminal import Environment
from tests.helpers import catalog, isolated_env, noting_forks, psykhe, run_in_pty, write_feed

LINES = 45_000


@pytest.fixture(scope="module")
def big_feed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    feed = write_feed(tmp_path_factory.mktemp("progress") / "big.jsonl", catalog(LINES))
    assert feed.stat().st_size >= PLAIN_TENTHS_FROM
    return feed


def test_validate_without_a_terminal_writes_a_line_at_each_tenth(
    big_feed: Path, tmp_path: Path
) -> None:
    out = psykhe("validate", str(big_feed), env=isolated_env(tmp_path / "home"))
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert re.fullmatch(r"psykhe: checked 45,000 lines · 1\d\.\d MB in [\d.,]+ s", lines[-1])
    percents = []
    for line in lines[:-1]:
        found = re.fullmatch(
            r"psykhe: checking: (\d+)% · [\d,]+ lines · [\d.]+ MB of 1\d\.\d MB · .*", line
        )
        assert found, line
        percents.append(int(found[1]))
    assert percents == sorted(set(percents)) and all(10 <= p < 100 for p in percents)
    assert "lines: 45,000\n" in out.stdout
    assert "variants: 45,000\n" in out.stdout


def test_validate_quiet_or_small_feed_writes_no_progress(big_feed: Path, tmp_path: Path) -> None:
    env = isolated_env(tmp_path / "home")
    assert psykhe("validate", "-q", str(big_feed), env=env).stderr == ""
    small = write_feed(tmp_path / "small.jsonl", catalog(30))
    assert psykhe("validate", str(small), env=env).stderr == ""
    piped = psykhe("validate", "-", env=env, input=small.read_bytes())
    assert (piped.returncode, piped.stderr) == (0, "")


def test_validate_on_a_terminal_shows_progress_then_what_it_checked(
    big_feed: Path, tmp_path: Path
) -> None:
    env = isolated_env(tmp_path / "home", {"TERM": "xterm", "COLUMNS": "120"})
    code, screen = run_in_pty(["validate", str(big_feed)], env=env)
    text = screen.decode(errors="replace")
    assert code == 0, text
    assert "\x1b[" in text  # drawn, not written line by line
    assert re.search(r"checking .*100% · 45,000 lines · 1\d\.\d MB of 1\d\.\d MB", text)
    assert re.search(r"✓\S* checked 45,000 lines · 1\d\.\d MB in [\d.,]+ s", text)
    assert re.search(r"lines +│ +45,000 │", text)


def test_validate_on_a_terminal_writes_problem_lines_whole(tmp_path: Path) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(30))
    feed.write_bytes(feed.read_bytes() + b"{oops\n")
    env = isolated_env(tmp_path / "home", {"TERM": "xterm", "COLUMNS": "200"})
    code, screen = run_in_pty(["validate", str(feed)], env=env)
    text = screen.decode(errors="replace")
    assert code == 3, text
    # on a line of its own, the display cleared first, with no drawing inside it
    whole = re.escape(f"\x1b[2K{feed}:31: error[invalid_json]: invalid JSON") + r"[^\x1b\r]*\r\n"
    assert re.search(whole, text), text
    assert "checked 31 lines" in text


def _plain(total: int | None, clock: list[float]) -> tuple[PlainProgress, io.StringIO]:
    err = io.StringIO()
    env = Environment(
        stdin=io.BytesIO(),
        stdout=io.StringIO(),
        stderr=err,
        stdin_isatty=False,
        stdout_isatty=False,
        stderr_isatty=False,
    )
    return PlainProgress(env, total, clock=lambda: clock[0]), err


def test_plain_progress_of_unknown_size_writes_a_line_every_30_s() -> None:
    clock = [100.0]
    progress, err = _plain(None, clock)
    for second in range(0, 95, 5):
        clock[0] = 100.0 + second
        progress.update(second * 1000, second * 1_000_000)
    progress.finish()
    assert err.getvalue().splitlines() == [
        "psykhe: checking: 30,000 lines · 30.0 MB · 1.0 MB/s",
        "psykhe: checking: 60,000 lines · 60.0 MB · 1.0 MB/s",
        "psykhe: checking: 90,000 lines · 90.0 MB · 1.0 MB/s",
        "psykhe: checked 90,000 lines · 90.0 MB in 90.0 s",
    ]


def test_plain_progress_of_a_big_file_writes_each_tenth_once() -> None:
    clock = [0.0]
    progress, err = _plain(100_000_000, clock)
    for step in range(1, 41):  # 2.5 MB a step, one step a second
        clock[0] = float(step)
        progress.update(step * 250, step * 2_500_000)
    progress.finish()
    lines = err.getvalue().splitlines()
    assert [line.split(" · ")[0] for line in lines[:-1]] == [
        f"psykhe: checking: {tenth}0%" for tenth in range(1, 10)
    ]
    assert lines[0] == (
        "psykhe: checking: 10% · 1,000 lines · 10.0 MB of 100.0 MB · 2.5 MB/s · about 36 s left"
    )
    assert lines[-1] == "psykhe: checked 10,000 lines · 100.0 MB in 40.0 s"


def test_plain_progress_of_a_small_file_stays_silent() -> None:
    clock = [0.0]
    progress, err = _plain(PLAIN_TENTHS_FROM - 1, clock)
    progress.update(10, PLAIN_TENTHS_FROM - 1)
    progress.finish()
    assert err.getvalue() == ""


@pytest.mark.parametrize("source", ["file", "pipe"])
def test_validate_progress_on_a_terminal_starts_no_thread_before_workers_fork(
    big_feed: Path, tmp_path: Path, source: str
) -> None:
    env = isolated_env(tmp_path / "home", {"TERM": "xterm", "COLUMNS": "120"})
    noted = tmp_path / "forks.json"
    feed = ["-"] if source == "pipe" else [str(big_feed)]
    code, screen = run_in_pty(
        [str(noted), "validate", *feed],
        env=env,
        stdin_data=big_feed.read_bytes() if source == "pipe" else None,
        program=noting_forks("threading.active_count()"),
    )
    assert code == 0, screen.decode(errors="replace")
    assert b"checked 45,000 lines" in screen
    forks = json.loads(noted.read_text())
    assert forks and all(threads == 1 for threads in forks), forks
