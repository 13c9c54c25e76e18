"""The sandbox's vendor endpoints, every contract row, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import gzip
import hashlib
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from psykhe_cli.sandbox.inspect import SandboxHandle
from psykhe_cli.sandbox.store import Store


def line(product_identifier: str, variant_identifier: str | None = None, **fields: Any) -> bytes:
    """One body line in the documented shape."""
    product: dict[str, Any] = {"product_identifier": product_identifier, **fields}
    if variant_identifier is not None:
        product["variant_identifier"] = variant_identifier
    return orjson.dumps({"operation": "insert", "product_data": product}) + b"\n"


def client() -> httpx.Client:
    """A client for plain HTTP on loopback (no CA bundle, no proxy settings)."""
    return httpx.Client(verify=False, trust_env=False, timeout=10)


def post(
    sandbox: SandboxHandle, body: Any, mode: str | None = None, **headers: str
) -> httpx.Response:
    with client() as http:
        return http.post(
            sandbox.ingestion_url, content=body, headers={**sandbox.headers(mode), **headers}
        )


def get(url: str, headers: dict[str, str]) -> httpx.Response:
    with client() as http:
        return http.get(url, headers=headers)


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body["data"] is None and body["meta"] is None
    assert len(body["errors"]) == 1
    entry: dict[str, Any] = body["errors"][0]
    assert set(entry) == {"code", "message", "context", "extra"}
    return entry


BODY = line("111F-UU1", "111F-UU1", title="Antioxidant Essence", price=105.0) + line(
    "222F-AB2", "222F-AB2"
)
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_create_plain_body_answers_202_with_the_documented_envelope(sandbox: SandboxHandle) -> None:
    response = post(sandbox, BODY)
    assert response.status_code == 202
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"errors": None, "meta": None, "data": {"ingestion_id": 1}}


def test_create_gzip_body_is_decompressed_and_hashed_as_received(sandbox: SandboxHandle) -> None:
    compressed = gzip.compress(BODY)
    response = post(sandbox, compressed, **{"Content-Encoding": "gzip"})
    assert response.status_code == 202
    done = sandbox.wait_for(1)
    assert done["file_identifier"] == hashlib.sha1(compressed).hexdigest()
    assert done["product_metrics"] == {
        "lines": 2,
        "upserted": 2,
        "deactivated": 0,
        "failed_lines": 0,
    }


def test_create_concatenated_gzip_members_are_one_body(sandbox: SandboxHandle) -> None:
    body = gzip.compress(line("A")) + gzip.compress(line("B"))
    assert post(sandbox, body, **{"Content-Encoding": "gzip"}).status_code == 202
    assert sandbox.wait_for(1)["product_metrics"]["lines"] == 2


def test_create_chunked_body_is_accepted(sandbox: SandboxHandle) -> None:
    def chunks() -> Iterator[bytes]:
        yield line("A")
        yield line("B")[:10]
        yield line("B")[10:]

    response = post(sandbox, chunks())
    assert response.status_code == 202
    assert sandbox.requests()[0]["headers"]["transfer-encoding"] == "chunked"
    assert sandbox.wait_for(1)["product_metrics"]["upserted"] == 2


def test_create_content_length_body_is_recorded_whole(sandbox: SandboxHandle) -> None:
    post(sandbox, BODY)
    [request] = sandbox.requests()
    assert request["headers"]["content-length"] == str(len(BODY))
    assert (request["body_bytes"], request["complete"]) == (len(BODY), True)
    assert request["sha1"] == hashlib.sha1(BODY).hexdigest()
    assert (request["status"], request["ingestion_id"], request["mode"]) == (202, 1, "insert")


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-PSYKHE-API-KEY": "sk_not_a_known_key"}, {"X-PSYKHE-API-KEY": "pk_public_key"}],
    ids=["missing", "unknown", "public"],
)
def test_create_without_a_valid_private_key_is_401(
    sandbox: SandboxHandle, headers: dict[str, str]
) -> None:
    with client() as http:
        response = http.post(sandbox.ingestion_url, content=BODY, headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    assert sandbox.ingestions() == []
    assert sandbox.requests()[0]["complete"] is True  # the body was read before answering


def test_status_without_a_valid_key_is_401(sandbox: SandboxHandle) -> None:
    post(sandbox, BODY)
    response = get(sandbox.status_url(1), headers={"X-PSYKHE-API-KEY": "sk_wrong"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


def test_create_with_an_unknown_mode_is_400_validation_error(sandbox: SandboxHandle) -> None:
    response = post(sandbox, BODY, mode="replace")
    assert response.status_code == 400
    assert error_of(response)["code"] == "validation_error"
    assert sandbox.ingestions() == []


def test_create_with_an_unknown_content_encoding_is_400(sandbox: SandboxHandle) -> None:
    response = post(sandbox, BODY, **{"Content-Encoding": "br"})
    assert (response.status_code, error_of(response)["code"]) == (400, "validation_error")


@pytest.mark.parametrize("body", [b"", b"\n\n  \n"], ids=["no-bytes", "blank-lines"])
def test_create_empty_payload_is_400_with_the_recorded_ingestion_id(
    sandbox: SandboxHandle, body: bytes
) -> None:
    response = post(sandbox, body)
    assert response.status_code == 400
    assert error_of(response) == {
        "code": "payload_empty",
        "message": "Payload is empty",
        "context": {"ingestion_id": 1},
        "extra": None,
    }
    [rejected] = sandbox.ingestions()
    assert (rejected["status"], rejected["product_metrics"]) == (5, None)
    assert rejected["error"]["code"] == "payload_empty"


def test_create_gzip_of_nothing_is_payload_empty(sandbox: SandboxHandle) -> None:
    response = post(sandbox, gzip.compress(b""), **{"Content-Encoding": "gzip"})
    assert (response.status_code, error_of(response)["code"]) == (400, "payload_empty")


def test_create_unreadable_gzip_is_400_validation_error_and_no_ingestion(
    sandbox: SandboxHandle,
) -> None:
    response = post(sandbox, b"this is not gzip", **{"Content-Encoding": "gzip"})
    assert (response.status_code, error_of(response)["code"]) == (400, "validation_error")
    assert sandbox.ingestions() == []


def test_create_truncated_gzip_is_400_and_logged_incomplete(sandbox: SandboxHandle) -> None:
    response = post(sandbox, gzip.compress(BODY * 50)[:-20], **{"Content-Encoding": "gzip"})
    assert (response.status_code, error_of(response)["code"]) == (400, "validation_error")
    assert sandbox.ingestions() == []
    assert [(r["complete"], r["sha1"], r["ingestion_id"]) for r in sandbox.requests()] == [
        (False, None, None)
    ]


def test_create_over_the_limit_is_413_counted_after_decompression(sandbox_factory: Any) -> None:
    small = sandbox_factory(max_body_mb=1)  # 1 MiB
    body = b"".join(line(f"P{i:07d}", pad="x" * 100) for i in range(12_000))  # ~1.6 MB raw
    compressed = gzip.compress(body)
    assert len(compressed) < 1024 * 1024 < len(body)
    response = post(small, compressed, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert error_of(response) == {
        "code": "payload_too_large",
        "message": "Payload is too large",
        "context": {"ingestion_id": 1},
        "extra": None,
    }
    [rejected] = small.ingestions()
    assert rejected["status"] == 5
    assert small.products() == []


def test_create_at_the_limit_is_accepted(sandbox_factory: Any) -> None:
    body = line("A") * 10
    exact = sandbox_factory(max_body_mb=len(body) / (1024 * 1024))
    assert post(exact, body).status_code == 202
    assert post(exact, body + b"\n").status_code == 413


def test_status_follows_created_started_completed_with_every_documented_field(
    sandbox: SandboxHandle,
) -> None:
    post(sandbox, BODY, mode="soft_replace")
    seen = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        response = get(sandbox.status_url(1), headers=sandbox.headers())
        assert response.status_code == 200
        data = response.json()["data"]
        if not seen or seen[-1] != data["status"]:
            seen.append(data["status"])
        if data["status"] == 4:
            break
        time.sleep(0.005)
    assert seen == [2, 3, 4]
    assert set(data) == {
        "id", "client_id", "trigger_source", "product_metrics", "file_identifier", "status",
        "created_at", "updated_at",
    }  # fmt: skip
    assert data["id"] == 1
    assert data["client_id"] == sandbox.client_id
    assert data["trigger_source"] == {
        "type": "client", "mode": "soft_replace", "comment": None, "metadata": None, "user": None,
    }  # fmt: skip
    assert data["file_identifier"] == hashlib.sha1(BODY).hexdigest()
    assert ISO_UTC.match(data["created_at"]) and ISO_UTC.match(data["updated_at"])
    assert data["updated_at"] > data["created_at"]


def test_status_metrics_are_null_until_the_end(sandbox: SandboxHandle) -> None:
    post(sandbox, BODY)
    response = get(sandbox.status_url(1), headers=sandbox.headers())
    assert response.json()["data"]["status"] == 2
    assert response.json()["data"]["product_metrics"] is None


def test_status_of_an_unknown_id_is_404_not_found(sandbox: SandboxHandle) -> None:
    response = get(sandbox.status_url(99), headers=sandbox.headers())
    assert (response.status_code, error_of(response)["code"]) == (404, "not_found")


@pytest.mark.parametrize("ingestion_id", [0, 2**63, 10**30])
def test_status_of_an_id_that_cannot_exist_is_401_then_404_as_the_key_check_assumes(
    sandbox: SandboxHandle, ingestion_id: int
) -> None:
    # api-contract.md, "Checking a key": the key is checked before the id is looked up
    url = sandbox.status_url(ingestion_id)
    refused = get(url, headers={"X-PSYKHE-API-KEY": "sk_wrong_key_0123456789"})
    assert (refused.status_code, error_of(refused)["code"]) == (401, "unauthorized")
    accepted = get(url, headers=sandbox.headers())
    assert (accepted.status_code, error_of(accepted)["code"]) == (404, "not_found")


def test_status_of_another_clients_ingestion_is_404(sandbox_factory: Any) -> None:
    two = sandbox_factory(keys={"sk_one": "client-one", "sk_two": "client-two"})
    post(two, BODY)
    other = SandboxHandle(two.base_url, api_key="sk_two", client_id="client-two")
    response = get(other.status_url(1), headers=other.headers())
    assert (response.status_code, error_of(response)["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nowhere", 404, "not_found"),
        ("POST", "/v1/ingestion", 404, "not_found"),  # no slash redirect
        ("GET", "/v1/ingestion/abc", 404, "not_found"),
        ("GET", "/v1/ingestion/", 405, "method_not_allowed"),
        ("DELETE", "/v1/ingestion/1", 405, "method_not_allowed"),
    ],
)
def test_unknown_routes_answer_in_the_envelope(
    sandbox: SandboxHandle, method: str, path: str, status: int, code: str
) -> None:
    with client() as http:
        response = http.request(method, sandbox.base_url + path, headers=sandbox.headers())
    assert (response.status_code, error_of(response)["code"]) == (status, code)


def test_the_key_is_never_shown_in_the_request_log(sandbox: SandboxHandle) -> None:
    post(sandbox, BODY)
    get(sandbox.status_url(1) + f"?api_key={sandbox.api_key}", headers=sandbox.headers())
    text = orjson.dumps(sandbox.requests()).decode()
    assert sandbox.api_key not in text
    assert sandbox.requests()[0]["headers"]["x-psykhe-api-key"] == "[redacted]"


def test_status_requests_are_logged(sandbox: SandboxHandle) -> None:
    post(sandbox, BODY)
    get(sandbox.status_url(1), headers=sandbox.headers())
    assert [(r["method"], r["path"], r["status"]) for r in sandbox.requests()] == [
        ("POST", "/v1/ingestion/", 202),
        ("GET", "/v1/ingestion/1", 200),
    ]


def test_reset_restarts_ids_and_forgets_everything(sandbox: SandboxHandle) -> None:
    post(sandbox, BODY)
    sandbox.wait_for(1)
    sandbox.reset()
    assert (sandbox.requests(), sandbox.ingestions(), sandbox.products()) == ([], [], [])
    assert post(sandbox, BODY).json()["data"] == {"ingestion_id": 1}


def test_body_cut_short_creates_no_ingestion_and_is_logged_incomplete(
    sandbox: SandboxHandle,
) -> None:
    host, port = sandbox.base_url.removeprefix("http://").split(":")
    head = (
        "POST /v1/ingestion/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
        f"X-PSYKHE-API-KEY: {sandbox.api_key}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head + BODY)
        _wait(lambda: sandbox.requests() and sandbox.requests()[0]["body_bytes"] == len(BODY))
    _wait(lambda: sandbox.requests()[0]["status"] is None and _settled(sandbox))
    [request] = sandbox.requests()
    assert (request["complete"], request["ingestion_id"], request["sha1"]) == (False, None, None)
    assert sandbox.ingestions() == []


def _settled(sandbox: SandboxHandle) -> bool:
    time.sleep(0.1)
    return True


def _wait(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_gzip_bomb_is_stopped_at_the_limit(sandbox_factory: Any) -> None:
    small = sandbox_factory(max_body_mb=1)
    bomb = gzip.compress(b"\n" * 64 * 1024 * 1024, compresslevel=1)  # 64 MiB from ~300 kB
    response = post(small, bomb, **{"Content-Encoding": "gzip"})
    assert (response.status_code, error_of(response)["code"]) == (413, "payload_too_large")
    [request] = small.requests()
    assert (request["body_bytes"], request["complete"]) == (len(bomb), True)


def test_an_injected_answer_stands_before_the_key_check(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(respond={"status": 503})
    with client() as http:
        response = http.post(sandbox.ingestion_url, content=BODY)
    assert (response.status_code, error_of(response)["code"]) == (503, "service_unavailable")


def test_a_key_in_the_path_or_query_is_redacted(sandbox: SandboxHandle) -> None:
    get(f"{sandbox.base_url}/v1/{sandbox.api_key}?k={sandbox.api_key}", {})
    [request] = sandbox.requests()
    assert (request["path"], request["query"]) == ("/v1/[redacted]", "k=[redacted]")


def test_an_internal_error_is_a_500_envelope(
    sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(Store, "get_ingestion", broken)
    response = get(sandbox.status_url(1), sandbox.headers())
    assert response.status_code == 500
    assert error_of(response) == {
        "code": "internal_error",
        "message": "internal error in the sandbox",
        "context": None,
        "extra": None,
    }
    assert sandbox.requests()[0]["status"] == 500
