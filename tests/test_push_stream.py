"""Streaming push: the upload starts while the feed is still read and checked, and is completed
(its final chunk) only when the feed had no error and the guard passed.

Every row runs the real ``psykhe`` (a subprocess) against the sandbox and looks at what the
server received. The feeds are over 4 MiB: worker processes check them, and the upload starts
once they run.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import (
    FAST,
    PSYKHE,
    noting_forks,
    posts,
    product,
    psykhe,
    wait_until,
    wrapped,
)

#: ~310 bytes a line: 24,000 lines are ~7 MB, past the 4 MiB after which workers start
PADDING = "x" * 50
LINES = 24_000


def feed_bytes(lines: int = LINES, *, random: bool = False) -> bytes:
    """A valid feed; ``random``: titles that do not compress (the body is as big as the feed)."""
    return b"".join(
        wrapped(
            product(
                f"S{i // 3:06d}",
                f"S{i:06d}",
                description=base64.b85encode(os.urandom(150)).decode() if random else PADDING,
            )
        )
        for i in range(lines)
    )


def settled(sandbox: SandboxHandle) -> list[dict[str, Any]]:
    """The POSTs once the server has seen the end of each (answered, or the connection gone)."""
    return wait_until(
        lambda: (found := posts(sandbox)) and all(r["ended"] for r in found) and found
    )


def test_an_insert_streams_chunked_and_is_created_whole(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(feed_bytes())
    out = psykhe("push", str(feed), *FAST, env=env)
    assert out.returncode == 0, out.stderr
    (request,) = posts(sandbox)
    assert request["headers"].get("transfer-encoding") == "chunked"
    assert "content-length" not in request["headers"]
    assert request["complete"] is True
    (ingestion,) = sandbox.ingestions()
    assert ingestion["file_identifier"] == request["sha1"]
    assert len(sandbox.products()) == LINES


def test_no_stream_sends_the_spool_with_a_content_length(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(feed_bytes())
    out = psykhe("push", str(feed), "--no-stream", *FAST, env=env)
    assert out.returncode == 0, out.stderr
    (request,) = posts(sandbox)
    assert "transfer-encoding" not in request["headers"]
    assert int(request["headers"]["content-length"]) == request["body_bytes"]


def started_then(
    env: dict[str, str], sandbox: SandboxHandle, args: list[str], last: bytes
) -> tuple[int, str]:
    """Push a pipe: valid lines, then — once the upload is under way — ``last``; the exit code
    and stderr."""
    child = subprocess.Popen(
        [*PSYKHE, "push", "-", *args],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert child.stdin is not None and child.stderr is not None
    child.stdin.write(feed_bytes(PIPED))
    child.stdin.flush()
    # the feed is not finished, yet its first bytes are at the server
    wait_until(lambda: any(r["body_bytes"] > 0 for r in posts(sandbox)))
    # and the attempt was recorded before them, for `status --last`
    history = Path(env["XDG_STATE_HOME"]) / "psykhe" / "history.jsonl"
    assert history.is_file() and len(history.read_text().splitlines()) == 1
    child.stdin.write(last)
    child.stdin.close()
    with child.stderr:
        stderr = child.stderr.read()  # to its end: the process has exited, or is about to
    return child.wait(timeout=60), stderr.decode()


#: lines piped before the upload is looked for: the workers hold the last few blocks back
PIPED = 40_000


def test_the_upload_starts_before_the_feed_ends_and_an_invalid_last_line_creates_nothing(
    env: dict[str, str], sandbox: SandboxHandle
) -> None:
    bad = b'{"operation":"insert","product_data":{"title":"no identifier"}}\n'
    code, stderr = started_then(env, sandbox, list(FAST), bad)
    assert code == 3, stderr
    assert (
        "1 error(s) in the feed; the upload begun meanwhile was cut off before its end, so "
        "nothing was applied"
    ) in stderr
    (request,) = settled(sandbox)
    assert request["headers"].get("transfer-encoding") == "chunked"
    assert (request["complete"], request["status"], request["ingestion_id"]) == (False, None, None)
    assert request["body_bytes"] > 0
    assert sandbox.ingestions() == []


def test_a_refused_guard_closes_the_streamed_request_without_its_end(
    env: dict[str, str], sandbox: SandboxHandle
) -> None:
    # soft_replace without a terminal to ask on, nor --yes: streamed, then refused
    code, stderr = started_then(env, sandbox, ["--mode", "soft_replace", *FAST], b"")
    assert code == 7, stderr
    assert "there is no terminal to ask on" in stderr
    assert "nothing was sent" not in stderr and "nothing was applied" in stderr
    (request,) = settled(sandbox)
    assert request["headers"].get("transfer-encoding") == "chunked"
    assert request["body_bytes"] > 0  # the upload had started
    assert (request["complete"], request["status"], request["ingestion_id"]) == (False, None, None)
    assert sandbox.ingestions() == []


@pytest.mark.parametrize("status", [411, 415])
def test_a_server_refusing_chunked_gets_the_same_bytes_whole_and_is_remembered(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle, status: int
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(feed_bytes(random=True))  # more than the socket buffers hold
    sandbox.set_faults(respond={"status": status, "early": True})
    out = psykhe("push", str(feed), *FAST, env=env)
    assert out.returncode == 0, out.stderr
    assert "refused a streamed upload" in out.stderr
    refused, whole = settled(sandbox)
    assert refused["headers"].get("transfer-encoding") == "chunked"
    assert refused["status"] == status
    assert int(whole["headers"]["content-length"]) == whole["body_bytes"]
    (ingestion,) = sandbox.ingestions()
    assert ingestion["file_identifier"] == whole["sha1"]
    remembered = json.loads((home / "state" / "psykhe" / "no-chunked.json").read_text())
    assert len(remembered["targets"]) == 1
    # the next push to that target goes whole from the start
    sandbox.reset()
    out = psykhe("push", str(feed), *FAST, env=env)
    assert out.returncode == 0, out.stderr
    (request,) = posts(sandbox)
    assert "transfer-encoding" not in request["headers"]


# -- the upload's faults, streamed (tests/test_reliability_transport.py: the same, spooled) ----


@pytest.mark.parametrize("order", [[], ["--no-stream"]], ids=["streamed", "spooled"])
def test_a_retried_upload_sends_the_same_bytes_whole(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle, order: list[str]
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(feed_bytes())
    sandbox.set_faults(respond={"status": 503, "retry_after": 0, "count": 2})
    out = psykhe("push", str(feed), "--retries", "3", *order, *FAST, env=env)
    assert out.returncode == 0, out.stderr
    requests = posts(sandbox)
    assert [r["status"] for r in requests] == [503, 503, 202]
    assert all(r["complete"] for r in requests)
    assert len({r["sha1"] for r in requests}) == 1  # every attempt: the same bytes
    chunked = [r["headers"].get("transfer-encoding") == "chunked" for r in requests]
    assert chunked == ([True, False, False] if not order else [False, False, False])
    assert all(int(r["headers"]["content-length"]) == r["body_bytes"] for r in requests[1:])
    (ingestion,) = sandbox.ingestions()
    assert ingestion["file_identifier"] == requests[0]["sha1"]


@pytest.mark.parametrize("order", [[], ["--no-stream"]], ids=["streamed", "spooled"])
@pytest.mark.parametrize(
    "fault",
    [{"respond": {"status": 500, "count": None}}, {"drop": {"count": None}}],
    ids=["500", "reset"],
)
def test_an_answer_lost_after_the_whole_body_exits_8_without_retry(
    tmp_path: Path,
    env: dict[str, str],
    sandbox: SandboxHandle,
    order: list[str],
    fault: dict[str, Any],
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(feed_bytes())
    sandbox.set_faults(**fault)
    out = psykhe("push", str(feed), "--retries", "3", *order, env=env)
    assert out.returncode == 8, out.stderr
    assert "the whole upload" in out.stderr
    assert "psykhe status --last" in out.stderr
    (request,) = posts(sandbox)  # the final chunk was sent: never retried, never guessed
    assert request["complete"] is True


@pytest.mark.parametrize("streamed", [True, False], ids=["streamed", "no-stream"])
def test_a_push_imports_the_http_client_before_its_workers_only_when_it_streams(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle, streamed: bool
) -> None:
    """A streamed upload can send its first block ~0.1 s after the workers start: its client
    (httpx, ~0.15 s to import) is made before they are forked, as one made in a thread while
    they hold both cores was ready only 0.3-0.5 s after them. A push that uploads once the
    feed is checked makes it in a thread once they run: they must not wait for it."""
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(feed_bytes())
    assert feed.stat().st_size > 4 << 20  # big enough for forked workers
    noted = tmp_path / "forks.json"
    options = [] if streamed else ["--no-stream"]
    out = subprocess.run(
        [*noting_forks('"httpx" in sys.modules'), str(noted), "push", str(feed), *FAST, *options],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert ("uploading while the feed is checked" in out.stderr) is streamed
    forks = json.loads(noted.read_text())
    assert forks and all(forks) if streamed else forks and not any(forks), forks
