"""Progress without a terminal (issue 22, 2): during a long upload and a long wait, a plain line
every 30 s (``PSYKHE_PROGRESS_INTERVAL``) and at every tenth of a big upload; each stderr line
timestamped with ``--log-timestamps``.

The real ``psykhe`` as a subprocess against a sandbox that reads slowly and processes slowly;
the interval set to 0 so that every progress update writes its line (no waiting on a clock).
"""

from __future__ import annotations

import re
from pathlib import Path

from psykhe_cli.render.progress import TENTHS_FROM, Ticker
from tests.conftest import SandboxFactory
from tests.helpers import FAST, catalog, isolated_env, psykhe, write_feed
from tests.test_reliability_process import incompressible_feed

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d "


def test_push_without_a_terminal_tells_a_long_upload_and_a_long_wait(
    tmp_path: Path, sandbox_factory: SandboxFactory
) -> None:
    sandbox = sandbox_factory(processing_delay=1.0)
    # more than the loopback's socket buffers hold, read at 2 MB/s: the upload takes seconds
    sandbox.set_faults(slow_read={"bytes_per_second": 2_000_000})
    feed = incompressible_feed(tmp_path / "feed.jsonl", 6000)
    env = isolated_env(tmp_path / "home", sandbox.env() | {"PSYKHE_PROGRESS_INTERVAL": "0"})
    out = psykhe("push", str(feed), "--no-stream", *FAST, env=env)
    assert out.returncode == 0, out.stderr
    told = re.compile(
        r"psykhe: uploading: (\d+)% · [\d.]+ MB of [\d.]+ MB acknowledged · [\d.,]+ [kM]B/s"
        r"( · about [\d,]+ (s|min) left)?"
    )
    percents = [int(found[1]) for line in out.stderr.splitlines() if (found := told.match(line))]
    assert percents, out.stderr
    assert percents == sorted(percents) and all(0 <= p < 100 for p in percents)
    waited = re.compile(r"psykhe: ingestion 1: still (created|started) \(\d+ s so far\)")
    assert any(waited.fullmatch(line) for line in out.stderr.splitlines()), out.stderr
    assert out.stderr.splitlines()[-1] == "psykhe: ingestion 1: completed"


def test_push_of_a_small_feed_writes_no_progress_lines(
    tmp_path: Path, sandbox_factory: SandboxFactory
) -> None:
    sandbox = sandbox_factory()
    feed = write_feed(tmp_path / "feed.jsonl", catalog(30))
    out = psykhe("push", str(feed), *FAST, env=isolated_env(tmp_path / "home", sandbox.env()))
    assert out.returncode == 0, out.stderr
    assert "uploading:" not in out.stderr and "still" not in out.stderr


def test_log_timestamps_begin_every_stderr_line_with_the_time(
    tmp_path: Path, sandbox_factory: SandboxFactory
) -> None:
    sandbox = sandbox_factory()
    feed = write_feed(tmp_path / "feed.jsonl", catalog(30))
    env = isolated_env(tmp_path / "home", sandbox.env())
    out = psykhe("push", str(feed), *FAST, "--log-timestamps", env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) >= 5 and all(re.match(STAMP + "psykhe: ", line) for line in lines), lines
    assert any(re.fullmatch(STAMP + "psykhe: ingestion 1 accepted", line) for line in lines)
    assert not re.match(STAMP, out.stdout)  # the summary is not a log


def test_log_timestamps_from_the_environment_stamp_the_error_lines_too(tmp_path: Path) -> None:
    env = isolated_env(
        tmp_path / "home",
        {"PSYKHE_LOG_TIMESTAMPS": "1", "PSYKHE_API_KEY": "sk_test_0123456789abcdef"},
    )
    out = psykhe("push", str(tmp_path / "missing.jsonl"), env=env)
    assert out.returncode == 3, out.stderr
    lines = out.stderr.splitlines()
    assert lines and all(re.match(STAMP + "psykhe: ", line) for line in lines), lines
    assert re.match(STAMP + "psykhe: error: ", lines[0])
    default = psykhe(
        "push", str(tmp_path / "missing.jsonl"), env=env | {"PSYKHE_LOG_TIMESTAMPS": "0"}
    )
    assert default.stderr.startswith("psykhe: error: ")


def test_ticker_tells_every_tenth_of_a_big_upload_and_every_interval() -> None:
    now = [0.0]
    ticker = Ticker(30.0, clock=lambda: now[0])
    total = TENTHS_FROM * 2
    told = []
    for step in range(1, 101):  # 1% a second: each tenth, never twice, and no 30 s gap
        now[0] = float(step)
        if ticker.due(total * step // 100, total):
            told.append(step)
    assert told == [10, 20, 30, 40, 50, 60, 70, 80, 90]
    small = Ticker(30.0, clock=lambda: now[0])
    now[0] = 0.0
    small.restart()
    seen = []
    for second in range(1, 91):
        now[0] = float(second)
        if small.due(second, TENTHS_FROM - 1):  # too small for tenths: every 30 s
            seen.append(second)
    assert seen == [30, 60, 90]
