"""Reliability matrix, transport and server faults on the upload.

Each row pushes with the real ``psykhe`` (a subprocess) into the sandbox with one fault, and
checks the exit code, the message, and what the server received: how many POSTs, whether
each body was complete, its SHA-1, and the ingestions created. Retries are kept few
(``--retries``) so backoff stays short.

Rows covered elsewhere: 413 ``payload_too_large`` — insert splits with every line delivered
once (``test_push.py::test_push_payload_too_large_splits_insert_until_it_fits``), soft_replace
exits 6 with 0 deactivations
(``test_push.py::test_push_payload_too_large_soft_replace_is_rejected_unsplit``).
"""

from __future__ import annotations

import base64
import email.utils
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import (
    FAST,
    PSYKHE,
    catalog,
    closed_port,
    isolated_env,
    posts,
    product,
    psykhe,
    wrapped,
    write_feed,
)


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    return write_feed(tmp_path / "feed.jsonl", catalog(30))


def big_feed(path: Path, lines: int) -> Path:
    """Random titles: the gzip body is about as big as the feed (~1 kB a line)."""
    items = (
        product(f"R{i:06d}", title=base64.b85encode(os.urandom(800)).decode()) for i in range(lines)
    )
    path.write_bytes(b"".join(wrapped(item) for item in items))
    return path


# -- connection refused --------------------------------------------------------------------


def test_connection_refused_every_time_exits_5_nothing_was_sent(home: Path, feed: Path) -> None:
    env = isolated_env(
        home, {"PSYKHE_BASE_URL": f"http://127.0.0.1:{closed_port()}", "PSYKHE_API_KEY": "sk_x1"}
    )
    started = time.monotonic()
    out = psykhe("push", str(feed), "--retries", "2", env=env)
    elapsed = time.monotonic() - started
    assert out.returncode == 5, out.stderr
    assert "the upload failed 3 time(s), last: cannot connect" in out.stderr
    assert "nothing was sent (no connection)" in out.stderr
    assert out.stderr.count("failed: cannot connect") == 2  # two retries announced
    assert "it is safe to run the same command again" in out.stderr
    assert elapsed < 30  # backoff is bounded: at most 1 + 2 s of waiting here


@pytest.mark.parametrize("source", ["file", "pipe"])
def test_connection_refused_once_then_success_makes_exactly_one_ingestion(
    home: Path, feed: Path, sandbox_factory: Any, source: str
) -> None:
    port = closed_port()
    env = isolated_env(
        home, {"PSYKHE_BASE_URL": f"http://127.0.0.1:{port}", "PSYKHE_API_KEY": "sk_test_key_1"}
    )
    args = ["push", str(feed) if source == "file" else "-", "--retries", "6", *FAST]
    with feed.open("rb") as data:
        child = subprocess.Popen(
            [*PSYKHE, *args],
            env=env,
            stdin=data if source == "pipe" else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    assert child.stderr is not None
    seen = b""
    while b"failed: cannot connect" not in seen:  # the first attempt was refused
        line = child.stderr.readline()
        assert line, seen.decode()
        seen += line
    server = sandbox_factory(port=port, keys={"sk_test_key_1": "late-client"})
    stdout, rest = child.communicate(timeout=60)
    stderr = (seen + rest).decode()
    assert child.returncode == 0, stderr
    assert "status: completed" in stdout.decode()
    (request,) = posts(server)
    assert request["complete"] is True
    (ingestion,) = server.ingestions()
    assert ingestion["file_identifier"] == request["sha1"]
    assert len(server.products()) == 30


@pytest.mark.parametrize("source", ["file", "pipe"])
def test_a_retried_upload_sends_identical_bodies_also_from_a_pipe(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle, source: str
) -> None:
    sandbox.set_faults(respond={"status": 503, "retry_after": 0, "count": 2})
    args = ["push", str(feed) if source == "file" else "-", "--retries", "3", *FAST]
    out = psykhe(*args, env=env, input=feed.read_bytes() if source == "pipe" else None)
    assert out.returncode == 0, out.stderr
    requests = posts(sandbox)
    assert [r["status"] for r in requests] == [503, 503, 202]
    assert all(r["complete"] and r["body_bytes"] > 0 for r in requests)
    assert len({r["sha1"] for r in requests}) == 1
    assert len({r["headers"]["content-length"] for r in requests}) == 1
    (ingestion,) = sandbox.ingestions()
    assert ingestion["file_identifier"] == requests[0]["sha1"]


# -- throttling ----------------------------------------------------------------------------


def test_429_with_retry_after_2_waits_about_2_s_then_one_ingestion(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    sandbox.set_faults(respond={"status": 429, "retry_after": 2})
    started = time.monotonic()
    out = psykhe("push", str(feed), "--retries", "1", *FAST, env=env)
    elapsed = time.monotonic() - started
    assert out.returncode == 0, out.stderr
    assert "HTTP 429" in out.stderr
    assert "Retry-After 2 s; retrying in 2.0 s" in out.stderr
    assert elapsed >= 1.5
    assert [r["status"] for r in posts(sandbox)] == [429, 202]
    assert len(sandbox.ingestions()) == 1


def test_retry_after_as_an_http_date_is_honoured(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    when = email.utils.formatdate(time.time() + 3, usegmt=True)
    sandbox.set_faults(respond={"status": 503, "retry_after": when})
    started = time.monotonic()
    out = psykhe("push", str(feed), "--retries", "1", *FAST, env=env)
    elapsed = time.monotonic() - started
    assert out.returncode == 0, out.stderr
    assert "Retry-After" in out.stderr
    assert elapsed >= 1.0  # the date has whole seconds: 2 to 3 s from the answer
    assert [r["status"] for r in posts(sandbox)] == [503, 202]


def test_an_absurd_retry_after_is_capped_and_the_wait_shown(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    sandbox.set_faults(respond={"status": 503, "retry_after": 86400})
    child = subprocess.Popen(
        [*PSYKHE, "push", str(feed), "--retries", "1"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert child.stderr is not None
    line = child.stderr.readline().decode()
    while "retrying in" not in line:
        assert line, "no retry announced"
        line = child.stderr.readline().decode()
    # shown before waiting; then Ctrl-C: nobody waits the capped two minutes in a test
    assert "Retry-After 86400 s capped at 120 s; retrying in 120.0 s" in line
    child.send_signal(signal.SIGINT)
    rest = child.communicate(timeout=30)[1].decode()
    assert child.returncode == 130, rest
    assert len(posts(sandbox)) == 1


def test_503_on_every_attempt_exits_5_after_retries_with_a_bounded_wait(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    sandbox.set_faults(respond={"status": 503, "count": None})
    started = time.monotonic()
    out = psykhe("push", str(feed), "--retries", "2", env=env)
    elapsed = time.monotonic() - started
    assert out.returncode == 5, out.stderr
    assert "the upload failed 3 time(s), last: HTTP 503" in out.stderr
    assert "nothing was processed" in out.stderr
    assert len(posts(sandbox)) == 3
    assert sandbox.ingestions() == []
    assert elapsed < 30  # full jitter: at most 1 + 2 s of backoff


# -- after the whole body: outcome unknown, never retried -----------------------------------


@pytest.mark.parametrize("status", [500, 502, 504])
def test_5xx_after_the_body_exits_8_outcome_unknown_without_retry(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle, status: int
) -> None:
    sandbox.set_faults(respond={"status": status, "count": None})
    out = psykhe("push", str(feed), "--retries", "3", env=env)
    assert out.returncode == 8, out.stderr
    assert f"the whole upload was sent, then the server answered HTTP {status}" in out.stderr
    assert "psykhe status --last" in out.stderr
    (request,) = posts(sandbox)
    assert request["complete"] is True


def test_a_reset_after_the_whole_body_exits_8_without_retry(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    sandbox.set_faults(drop={"count": None})
    out = psykhe("push", str(feed), "--retries", "3", env=env)
    assert out.returncode == 8, out.stderr
    assert "the whole upload" in out.stderr
    assert "the server may have accepted it" in out.stderr
    assert "psykhe status --last" in out.stderr
    (request,) = posts(sandbox)
    assert request["complete"] is True


def test_no_answer_within_the_read_timeout_exits_8_without_retry(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    sandbox.set_faults(delay={"before_answer": 5, "count": None})
    out = psykhe("push", str(feed), "--retries", "3", env=env | {"PSYKHE_READ_TIMEOUT": "0.5"})
    assert out.returncode == 8, out.stderr
    assert "no complete answer came within the read timeout (0.5 s)" in out.stderr
    assert "psykhe status --last" in out.stderr
    assert len(posts(sandbox)) == 1


# -- cut short mid-body: nothing applied -----------------------------------------------------


@pytest.mark.parametrize("order", [[], ["--no-stream"]], ids=["streamed", "spooled"])
def test_connection_closed_mid_body_then_retried_from_the_spool_makes_one_ingestion(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle, order: list[str]
) -> None:
    # ~8 MB of gzip, more than the socket buffers hold: the client is still sending when the
    # connection goes. (A body that fits in them was all handed over before the reset, and
    # the client cannot tell whether the server read it: that is exit 8, as above.)
    feed = big_feed(tmp_path / "feed.jsonl", 8000)
    sandbox.set_faults(drop={"after_bytes": 65536})
    out = psykhe("push", str(feed), "--retries", "2", *order, *FAST, env=env)
    assert out.returncode == 0, out.stderr
    first, second = posts(sandbox)
    assert first["complete"] is False
    assert 0 < first["body_bytes"] < second["body_bytes"]
    assert second["complete"] is True
    (ingestion,) = sandbox.ingestions()
    assert ingestion["file_identifier"] == second["sha1"]
    assert len(sandbox.products()) == 8000


@pytest.mark.parametrize("order", [[], ["--no-stream"]], ids=["streamed", "spooled"])
def test_connection_closed_mid_body_every_time_exits_5_with_no_ingestion(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle, order: list[str]
) -> None:
    feed = big_feed(tmp_path / "feed.jsonl", 8000)
    sandbox.set_faults(drop={"after_bytes": 65536, "count": None})
    out = psykhe("push", str(feed), "--retries", "1", *order, env=env)
    assert out.returncode == 5, out.stderr
    assert "before the whole body was sent" in out.stderr
    assert "nothing was processed" in out.stderr
    assert [r["complete"] for r in posts(sandbox)] == [False, False]
    assert sandbox.ingestions() == []


# -- rejected ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 422])
def test_a_json_error_exits_6_showing_code_and_message(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle, status: int
) -> None:
    sandbox.set_faults(
        respond={
            "status": status,
            "code": "validation_error",
            "message": "line 3: price must be a number",
            "context": {"ingestion_id": 4242},
        }
    )
    out = psykhe("push", str(feed), "--json", env=env)
    assert out.returncode == 6, out.stderr
    assert f"the server rejected the upload (HTTP {status}" in out.stderr
    assert "validation_error: line 3: price must be a number" in out.stderr
    assert "the server recorded it as ingestion 4242" in out.stderr
    report = orjson.loads(out.stdout)
    assert report["error"]["code"] == "validation_error"
    assert len(posts(sandbox)) == 1


def test_an_html_error_page_from_a_proxy_exits_6_with_the_http_status(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    sandbox.set_faults(respond={"status": 400, "body": "html"})
    out = psykhe("push", str(feed), env=env)
    assert out.returncode == 6, out.stderr
    assert "(HTTP 400 Bad Request): not a JSON error:" in out.stderr
    assert "text/html" in out.stderr
    assert "Traceback" not in out.stderr
    assert len(posts(sandbox)) == 1


@pytest.mark.parametrize("body", ["html", "empty", "no_id"])
def test_a_2xx_that_is_not_json_or_has_no_id_exits_8_never_0(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle, body: str
) -> None:
    sandbox.set_faults(respond={"status": 200, "body": body})
    out = psykhe("push", str(feed), "--json", env=env)
    assert out.returncode == 8, out.stderr
    assert "the server answered HTTP 200 without an ingestion id" in out.stderr
    report = orjson.loads(out.stdout)
    assert report["exit_code"] == 8
    assert report["error"]["code"] == "outcome_unknown"
    assert len(posts(sandbox)) == 1


# -- the body on the wire --------------------------------------------------------------------


def test_the_body_on_the_wire_is_exactly_the_declared_and_reported_size(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    out = psykhe("push", str(feed), *FAST, "--json", env=env)
    assert out.returncode == 0, out.stderr
    (request,) = posts(sandbox)
    assert request["complete"] is True
    assert int(request["headers"]["content-length"]) == request["body_bytes"]
    assert orjson.loads(out.stdout)["bytes_sent"] == request["body_bytes"]
