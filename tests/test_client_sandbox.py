"""IngestionClient over real HTTP against the sandbox and its faults (127.0.0.1 only)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from psykhe_cli.client import IngestionClient, RetryPolicy, make_http_client
from psykhe_cli.config import Settings, load_settings
from psykhe_cli.errors import (
    AuthError,
    OutcomeUnknown,
    PayloadTooLarge,
    RejectedError,
    TransientError,
)
from psykhe_cli.poll import wait_for_ingestion
from psykhe_cli.sandbox.inspect import SandboxHandle


def _feed(products: int, title_bytes: int = 40) -> bytes:
    lines = []
    for n in range(products):
        product = {
            "product_identifier": f"P-{n}",
            "variant_identifier": f"P-{n}-V",
            "title": os.urandom(title_bytes // 2).hex(),
            "price": 10.0 + n,
        }
        lines.append(json.dumps({"operation": "insert", "product_data": product}))
    return ("\n".join(lines) + "\n").encode()


SMALL = gzip.compress(_feed(3), mtime=0)
# stored (level 0) so it stays ~2 MB on the wire
LARGE = gzip.compress(_feed(2000, title_bytes=1000), compresslevel=0, mtime=0)


def _huge() -> bytes:
    """~9 MB: far more than loopback socket buffers absorb, so a cut is seen mid-write.

    (A body the kernel takes whole before the cut arrives is "handed over": the client
    cannot tell that cut from a reset after the server read it all, and says outcome unknown.)
    """
    return gzip.compress(_feed(8000, title_bytes=1000), compresslevel=0, mtime=0)


@dataclass
class Body:
    data: bytes
    chunk_size: int = 64 * 1024

    @property
    def size(self) -> int:
        return len(self.data)

    def open(self) -> Iterator[bytes]:
        for start in range(0, len(self.data), self.chunk_size):
            yield self.data[start : start + self.chunk_size]


@dataclass
class Recorder:
    sleeps: list[float] = field(default_factory=list)
    retries: list[tuple[int, float, str]] = field(default_factory=list)
    debug: list[str] = field(default_factory=list)


def _settings(tmp_path: Path, base_url: str, api_key: str, **options: Any) -> Settings:
    env = {"HOME": str(tmp_path), "PSYKHE_BASE_URL": base_url, "PSYKHE_API_KEY": api_key}
    return load_settings(environ=env, **options)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client_for(tmp_path: Path, recorder: Recorder) -> Iterator[Any]:
    """``client_for(sandbox, **load_settings options)`` → a client over real HTTP."""
    opened: list[httpx.Client] = []

    def make(sandbox: SandboxHandle, **options: Any) -> IngestionClient:
        settings = _settings(tmp_path, sandbox.base_url, sandbox.api_key, **options)
        http = make_http_client(settings)
        opened.append(http)
        return IngestionClient.from_settings(
            settings,
            http,
            policy=RetryPolicy(retries=settings.retries),
            sleep=recorder.sleeps.append,
            on_retry=lambda *a: recorder.retries.append(a),
            on_debug=recorder.debug.append,
        )

    yield make
    for http in opened:
        http.close()


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def test_create_then_poll_to_completed(sandbox: SandboxHandle, client_for: Any) -> None:
    client = client_for(sandbox)
    created = client.create_ingestion(Body(SMALL), mode="soft_replace")
    assert (created.http_status, created.attempts) == (202, 1)
    done = wait_for_ingestion(client, created.ingestion_id, timeout=10, poll_interval=0.02)
    assert (done.id, done.status_name, done.mode, done.client_id) == (
        created.ingestion_id,
        "completed",
        "soft_replace",
        sandbox.client_id,
    )
    [post, *gets] = sandbox.requests()
    assert (post["method"], post["mode"], post["complete"], post["sha1"]) == (
        "POST",
        "soft_replace",
        True,
        _sha1(SMALL),
    )
    assert post["headers"]["content-encoding"] == "gzip"
    assert post["headers"]["content-length"] == str(len(SMALL))
    assert post["headers"]["x-psykhe-api-key"] == "[redacted]"
    assert gets and all(g["method"] == "GET" for g in gets)


def test_connection_refused_is_retried_then_nothing_was_sent(
    tmp_path: Path, recorder: Recorder, client_for: Any
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = SandboxHandle(f"http://127.0.0.1:{port}", api_key="sk_test_nobody_listens")
    client = client_for(closed, retries=2)
    with pytest.raises(TransientError) as caught:
        client.create_ingestion(Body(SMALL), mode="insert")
    assert caught.value.message.endswith("; nothing was sent (no connection)")
    assert len(recorder.sleeps) == 2


def test_503_with_retry_after_then_one_ingestion_with_identical_bodies(
    sandbox: SandboxHandle, client_for: Any, recorder: Recorder
) -> None:
    sandbox.set_faults(respond={"status": 503, "retry_after": 2})
    created = client_for(sandbox).create_ingestion(Body(SMALL), mode="soft_replace")
    assert created.attempts == 2
    assert recorder.sleeps == [2.0]
    first, second = sandbox.requests()
    assert (first["status"], second["status"]) == (503, 202)
    assert first["sha1"] == second["sha1"] == _sha1(SMALL)
    modes = [r["headers"]["x-psykhe-processing-mode"] for r in (first, second)]
    assert modes == ["soft_replace", "soft_replace"]
    assert [i["id"] for i in sandbox.ingestions()] == [created.ingestion_id]


def test_connection_cut_mid_body_is_retried_with_exactly_one_ingestion(
    sandbox: SandboxHandle, client_for: Any, recorder: Recorder
) -> None:
    sandbox.set_faults(drop={"after_bytes": 65536})
    huge = _huge()
    created = client_for(sandbox).create_ingestion(
        Body(huge), mode="insert", on_retry=lambda *a: recorder.retries.append(a)
    )
    assert created.attempts == 2
    assert recorder.retries[0][2].endswith("before the whole body was sent")
    cut, whole = sandbox.requests()
    assert (cut["complete"], cut["status"]) == (False, None)
    assert (whole["complete"], whole["sha1"]) == (True, _sha1(huge))
    assert len(sandbox.ingestions()) == 1


def test_reset_after_whole_body_is_outcome_unknown_without_retry(
    sandbox: SandboxHandle, client_for: Any
) -> None:
    sandbox.set_faults(drop={})
    with pytest.raises(OutcomeUnknown) as caught:
        client_for(sandbox).create_ingestion(Body(SMALL), mode="insert")
    assert caught.value.message.startswith(f"the whole upload ({len(SMALL)} bytes) was sent, then")
    assert len(sandbox.requests()) == 1


@pytest.mark.parametrize("status", [500, 502, 504])
def test_5xx_after_body_is_outcome_unknown(
    sandbox: SandboxHandle, client_for: Any, status: int
) -> None:
    sandbox.set_faults(respond={"status": status, "body": "html"})
    with pytest.raises(OutcomeUnknown, match=f"answered HTTP {status}"):
        client_for(sandbox).create_ingestion(Body(SMALL), mode="insert")
    assert len(sandbox.requests()) == 1


def test_no_answer_within_read_timeout_is_outcome_unknown(
    sandbox: SandboxHandle, client_for: Any
) -> None:
    sandbox.set_faults(delay={"before_answer": 2.0})
    with pytest.raises(
        OutcomeUnknown, match=r"no complete answer came within the read timeout \(0\.3 s\)"
    ):
        client_for(sandbox, read_timeout=0.3).create_ingestion(Body(SMALL), mode="insert")
    assert len(sandbox.requests()) == 1


def test_early_401_before_the_body_is_read_is_auth_error(
    sandbox: SandboxHandle, client_for: Any
) -> None:
    sandbox.set_faults(respond={"status": 401, "early": True})
    with pytest.raises(AuthError, match="HTTP 401"):
        client_for(sandbox).create_ingestion(Body(LARGE), mode="insert")
    assert len(sandbox.requests()) == 1


def test_unknown_key_is_auth_error(sandbox: SandboxHandle, client_for: Any) -> None:
    stranger = SandboxHandle(sandbox.base_url, api_key="sk_test_unknown_key_000000")
    with pytest.raises(AuthError):
        client_for(stranger).create_ingestion(Body(SMALL), mode="insert")


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_to_another_sandbox_is_not_followed(
    sandbox: SandboxHandle, sandbox_factory: Any, client_for: Any, status: int
) -> None:
    elsewhere = sandbox_factory()
    location = f"{elsewhere.ingestion_url}?from=redirect"
    sandbox.set_faults(redirect={"status": status, "location": location, "on": "any", "count": 2})
    client = client_for(sandbox)
    port = elsewhere.base_url.rsplit(":", 1)[1]
    with pytest.raises(RejectedError, match=f"redirecting to http://127.0.0.1:{port};"):
        client.create_ingestion(Body(SMALL), mode="insert")
    with pytest.raises(RejectedError, match="psykhe does not follow redirects"):
        client.get_ingestion(1)
    assert elsewhere.requests() == []


def test_status_of_unknown_id_is_not_found(sandbox: SandboxHandle, client_for: Any) -> None:
    with pytest.raises(RejectedError) as caught:
        client_for(sandbox).get_ingestion(999_999)
    assert (caught.value.http_status, caught.value.api_code) == (404, "not_found")


def test_status_retries_5xx_then_reads_it(
    sandbox: SandboxHandle, client_for: Any, recorder: Recorder
) -> None:
    client = client_for(sandbox)
    created = client.create_ingestion(Body(SMALL), mode="insert")
    sandbox.set_faults(respond={"status": 502, "body": "html", "on": "status", "count": 2})
    ingestion = client.get_ingestion(created.ingestion_id)
    assert ingestion.id == created.ingestion_id
    assert [r[2] for r in recorder.retries] == ["HTTP 502 Bad Gateway"] * 2


def test_payload_too_large_is_distinguishable(sandbox_factory: Any, client_for: Any) -> None:
    small_limit = sandbox_factory(max_body_mb=0.001)
    with pytest.raises(PayloadTooLarge) as caught:
        client_for(small_limit).create_ingestion(Body(LARGE), mode="insert")
    assert (caught.value.http_status, caught.value.api_code) == (413, "payload_too_large")


def test_html_error_page_gives_status_not_traceback(
    sandbox: SandboxHandle, client_for: Any
) -> None:
    sandbox.set_faults(respond={"status": 400, "body": "html"})
    with pytest.raises(RejectedError) as caught:
        client_for(sandbox).create_ingestion(Body(SMALL), mode="insert")
    assert caught.value.message.startswith(
        "the server rejected the upload (HTTP 400 Bad Request): not a JSON error: "
    )
    assert "text/html" in caught.value.message


def test_debug_lines_over_real_http_hold_no_key(
    sandbox: SandboxHandle, client_for: Any, recorder: Recorder
) -> None:
    sandbox.set_faults(respond={"status": 503, "retry_after": 0})
    client = client_for(sandbox)
    created = client.create_ingestion(Body(SMALL), mode="insert")
    client.get_ingestion(created.ingestion_id)
    key = sandbox.api_key
    assert recorder.debug
    assert "> X-PSYKHE-API-KEY: [redacted]" in recorder.debug
    for line in recorder.debug:
        assert not any(key[i : i + 8] in line for i in range(len(key) - 7)), line
