"""Reliability matrix, the machine's own files: what a killed psykhe leaves is removed by the
next run (never a live one's), and a full TMPDIR is the machine's fault, not the feed's."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import threading
from pathlib import Path

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import FAST, PSYKHE, catalog, posts, psykhe, wait_until, write_feed
from tests.standin import StandIn
from tests.test_reliability_process import incompressible_feed
from tests.test_reliability_streams import tiny_tmpfs

SOFT = ("--mode", "soft_replace", "--yes")


def _leftovers(home: Path) -> tuple[list[str], list[str]]:
    baselines = home / "state" / "psykhe" / "baselines"
    held = sorted(p.name for p in baselines.glob(".*.tmp")) if baselines.exists() else []
    return sorted(os.listdir(home / "tmp")), held


def test_what_a_killed_push_left_is_removed_by_the_next_run_never_a_live_ones(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(30))
    answer = threading.Event()  # never set while the push waits: it stays busy
    with StandIn(lambda method, path, connection: answer.wait()) as server:
        busy_env = {**env, "PSYKHE_BASE_URL": server.base_url, "PSYKHE_READ_TIMEOUT": "600"}
        busy = subprocess.Popen(
            [*PSYKHE, "push", str(feed), *SOFT, "--retries", "0"],
            env=busy_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda: server.requests and all(_leftovers(home)))
            spool, held = _leftovers(home)
            # another run beside a live one: the live one's files are left alone
            assert psykhe("push", str(feed), *FAST, env=env).returncode == 0
            out = psykhe("push", str(feed), *SOFT, *FAST, env=env)
            assert out.returncode == 0, out.stderr
            assert _leftovers(home) == (spool, held)
            assert busy.poll() is None
            busy.send_signal(signal.SIGKILL)
            assert busy.wait(30) == -signal.SIGKILL
        finally:
            answer.set()
            if busy.poll() is None:
                busy.kill()
                busy.wait()
    assert _leftovers(home) == (spool, held)  # SIGKILL runs no cleanup
    out = psykhe("push", str(feed), *SOFT, *FAST, env=env)
    assert out.returncode == 0, out.stderr
    assert _leftovers(home) == ([], [])
    assert len(posts(sandbox)) == 3


# -- a full TMPDIR (issue 23, 16) ----------------------------------------------------------


def _assert_the_machines_fault(out: subprocess.CompletedProcess[str], tmpdir: Path) -> None:
    assert out.returncode == 4, out.stderr
    assert (
        f"psykhe: error: cannot write the temporary spool in {tmpdir} (TMPDIR): no room left ("
    ) in out.stderr
    assert "the feed itself is not at fault" in out.stderr
    assert "Traceback" not in out.stderr
    report = json.loads(out.stdout)
    assert report["exit_code"] == 4
    assert report["error"]["code"] == "config_error"


def test_a_full_tmpdir_is_the_machines_fault_naming_the_directory(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = incompressible_feed(tmp_path / "feed.jsonl", 400)  # ~500 kB of gzip
    with tiny_tmpfs(tmp_path / "tmpdir", 128 * 1024) as tmpdir:
        out = psykhe("push", str(feed), "--no-stream", "--json", env={**env, "TMPDIR": str(tmpdir)})
        left = os.listdir(tmpdir)
    _assert_the_machines_fault(out, tmpdir)
    assert left == []
    assert sandbox.requests() == []


def test_a_file_size_limit_on_the_spool_is_the_machines_fault_too(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = incompressible_feed(tmp_path / "feed.jsonl", 400)

    def tiny_disk() -> None:  # any file over 64 KiB fails to grow (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    raw = subprocess.run(
        [*PSYKHE, "push", str(feed), "--json"],
        env=env,
        input=b"",
        capture_output=True,
        timeout=60,
        preexec_fn=tiny_disk,
    )
    out = subprocess.CompletedProcess(
        raw.args, raw.returncode, raw.stdout.decode(), raw.stderr.decode()
    )
    _assert_the_machines_fault(out, home / "tmp")
    assert sandbox.requests() == []
