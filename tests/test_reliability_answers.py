"""Reliability matrix, what the server sends back: answers no honest server gives.

Each row runs the real ``psykhe`` (a subprocess) against a stand-in server of the test's own
on 127.0.0.1 (``tests/standin.py``) that answers endlessly, too deep, too slowly, about the
wrong ingestion, or with the key echoed back — and checks the exit code, the message, the time
or memory it took, and that the key never shows.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.helpers import KEY_CHECK, PSYKHE, catalog, isolated_env, psykhe, write_feed
from tests.standin import StandIn, envelope_answer

KEY = "sk_Live_MixedCase_Echo_0123456789"
ACCEPTED = orjson.dumps({"errors": None, "meta": None, "data": {"ingestion_id": 1}})

#: runs a command, then writes its peak RSS (KiB, largest single descendant) to argv[1]
_MEASURE = (
    "import pathlib, resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "pathlib.Path(sys.argv[1]).write_text(str(peak))\n"
    "sys.exit(code)\n"
)


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    return write_feed(tmp_path / "feed.jsonl", catalog(6))


def env_for(home: Path, server: StandIn, **extra: str) -> dict[str, str]:
    return isolated_env(home, {"PSYKHE_BASE_URL": server.base_url, "PSYKHE_API_KEY": KEY} | extra)


def status_answer(ingestion_id: int, status: int) -> bytes:
    data = {"id": ingestion_id, "client_id": "c", "status": status, "product_metrics": None}
    return envelope_answer("200 OK", orjson.dumps({"errors": None, "meta": None, "data": data}))


# -- 5: endless and deeply nested answers ------------------------------------------------------

#: what the endless answer sends at most: enough that reading it whole shows in the peak RSS
_ENDLESS_CAP = 320 * 1024 * 1024


def endless_202(method: str, path: str, connection: socket.socket) -> None:
    connection.sendall(
        b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
    for _ in range(_ENDLESS_CAP // 0x10000):
        connection.sendall(chunk)


def test_an_endless_202_is_outcome_unknown_recorded_with_bounded_memory(
    tmp_path: Path, home: Path, feed: Path
) -> None:
    peak_file = tmp_path / "peak"
    with StandIn(endless_202) as server:
        env = env_for(home, server)
        out = subprocess.run(
            [sys.executable, "-c", _MEASURE, str(peak_file), *PSYKHE, "push", str(feed)],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=120,
        )
    peak_kib = int(peak_file.read_text())
    # reading the answer whole would hold over 320 MiB; psykhe reads 1 MiB of it
    assert 0 < peak_kib < 200 * 1024, f"peak RSS {peak_kib} KiB"
    stderr = out.stderr.decode()
    assert out.returncode == 8, stderr
    assert "HTTP 202 with more than 1 MiB" in stderr
    assert "it may have accepted the upload" in stderr
    assert "Traceback" not in stderr
    assert server.requests == [KEY_CHECK, ("POST", "/v1/ingestion/")]
    last = psykhe("status", "--last", env=env)  # written to the history, as unknown
    assert last.returncode == 8, last.stderr
    assert "got no ingestion id back" in last.stderr


def test_a_deeply_nested_202_is_outcome_unknown_not_a_crash(home: Path, feed: Path) -> None:
    nested = b"[" * 200_000 + b"]" * 200_000

    def answer(method: str, path: str, connection: socket.socket) -> None:
        connection.sendall(envelope_answer("202 Accepted", nested))

    with StandIn(answer) as server:
        env = env_for(home, server)
        out = psykhe("push", str(feed), "--json", env=env)
    assert out.returncode == 8, out.stderr
    assert "without an ingestion id" in out.stderr
    assert "RecursionError" not in out.stderr + out.stdout
    assert orjson.loads(out.stdout)["error"]["code"] == "outcome_unknown"
    assert psykhe("status", "--last", env=env).returncode == 8


# -- 6: trickled answers -------------------------------------------------------------------------


def trickle(data: bytes, connection: socket.socket, stopping: object) -> None:
    for i in range(len(data)):
        connection.sendall(data[i : i + 1])
        if stopping.wait(0.5):
            return


def test_a_status_answer_trickled_byte_by_byte_ends_at_the_timeout(home: Path) -> None:
    server: StandIn

    def answer(method: str, path: str, connection: socket.socket) -> None:
        trickle(status_answer(7, 4), connection, server.stopping)

    with StandIn(answer) as server:
        env = env_for(home, server, PSYKHE_READ_TIMEOUT="3")
        started = time.monotonic()
        # the answer takes ~80 s to trickle in whole; every byte comes well within 3 s
        out = psykhe("status", "7", "--watch", "--timeout", "5", env=env, timeout=60)
        elapsed = time.monotonic() - started
    assert out.returncode == 10, out.stderr
    assert "no complete answer came within" in out.stderr
    assert "ingestion 7 is status unknown after waiting 5 s" in out.stderr
    assert elapsed < 20, f"{elapsed:.1f} s"  # generous: the bound is --timeout 5 s


def test_an_upload_answer_trickled_byte_by_byte_is_outcome_unknown_at_the_read_timeout(
    home: Path, feed: Path
) -> None:
    server: StandIn

    def answer(method: str, path: str, connection: socket.socket) -> None:
        trickle(envelope_answer("202 Accepted", ACCEPTED), connection, server.stopping)

    with StandIn(answer) as server:
        env = env_for(home, server, PSYKHE_READ_TIMEOUT="2")
        started = time.monotonic()
        out = psykhe("push", str(feed), env=env, timeout=60)
        elapsed = time.monotonic() - started
    assert out.returncode == 8, out.stderr
    assert "no complete answer came within the read timeout (2 s)" in out.stderr
    assert server.requests == [KEY_CHECK, ("POST", "/v1/ingestion/")]  # never sent again
    assert elapsed < 20, f"{elapsed:.1f} s"  # generous: the bound is the 2 s read timeout


# -- 7: a status answer about another ingestion ------------------------------------------------


def test_a_status_answer_about_another_ingestion_is_a_protocol_error(
    home: Path, feed: Path
) -> None:
    def answer(method: str, path: str, connection: socket.socket) -> None:
        if method == "POST":
            connection.sendall(envelope_answer("202 Accepted", ACCEPTED))
        else:
            connection.sendall(status_answer(2, 4))  # ingestion 2 completed; asked about 1

    with StandIn(answer) as server:
        env = env_for(home, server)
        out = psykhe("push", str(feed), "--poll-interval", "0.05", "--json", env=env)
        shown = psykhe("status", "1", env=env)
    assert out.returncode == 8, out.stderr
    assert "asked for the status of ingestion 1, the server answered about ingestion 2" in (
        out.stderr
    )
    assert "ingestion 1 was accepted" in out.stderr
    report = orjson.loads(out.stdout)
    assert (report["status"], report["error"]["code"]) == ("created", "protocol_error")
    assert shown.returncode == 8, shown.stderr
    assert "status: completed" not in shown.stdout


# -- 8: the key echoed back --------------------------------------------------------------------

_ESCAPED = "".join(f"\\u{ord(ch):04x}" for ch in KEY.upper())

ECHOES = {
    # the reason phrase of a gateway, upper-cased
    "reason": f"HTTP/1.1 502 Bad key {KEY.upper()}\r\nContent-Length: 0\r\n\r\n".encode(),
    # an error message spelling the key with JSON escapes, in a body a gateway lower-cased
    "body": envelope_answer(
        "401 Unauthorized",
        b'{"errors":[{"code":"unauthorized","message":"no key like '
        + _ESCAPED.encode()
        + b'","context":null,"extra":null}],"data":null,"note":"'
        + KEY.lower().encode()
        + b'"}',
    ),
    # a redirect whose host is the key, lower-cased as hosts are
    "location": (
        f"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{KEY.lower()}.example.com/\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode(),
}


def _pieces(text: str) -> list[str]:
    lowered = text.lower()
    return [KEY[i : i + 8] for i in range(len(KEY) - 7) if KEY[i : i + 8].lower() in lowered]


def _files(root: Path) -> Iterator[Path]:
    return (path for path in root.rglob("*") if path.is_file()) if root.exists() else iter(())


@pytest.mark.parametrize("echo", sorted(ECHOES))
def test_a_key_echoed_by_the_server_in_any_case_never_shows(
    home: Path, feed: Path, echo: str
) -> None:
    def answer(method: str, path: str, connection: socket.socket) -> None:
        connection.sendall(ECHOES[echo])

    with StandIn(answer) as server:
        env = env_for(home, server)
        out = psykhe("push", str(feed), "--json", "--debug", "--retries", "0", env=env)
        last = psykhe("status", "--last", "--json", env=env)
    assert out.returncode in (4, 6, 8), out.stderr
    assert "[redacted]" in out.stderr
    texts = [out.stdout, out.stderr, last.stdout, last.stderr]
    texts += [path.read_text("utf-8", "replace") for path in _files(home / "state")]
    for text in texts:
        assert not _pieces(text), text
    assert not re.search(r"mixedcase", "".join(texts), re.IGNORECASE)
