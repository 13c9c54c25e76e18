"""Reliability matrix, polling: every way a status check can go, and the exit code it ends in.

Rows covered elsewhere: FAILED → exit 9 (``test_push.py::test_push_failed_ingestion_exits_9``);
never finishing → exit 10 at ``--timeout`` with the id
(``test_push.py::test_push_wait_deadline_exits_10_with_the_id``; ``status --watch`` below).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import FAST, PSYKHE, catalog, isolated_env, psykhe, write_feed


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    return write_feed(tmp_path / "feed.jsonl", catalog(6))


def gets(handle: SandboxHandle) -> list[dict[str, Any]]:
    return [r for r in handle.requests() if r["method"] == "GET"]


def test_created_started_completed_exits_0_with_the_summary(
    feed: Path, env: dict[str, str], sandbox_factory: Any, home: Path
) -> None:
    slow = sandbox_factory(processing_delay=0.4)  # long enough to see every status
    out = psykhe("push", str(feed), *FAST, env=isolated_env(home, slow.env()))
    assert out.returncode == 0, out.stderr
    statuses = [
        line.rsplit(": ", 1)[1]
        for line in out.stderr.splitlines()
        if line.startswith("psykhe: ingestion 1: ")
    ]
    assert statuses == ["created", "started", "completed"]
    for row in ("ingestion ids: 1\n", "mode: insert\n", "products: 2\n", "variants: 6\n"):
        assert row in out.stdout
    assert "status: completed\n" in out.stdout
    assert "upserted: 6\n" in out.stdout


def test_failed_exits_9_with_the_id_and_the_summary_in_json(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    sandbox.set_faults(ingestion={"outcome": "failed"})
    out = psykhe("push", str(feed), *FAST, "--json", env=env)
    assert out.returncode == 9, out.stderr
    assert "ingestion 1 FAILED on the server" in out.stderr
    report = orjson.loads(out.stdout)
    assert (report["status"], report["ingestion_ids"]) == ("failed", [1])


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_while_polling_then_success_exits_0(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle, status: int
) -> None:
    sandbox.set_faults(respond={"status": status, "on": "status", "count": 3, "retry_after": 0})
    out = psykhe("push", str(feed), *FAST, "--retries", "1", env=env)
    assert out.returncode == 0, out.stderr
    assert "status: completed\n" in out.stdout
    answered = [r["status"] for r in gets(sandbox)][1:]  # after the key check's
    assert answered[:3] == [status] * 3
    assert answered[-1] == 200
    assert len([r for r in sandbox.requests() if r["method"] == "POST"]) == 1


def test_timeouts_while_polling_then_success_exits_0(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    sandbox.set_faults(delay={"before_answer": 2, "on": "status", "count": 2})
    out = psykhe(
        "push", str(feed), *FAST, "--retries", "1", env=env | {"PSYKHE_READ_TIMEOUT": "0.3"}
    )
    assert out.returncode == 0, out.stderr
    assert "no complete answer came within the read timeout (0.3 s)" in out.stderr
    assert "status: completed\n" in out.stdout


def test_connection_refused_while_polling_then_success_exits_0(
    tmp_path: Path, feed: Path, home: Path, sandbox_factory: Any
) -> None:
    db = tmp_path / "sandbox.db"
    first = sandbox_factory(db_path=db, processing_delay=30)  # stays CREATED meanwhile
    child = subprocess.Popen(
        [*PSYKHE, "push", str(feed), *FAST, "--retries", "0", "--timeout", "60"],
        env=isolated_env(home, first.env()),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    seen = _read_until(child, b"psykhe: ingestion 1: created", b"")
    sandbox_factory.stop(first)  # the server goes away: status checks are refused
    # (a check in flight as it stops may first be cut off instead: wait for a refusal)
    seen = _read_until(child, b"cannot connect", seen)
    # back on the same port and database: the restarted worker resumes the ingestion
    port = int(first.base_url.rsplit(":", 1)[1])
    sandbox_factory(db_path=db, port=port, processing_delay=0.05)
    stdout, rest = child.communicate(timeout=60)
    stderr = (seen + rest).decode()
    assert child.returncode == 0, stderr
    assert "cannot connect" in stderr
    assert "status: completed" in stdout.decode()


def _read_until(child: subprocess.Popen[bytes], text: bytes, seen: bytes) -> bytes:
    assert child.stderr is not None
    while text not in seen:
        line = child.stderr.readline()
        assert line, seen.decode()
        seen += line
    return seen


def test_404_while_polling_exits_6_without_an_endless_loop(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    sandbox.set_faults(respond={"status": 404, "on": "status", "count": None})
    started = time.monotonic()
    out = psykhe("push", str(feed), *FAST, "--timeout", "30", env=env)
    assert out.returncode == 6, out.stderr
    assert "psykhe: ingestion 1 accepted" in out.stderr
    assert len(gets(sandbox)) == 2  # the key check, then one poll
    assert time.monotonic() - started < 20


def test_status_of_an_unknown_id_exits_6_at_once(
    env: dict[str, str], sandbox: SandboxHandle
) -> None:
    for watch in ((), ("--watch", *FAST, "--timeout", "30")):
        out = psykhe("status", "999", *watch, env=env)
        assert out.returncode == 6, out.stderr
        assert "999" in out.stderr
    assert len(gets(sandbox)) == 2


def test_status_watch_never_finishing_exits_10_at_the_timeout_with_the_id(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    sandbox.set_faults(ingestion={"outcome": "stalled"})
    assert psykhe("push", str(feed), "--no-wait", env=env).returncode == 0
    out = psykhe("status", "--last", "--watch", *FAST, "--timeout", "0.5", env=env)
    assert out.returncode == 10, out.stderr
    assert "ingestion 1 is still started after waiting 0.5 s" in out.stderr
    assert "psykhe status 1 --watch" in out.stderr


@pytest.mark.parametrize("number", [0, 6, 99])
def test_an_unknown_status_number_never_exits_0(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle, number: int
) -> None:
    sandbox.set_faults(
        respond={"status": 200, "on": "status", "ingestion_status": number, "count": None}
    )
    out = psykhe("push", str(feed), *FAST, "--timeout", "0.5", "--json", env=env)
    assert out.returncode == 10, out.stderr
    assert "still unknown" in out.stderr
    assert orjson.loads(out.stdout)["status"] == "unknown"
    shown = psykhe("status", "1", "--json", env=env)
    assert shown.returncode == 0, shown.stderr  # showing it is fine; it is not a success
    assert orjson.loads(shown.stdout)["status"] == "unknown"
