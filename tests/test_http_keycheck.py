"""The key checked before a body goes: ``IngestionClient.check_key`` over real HTTP on
127.0.0.1 (the sandbox, and stand-ins for what it never answers), and ``KeyCheck``'s thread."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from psykhe_cli import threads
from psykhe_cli.client import IngestionClient, KeyCheck, KeyStatus, KeyVerdict, make_http_client
from psykhe_cli.config import load_settings
from psykhe_cli.errors import AuthError, ExitCode
from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import closed_port
from tests.standin import StandIn, envelope_answer

KEY = "sk_live_checked_key_0123456789"


@pytest.fixture
def client_for(tmp_path: Path) -> Iterator[Any]:
    """``client_for(base_url, api_key, debug=None)`` → a client over real HTTP."""
    opened: list[httpx.Client] = []

    def make(base_url: str, api_key: str, debug: list[str] | None = None) -> IngestionClient:
        env = {"HOME": str(tmp_path), "PSYKHE_BASE_URL": base_url, "PSYKHE_API_KEY": api_key}
        settings = load_settings(environ=env)
        http = make_http_client(settings)
        opened.append(http)
        on_debug = debug.append if debug is not None else None
        return IngestionClient.from_settings(settings, http, on_debug=on_debug)

    yield make
    for http in opened:
        http.close()


def _answering(status: str, body: bytes, content_type: str = "application/json") -> Any:
    def answer(method: str, path: str, connection: socket.socket) -> None:
        connection.sendall(
            envelope_answer(status, body).replace(
                b"Content-Type: application/json", f"Content-Type: {content_type}".encode()
            )
        )

    return answer


def _error(code: str, message: str) -> bytes:
    errors = [{"code": code, "message": message, "context": None, "extra": None}]
    return orjson.dumps({"errors": errors, "meta": None, "data": None})


# -- the sandbox: the contract's two answers ---------------------------------------------------


def test_check_key_with_the_sandbox_key_is_accepted(
    sandbox: SandboxHandle, client_for: Any
) -> None:
    verdict = client_for(sandbox.base_url, sandbox.api_key).check_key()
    assert verdict == KeyVerdict(
        status=KeyStatus.ACCEPTED,
        reason="HTTP 404 Not Found: not_found: ingestion 0 not found",
        key_source="PSYKHE_API_KEY",
        http_status=404,
    )
    [request] = sandbox.requests()
    assert (request["method"], request["path"], request["status"]) == (
        "GET",
        "/v1/ingestion/0",
        404,
    )
    assert sandbox.ingestions() == []  # nothing was created or touched


def test_check_key_with_a_wrong_key_is_refused_with_the_auth_error(
    sandbox: SandboxHandle, client_for: Any
) -> None:
    debug: list[str] = []
    verdict = client_for(sandbox.base_url, KEY, debug).check_key()
    assert (verdict.status, verdict.http_status) == (KeyStatus.REFUSED, 401)
    assert verdict.reason == (
        "HTTP 401 Unauthorized: unauthorized: missing or invalid X-PSYKHE-API-KEY"
    )
    error = verdict.error("nothing was sent")
    assert isinstance(error, AuthError)
    assert error.exit_code == ExitCode.CONFIG == 4
    assert error.message == (
        "the server rejected the API key from PSYKHE_API_KEY (HTTP 401 Unauthorized: "
        "unauthorized: missing or invalid X-PSYKHE-API-KEY); nothing was sent"
    )
    assert len(sandbox.requests()) == 1  # one request, never retried
    assert KEY not in "\n".join(debug)
    assert "> X-PSYKHE-API-KEY: [redacted]" in debug


# -- anything else is "not known" ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "content_type", "reason"),
    [
        (
            "500 Internal Server Error",
            _error("internal_error", "boom"),
            "application/json",
            "HTTP 500 Internal Server Error: internal_error: boom",
        ),
        (
            "502 Bad Gateway",
            b"<html><body>bad gateway</body></html>",
            "text/html",
            "HTTP 502 Bad Gateway: not a JSON error: 37 bytes of text/html",
        ),
        (
            "404 Not Found",
            b"<html><body>no such page</body></html>",
            "text/html",
            "HTTP 404 Not Found: not a JSON error: 38 bytes of text/html",
        ),
        (
            "403 Forbidden",
            _error("forbidden", "not for this key"),
            "application/json",
            "HTTP 403 Forbidden: forbidden: not for this key",
        ),
        (
            "200 OK",
            orjson.dumps({"errors": None, "meta": None, "data": {"id": 0}}),
            "application/json",
            "HTTP 200 OK for ingestion 0, which cannot exist",
        ),
        (
            "302 Found",
            b"",
            "text/html",
            "HTTP 302 Found: not a JSON error: an empty body",
        ),
    ],
)
def test_check_key_answered_otherwise_is_unknown(
    client_for: Any, status: str, body: bytes, content_type: str, reason: str
) -> None:
    with StandIn(_answering(status, body, content_type)) as server:
        verdict = client_for(server.base_url, KEY).check_key()
    assert (verdict.status, verdict.reason) == (KeyStatus.UNKNOWN, reason)
    assert server.requests == [("GET", "/v1/ingestion/0")]  # one attempt, never retried


def test_check_key_with_no_answer_is_unknown_at_its_deadline(client_for: Any) -> None:
    def silent(method: str, path: str, connection: socket.socket) -> None:
        server.stopping.wait()

    with StandIn(silent) as server:
        verdict = client_for(server.base_url, KEY).check_key(deadline=0.3)
    assert (verdict.status, verdict.reason) == (
        KeyStatus.UNKNOWN,
        "no complete answer came within 0.3 s",
    )


def test_check_key_with_a_trickling_answer_is_unknown_at_its_deadline(client_for: Any) -> None:
    def trickle(method: str, path: str, connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 100000\r\n\r\n")
        while not server.stopping.wait(0.05):  # a byte at a time, never the whole answer
            connection.sendall(b" ")

    with StandIn(trickle) as server:
        verdict = client_for(server.base_url, KEY).check_key(deadline=0.3)
    assert (verdict.status, verdict.reason) == (
        KeyStatus.UNKNOWN,
        "no complete answer came within 0.3 s",
    )


def test_check_key_without_a_server_is_unknown(client_for: Any) -> None:
    verdict = client_for(f"http://127.0.0.1:{closed_port()}", KEY).check_key()
    assert verdict.status is KeyStatus.UNKNOWN
    assert verdict.reason.startswith("cannot connect")
    assert verdict.http_status is None


def test_check_key_never_shows_the_key_a_server_echoes(client_for: Any) -> None:
    with StandIn(_answering("401 Unauthorized", _error("unauthorized", f"bad {KEY}"))) as server:
        verdict = client_for(server.base_url, KEY).check_key()
    assert verdict.status is KeyStatus.REFUSED
    assert KEY[8:20] not in verdict.reason + verdict.error().message
    assert "[redacted]" in verdict.reason


# -- KeyCheck: the check on a thread, waited for no longer than its deadline -------------------


def _verdict(status: KeyStatus) -> KeyVerdict:
    return KeyVerdict(status=status, reason="why", key_source="PSYKHE_API_KEY")


def test_key_check_runs_on_its_thread_and_gives_the_verdict() -> None:
    ran_on: list[str] = []

    def check() -> KeyVerdict:
        ran_on.append(threading.current_thread().name)
        return _verdict(KeyStatus.REFUSED)

    key_check = KeyCheck(check, key_source="PSYKHE_API_KEY")
    assert (key_check.started, key_check.done()) == (False, None)
    key_check.start()
    assert key_check.started
    key_check.start()  # once only
    assert key_check.verdict() == _verdict(KeyStatus.REFUSED)
    assert key_check.done() == _verdict(KeyStatus.REFUSED)
    assert ran_on == ["psykhe-key-check"]


def test_key_check_still_running_at_its_deadline_is_unknown() -> None:
    release = threading.Event()

    def check() -> KeyVerdict:
        release.wait()
        return _verdict(KeyStatus.ACCEPTED)

    key_check = KeyCheck(check, key_source="--api-key-file /etc/psykhe/key", deadline=0.1)
    try:
        assert key_check.verdict() == KeyVerdict(
            status=KeyStatus.UNKNOWN,
            reason="no answer within 0.1 s",
            key_source="--api-key-file /etc/psykhe/key",
        )
        assert key_check.done() is None
    finally:
        release.set()


def test_key_check_raises_what_its_check_raised() -> None:
    def check() -> KeyVerdict:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        KeyCheck(check, key_source="PSYKHE_API_KEY").verdict()


def test_key_check_never_starts_while_workers_may_be_forked() -> None:
    key_check = KeyCheck(lambda: _verdict(KeyStatus.ACCEPTED), key_source="PSYKHE_API_KEY")
    with threads.fork_ahead(), pytest.raises(threads.ThreadTooEarly, match="psykhe-key-check"):
        key_check.start()
