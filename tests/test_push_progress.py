"""Upload progress that tells the truth: what reached the server is counted (not what waits
in the kernel's buffers), the wait for the server's answer is said while it lasts, and an
interruption says how far the upload had gone.

The real ``psykhe`` runs as a subprocess against the sandbox, its stderr read as it comes.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import pytest

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import FAST, noting_forks, posts, psykhe, run_in_pty
from tests.test_push_stream import feed_bytes
from tests.test_reliability_process import Child

#: how long the sandbox holds its answer once it has read the whole body (the test interrupts
#: psykhe long before)
HELD = 5.0
#: the units of ``human_bytes``
UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


@pytest.mark.parametrize("order", ["streamed", "--no-stream"])
def test_the_wait_for_the_answer_is_told_once_the_body_arrived_whole(
    order: str, tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(feed_bytes())
    sandbox.set_faults(delay={"before_answer": HELD})
    args = ["push", str(feed), *FAST, *([order] if order != "streamed" else [])]
    child = Child(args, env, subprocess.DEVNULL)
    try:
        child.wait_for_stderr("waiting for the server's answer")
        # told while the server holds the answer, the whole body read
        (request,) = posts(sandbox)
        assert request["complete"] is True and request["status"] is None
        said = re.search(
            r"psykhe: sent ([\d.,]+) (k?[MG]?B) in [\d.]+ s \(.*/s\); waiting", child.stderr
        )
        assert said is not None, child.stderr
        sent = float(said[1].replace(",", "")) * UNITS[said[2]]
        assert sent == pytest.approx(request["body_bytes"], rel=0.01)
        assert child.stderr.index("psykhe: uploading ") < said.start()
        child.process.send_signal(signal.SIGINT)
        assert child.finish() == 130
    finally:
        if child.process.poll() is None:
            child.process.kill()
    size = request["body_bytes"]
    assert (
        "psykhe: error: interrupted after the whole upload was handed to the network "
        f"({size:,} of {size:,} bytes acknowledged by the server), before the server "
        "answered: it may have accepted it"
    ) in child.stderr


def test_a_plain_push_tells_when_its_upload_starts_and_ends(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(feed_bytes())
    out = psykhe("push", str(feed), *FAST, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    starts = [n for n, line in enumerate(lines) if line.startswith("psykhe: uploading")]
    ends = [n for n, line in enumerate(lines) if "waiting for the server's answer" in line]
    accepted = [n for n, line in enumerate(lines) if line.endswith("accepted")]
    assert len(ends) == 1 and starts and accepted, out.stderr
    assert starts[0] < ends[0] < accepted[0]


def test_the_waiting_spinner_shows_on_a_terminal(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(feed_bytes())
    sandbox.set_faults(delay={"before_answer": 1.0})
    code, screen = run_in_pty(["push", str(feed), *FAST], env=env)
    assert code == 0, screen
    assert b"waiting" in screen and b"for the server's answer" in screen
    assert len(sandbox.ingestions()) == 1


def test_a_terminal_display_leaves_the_workers_free_to_fork(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """A feed from a pipe starts its workers only after 4 MiB, when the progress display is
    already up: it must not have started a thread by then (forking with threads is unsafe,
    and without forked workers the feed is checked on one core)."""
    noted = tmp_path / "forks.json"
    code, screen = run_in_pty(
        [str(noted), "push", "-", "--dry-run"],
        env=env,
        stdin_data=feed_bytes(40_000),
        program=noting_forks("threading.active_count()"),
    )
    assert code == 0, screen
    forks = json.loads(noted.read_text())
    assert forks and all(threads == 1 for threads in forks), forks
