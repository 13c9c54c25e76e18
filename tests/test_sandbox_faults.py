"""Fault injection: every rule kind, over real HTTP (and raw sockets for resets)."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx
import pytest

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.test_sandbox_api import client, error_of, get, line, post

BODY = line("A") + line("B")


def raw_request(sandbox: SandboxHandle, body: bytes, *, declared: int | None = None) -> bytes:
    """Send one create request on a raw socket; what came back (b"" on FIN)."""
    host, port = sandbox.base_url.removeprefix("http://").split(":")
    head = (
        f"POST /v1/ingestion/ HTTP/1.1\r\nHost: x\r\nContent-Length: {declared or len(body)}\r\n"
        f"X-PSYKHE-API-KEY: {sandbox.api_key}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head + body)
        return sock.recv(65536)


def statuses(sandbox: SandboxHandle) -> list[int | None]:
    return [r["status"] for r in sandbox.requests()]


def test_respond_answers_the_next_creates_then_stops(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(respond={"status": 503, "retry_after": 2, "count": 2})
    first, second, third = (post(sandbox, BODY) for _ in range(3))
    assert (first.status_code, first.headers["retry-after"]) == (503, "2")
    assert error_of(first) == {
        "code": "service_unavailable",
        "message": "Service Unavailable",
        "context": None,
        "extra": None,
    }
    assert second.status_code == 503
    assert third.json() == {"errors": None, "meta": None, "data": {"ingestion_id": 1}}
    assert [r["faults"] for r in sandbox.requests()] == [["respond"], ["respond"], []]
    assert [r["complete"] for r in sandbox.requests()] == [True, True, True]
    assert sandbox.faults() == []


@pytest.mark.parametrize(
    ("status", "code"),
    [(429, "rate_limited"), (500, "internal_error"), (504, "gateway_timeout"), (418, "http_418")],
)
def test_respond_error_code_matches_the_status(
    sandbox: SandboxHandle, status: int, code: str
) -> None:
    sandbox.set_faults(respond={"status": status})
    response = post(sandbox, BODY)
    assert (response.status_code, error_of(response)["code"]) == (status, code)
    assert sandbox.ingestions() == []


def test_respond_with_own_code_message_and_context(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(
        respond={
            "status": 422,
            "code": "validation_error",
            "message": "bad",
            "context": {"line": 12},
        }
    )
    assert error_of(post(sandbox, BODY)) == {
        "code": "validation_error",
        "message": "bad",
        "context": {"line": 12},
        "extra": None,
    }


def test_respond_html_body_as_a_proxy_sends_it(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(respond={"status": 502, "body": "html"})
    response = post(sandbox, BODY)
    assert response.status_code == 502
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text.startswith("<html><head><title>502 Bad Gateway</title>")


def test_respond_empty_body(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(respond={"status": 503, "body": "empty"})
    response = post(sandbox, BODY)
    assert (response.status_code, response.content) == (503, b"")


def test_respond_2xx_processes_the_upload_and_changes_only_the_answer(
    sandbox: SandboxHandle,
) -> None:
    sandbox.set_faults(respond={"status": 200, "body": "bare"})
    response = post(sandbox, BODY)
    assert (response.status_code, response.json()) == (200, {"ingestion_id": 1})
    assert sandbox.wait_for(1)["status"] == 4


def test_respond_2xx_html_still_creates_the_ingestion(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(respond={"status": 200, "body": "html"})
    response = post(sandbox, BODY)
    assert response.headers["content-type"].startswith("text/html")
    assert sandbox.wait_for(1)["status"] == 4


def test_respond_on_status_leaves_creates_alone(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(respond={"status": 503, "on": "status", "count": None})
    assert post(sandbox, BODY).status_code == 202
    for _ in range(3):
        assert get(sandbox.status_url(1), sandbox.headers()).status_code == 503
    assert statuses(sandbox) == [202, 503, 503, 503]
    assert sandbox.faults()[0]["count"] is None
    sandbox.clear_faults()
    assert get(sandbox.status_url(1), sandbox.headers()).status_code == 200


def test_respond_on_any_applies_to_both(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(respond={"status": 500, "on": "any", "count": 2})
    assert post(sandbox, BODY).status_code == 500
    assert get(sandbox.status_url(1), sandbox.headers()).status_code == 500
    assert post(sandbox, BODY).status_code == 202


def test_respond_early_answers_before_reading_the_body(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(respond={"status": 401, "early": True})
    response = post(sandbox, line("A") * 20_000)  # larger than any socket buffer
    assert (response.status_code, error_of(response)["code"]) == (401, "unauthorized")
    [request] = sandbox.requests()
    assert (request["body_bytes"], request["complete"]) == (0, False)
    assert post(sandbox, BODY).status_code == 202  # the server is fine afterwards


def test_redirect_points_elsewhere_and_creates_nothing(
    sandbox: SandboxHandle, sandbox_factory: Any
) -> None:
    target = sandbox_factory(keys={sandbox.api_key: "elsewhere"})
    sandbox.set_faults(redirect={"status": 307, "location": target.ingestion_url})
    with client() as http:
        response = http.post(sandbox.ingestion_url, content=BODY, headers=sandbox.headers())
    assert (response.status_code, response.headers["location"]) == (307, target.ingestion_url)
    assert error_of(response)["code"] == "redirect"
    assert sandbox.ingestions() == []
    sandbox.set_faults(redirect={"status": 308, "location": target.ingestion_url})
    with httpx.Client(verify=False, trust_env=False, follow_redirects=True) as http:
        followed = http.post(sandbox.ingestion_url, content=BODY, headers=sandbox.headers())
    assert (followed.status_code, followed.json()["data"]) == (202, {"ingestion_id": 1})
    assert target.wait_for(1)["client_id"] == "elsewhere"


def test_drop_after_bytes_resets_the_connection_mid_body(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(drop={"after_bytes": 1000})
    with pytest.raises(ConnectionResetError):
        raw_request(sandbox, BODY * 200, declared=len(BODY) * 400)
    [request] = sandbox.requests()
    assert request["body_bytes"] >= 1000
    assert (request["complete"], request["status"], request["faults"]) == (False, None, ["drop"])
    assert sandbox.ingestions() == []


def test_drop_after_the_whole_body_answers_nothing(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(drop={})
    with pytest.raises(ConnectionResetError):
        raw_request(sandbox, BODY)
    [request] = sandbox.requests()
    assert (request["complete"], request["body_bytes"], request["status"]) == (
        True,
        len(BODY),
        None,
    )
    assert sandbox.ingestions() == []


def test_drop_with_accept_records_the_ingestion_but_answers_nothing(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(drop={"accept": True})
    with client() as http, pytest.raises(httpx.TransportError):
        http.post(sandbox.ingestion_url, content=BODY, headers=sandbox.headers())
    assert sandbox.wait_for(1)["status"] == 4
    assert [(r["ingestion_id"], r["status"]) for r in sandbox.requests()] == [(1, None)]


def test_drop_on_status(sandbox: SandboxHandle) -> None:
    post(sandbox, BODY)
    sandbox.set_faults(drop={"on": "status"})
    with pytest.raises(httpx.TransportError):
        get(sandbox.status_url(1), sandbox.headers())
    assert get(sandbox.status_url(1), sandbox.headers()).status_code == 200


def test_delay_before_answer_outlasts_a_client_timeout(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(delay={"before_answer": 0.5})
    with httpx.Client(trust_env=False, timeout=0.2) as http, pytest.raises(httpx.ReadTimeout):
        http.post(sandbox.ingestion_url, content=BODY, headers=sandbox.headers())
    assert sandbox.wait_for(1)["status"] == 4  # the upload itself went through


@pytest.mark.parametrize("where", ["before_body", "before_answer"])
def test_delay_holds_the_answer(sandbox: SandboxHandle, where: str) -> None:
    sandbox.set_faults(delay={where: 0.3})
    started = time.monotonic()
    assert post(sandbox, BODY).status_code == 202
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert post(sandbox, BODY).status_code == 202
    assert time.monotonic() - started < 0.3


def test_delay_combines_with_respond(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(delay={"before_answer": 0.2}, respond={"status": 503})
    started = time.monotonic()
    assert post(sandbox, BODY).status_code == 503
    assert time.monotonic() - started >= 0.2
    assert sandbox.requests()[0]["faults"] == ["delay", "respond"]


def test_slow_read_throttles_the_upload(sandbox: SandboxHandle) -> None:
    body = line("A", pad="x" * 1000) * 200  # ~210 kB
    sandbox.set_faults(slow_read={"bytes_per_second": 500_000})
    started = time.monotonic()
    assert post(sandbox, body).status_code == 202
    assert time.monotonic() - started >= 0.35


def test_stalled_ingestion_stays_started(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(ingestion={"outcome": "stalled"})
    post(sandbox, BODY)
    post(sandbox, BODY)
    assert sandbox.wait_for(2)["status"] == 4
    time.sleep(0.2)
    assert sandbox.ingestion(1)["status"] == 3
    assert sandbox.ingestion(1)["forced_outcome"] == "stalled"


def test_forced_failure_applies_to_the_next_accepted_ingestion_only(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(ingestion={"outcome": "failed"})
    assert post(sandbox, b"").status_code == 400  # rejected: not the ingestion meant
    post(sandbox, BODY)
    post(sandbox, BODY)
    assert [sandbox.wait_for(i)["status"] for i in (1, 2, 3)] == [5, 5, 4]
    assert sandbox.ingestion(2)["error"]["code"] == "forced_failure"


def test_faults_apply_in_order_and_reset_clears_them(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(respond=[{"status": 429}, {"status": 503}])
    sandbox.set_faults(respond={"status": 502})
    assert [f["status"] for f in sandbox.faults()] == [429, 503, 502]
    assert [post(sandbox, BODY).status_code for _ in range(4)] == [429, 503, 502, 202]
    sandbox.set_faults(respond={"status": 500, "count": None})
    sandbox.reset()
    assert sandbox.faults() == []
    assert post(sandbox, BODY).status_code == 202


@pytest.mark.parametrize(
    "document",
    [
        {"explode": {}},
        {"respond": {}},
        {"respond": {"status": 503, "count": 0}},
        {"respond": {"status": 503, "on": "everything"}},
        {"respond": {"status": 503, "body": "xml"}},
        {"redirect": {"status": 200, "location": "http://127.0.0.1:1/"}},
        {"redirect": {}},
        {"drop": {"after_bytes": -1}},
        {"drop": {"early": True}},
        {"delay": {"before_body": "soon"}},
        {"slow_read": {"bytes_per_second": 0}},
        {"ingestion": {"outcome": "maybe"}},
    ],
)
def test_a_bad_fault_document_is_400(sandbox: SandboxHandle, document: dict[str, Any]) -> None:
    with client() as http:
        response = http.post(sandbox.base_url + "/_sandbox/faults", json=document)
    assert (response.status_code, error_of(response)["code"]) == (400, "validation_error")
    assert sandbox.faults() == []


def test_start_up_faults(sandbox_factory: Any) -> None:
    faulty = sandbox_factory(faults=({"respond": {"status": 503, "count": 1}},))
    assert [post(faulty, BODY).status_code for _ in range(2)] == [503, 202]
