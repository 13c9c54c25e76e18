"""IngestionClient against pytest-httpx, and a bare transport where the body is read halfway."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from psykhe_cli import __version__
from psykhe_cli.client import (
    CreateResult,
    IngestionClient,
    RetryPolicy,
)
from psykhe_cli.config import Secret
from psykhe_cli.errors import (
    AuthError,
    ConfigError,
    ExitCode,
    OutcomeUnknown,
    PayloadTooLarge,
    PsykheError,
    RejectedError,
    TransientError,
    UsageError,
)
from psykhe_cli.ingestion import Ingestion, parse_ingestion_id
from tests.helpers import client_settings

BASE = "https://api.example.test"
POST_URL = f"{BASE}/v1/ingestion/"
KEY = "sk_test_RECOGNISABLE_key_0123456789"
BODY = b"\x1f\x8b" + bytes(range(256)) * 300  # several chunks, not text
ACCEPTED = {"errors": None, "meta": None, "data": {"ingestion_id": 477021}}
# a fixed "now" for HTTP-date Retry-After: Thu, 26 Nov 2026 06:00:00 GMT
NOW = 1795672800.0


@dataclass
class Body:
    """A re-readable body like the spool: fixed chunks, counts how often it was opened."""

    data: bytes = BODY
    chunk_size: int = 16 * 1024
    opened: int = 0

    @property
    def size(self) -> int:
        return len(self.data)

    def open(self) -> Iterator[bytes]:
        self.opened += 1
        for start in range(0, len(self.data), self.chunk_size):
            yield self.data[start : start + self.chunk_size]


@dataclass
class World:
    """Injected sleep/random/now, and everything the callbacks received."""

    sleeps: list[float] = field(default_factory=list)
    retries: list[tuple[int, float, str]] = field(default_factory=list)
    debug: list[str] = field(default_factory=list)

    def on_retry(self, attempt: int, delay: float, reason: str) -> None:
        self.retries.append((attempt, delay, reason))

    def client(self, http: httpx.Client, *, retries: int = 4, rand: float = 0.5) -> IngestionClient:
        return IngestionClient(
            http,
            base_url=BASE,
            api_key=Secret(KEY),
            key_source="PSYKHE_API_KEY",
            policy=RetryPolicy(retries=retries),
            on_retry=self.on_retry,
            on_debug=self.debug.append,
            sleep=self.sleeps.append,
            now=lambda: NOW,
            clock=lambda: 0.0,
            random=lambda: rand,
        )


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(follow_redirects=False) as client:
        yield client


def _create(world: World, http: httpx.Client, **kwargs: Any) -> CreateResult:
    return world.client(http, **kwargs).create_ingestion(
        Body(), mode="soft_replace", on_retry=world.on_retry
    )


def _error(status: int, code: str, message: str, context: Any = None) -> dict[str, Any]:
    return {
        "errors": [{"code": code, "message": message, "context": context, "extra": None}],
        "meta": None,
        "data": None,
    }


# --- the request --------------------------------------------------------------------------


def test_create_sends_documented_headers_and_exact_body(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    httpx_mock.add_response(method="POST", url=POST_URL, status_code=202, json=ACCEPTED)
    result = _create(world, http)
    assert result == CreateResult(ingestion_id=477021, http_status=202, attempts=1)
    [request] = httpx_mock.get_requests()
    assert request.headers["X-PSYKHE-API-KEY"] == KEY
    assert request.headers["X-PSYKHE-PROCESSING-MODE"] == "soft_replace"
    assert request.headers["Content-Type"] == "application/x-ndjson"
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.headers["Content-Length"] == str(len(BODY))
    assert request.headers["User-Agent"] == f"psykhe/{__version__}"
    assert "Transfer-Encoding" not in request.headers
    assert request.content == BODY


def test_create_accepts_bare_ingestion_id_and_any_2xx(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    httpx_mock.add_response(status_code=200, json={"ingestion_id": 1231})
    assert _create(world, http).ingestion_id == 1231


def test_create_refuses_unknown_mode_before_sending(world: World, http: httpx.Client) -> None:
    with pytest.raises(UsageError, match="unknown processing mode 'replace'"):
        world.client(http).create_ingestion(Body(), mode="replace")


# --- 2xx that is not a usable answer ------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"<html>OK</html>",
        b'{"errors": null, "data": {}}',
        b'{"errors": null, "data": {"ingestion_id": null}}',
        b'{"errors": null, "data": {"ingestion_id": true}}',
        b'{"errors": null, "data": {"ingestion_id": -3}}',
        b'{"errors": null, "data": {"ingestion_id": "abc"}}',
        b"[1, 2]",
    ],
)
def test_create_2xx_without_usable_id_is_outcome_unknown(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client, content: bytes
) -> None:
    httpx_mock.add_response(status_code=202, content=content)
    with pytest.raises(OutcomeUnknown) as caught:
        _create(world, http)
    assert caught.value.exit_code == ExitCode.OUTCOME_UNKNOWN
    assert int(caught.value.exit_code) == 8
    assert "HTTP 202 without an ingestion id" in caught.value.message
    assert len(httpx_mock.get_requests()) == 1


# --- retried: nothing can have been processed ---------------------------------------------


def test_create_connect_error_every_time_exhausts_retries_nothing_sent(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    for _ in range(5):
        httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(TransientError) as caught:
        _create(world, http)
    assert caught.value.exit_code == ExitCode.TRANSIENT
    assert int(caught.value.exit_code) == 5
    assert caught.value.message == (
        "the upload failed 5 time(s), last: cannot connect ([Errno 111] Connection refused); "
        "nothing was sent (no connection)"
    )
    # full jitter with random() = 0.5: half of 1, 2, 4, 8
    assert world.sleeps == [0.5, 1.0, 2.0, 4.0]
    assert [r[:2] for r in world.retries] == [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0)]
    assert len(httpx_mock.get_requests()) == 5


def test_create_retry_backoff_is_capped(httpx_mock: HTTPXMock, world: World) -> None:
    policy = RetryPolicy(retries=8, base_delay=1.0, max_delay=30.0)
    assert [policy.backoff(n, 0.999) for n in range(1, 9)] == pytest.approx(
        [0.999, 1.998, 3.996, 7.992, 15.984, 29.97, 29.97, 29.97]
    )
    assert policy.backoff(1000, 1.0) == 30.0


def test_create_connect_error_once_then_success_resends_identical_body(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"))
    httpx_mock.add_response(status_code=202, json=ACCEPTED)
    body = Body()
    result = world.client(http).create_ingestion(body, mode="soft_replace")
    assert result.attempts == 2
    assert body.opened == 2
    first, second = httpx_mock.get_requests()
    assert first.content == second.content == BODY
    assert first.headers["X-PSYKHE-PROCESSING-MODE"] == "soft_replace"
    assert second.headers["X-PSYKHE-PROCESSING-MODE"] == "soft_replace"


def test_create_429_honours_retry_after_seconds(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    httpx_mock.add_response(
        status_code=429, headers={"Retry-After": "2"}, json=_error(429, "rate_limited", "slow down")
    )
    httpx_mock.add_response(status_code=202, json=ACCEPTED)
    assert _create(world, http).attempts == 2
    assert world.sleeps == [2.0]
    assert world.retries == [(1, 2.0, "HTTP 429 Too Many Requests rate_limited, Retry-After 2 s")]


def test_create_429_honours_retry_after_http_date(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    httpx_mock.add_response(
        status_code=429, headers={"Retry-After": "Thu, 26 Nov 2026 06:00:07 GMT"}
    )
    httpx_mock.add_response(status_code=202, json=ACCEPTED)
    _create(world, http)
    assert world.sleeps == [7.0]


def test_create_absurd_retry_after_is_capped_and_reported(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    httpx_mock.add_response(status_code=503, headers={"Retry-After": "86400"})
    httpx_mock.add_response(status_code=202, json=ACCEPTED)
    _create(world, http)
    assert world.sleeps == [120.0]
    assert world.retries == [
        (1, 120.0, "HTTP 503 Service Unavailable, Retry-After 86400 s capped at 120 s")
    ]


def test_create_503_on_every_attempt_exits_5_with_bounded_wait(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    for _ in range(3):
        httpx_mock.add_response(status_code=503, text="busy")
    with pytest.raises(TransientError) as caught:
        _create(world, http, retries=2, rand=1.0)
    assert caught.value.message == (
        "the upload failed 3 time(s), last: HTTP 503 Service Unavailable; nothing was processed"
    )
    assert world.sleeps == [1.0, 2.0]
    assert len(httpx_mock.get_requests()) == 3


def test_create_retries_zero_means_one_attempt(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    httpx_mock.add_response(status_code=503)
    with pytest.raises(TransientError, match="failed 1 time"):
        _create(world, http, retries=0)
    assert world.sleeps == []


def _reading_then_failing(read_bytes: int, exc: Exception) -> Any:
    """A transport that reads part of the body and then loses the connection."""

    def handler(request: httpx.Request) -> httpx.Response:
        taken = 0
        assert isinstance(request.stream, httpx.SyncByteStream)
        for chunk in request.stream:
            taken += len(chunk)
            if taken >= read_bytes:
                raise exc
        raise AssertionError("the body was shorter than expected")

    return handler


class Sequence(httpx.BaseTransport):
    """Plays one handler per request; unlike MockTransport it does not read the body first."""

    def __init__(self, *handlers: Any) -> None:
        self.handlers = list(handlers)
        self.bodies: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        handler = self.handlers.pop(0)
        if isinstance(handler, httpx.Response):
            self.bodies.append(request.read())
            return handler
        return handler(request)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "exc",
    [
        httpx.WriteError("[Errno 32] Broken pipe"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("[Errno 104] Connection reset by peer"),
        httpx.WriteTimeout("timed out"),
    ],
    ids=["write-error", "disconnected", "reset", "write-timeout"],
)
def test_create_connection_lost_mid_body_is_retried(world: World, exc: Exception) -> None:
    transport = Sequence(_reading_then_failing(20_000, exc), httpx.Response(202, json=ACCEPTED))
    with httpx.Client(transport=transport) as http:
        result = _create(world, http)
    assert result.attempts == 2
    assert transport.bodies == [BODY]
    assert world.retries[0][2].endswith("before the whole body was sent")


def test_create_connection_lost_mid_body_every_time_is_transient(world: World) -> None:
    exc = httpx.RemoteProtocolError("Server disconnected without sending a response.")
    transport = Sequence(*[_reading_then_failing(100, exc)] * 3)
    with httpx.Client(transport=transport) as http, pytest.raises(TransientError) as caught:
        _create(world, http, retries=2)
    assert caught.value.message.endswith("; nothing was processed")


# --- not retried: the server may have the whole body --------------------------------------


@pytest.mark.parametrize("status", [500, 502, 504, 507])
def test_create_5xx_after_full_body_is_outcome_unknown_not_retried(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client, status: int
) -> None:
    httpx_mock.add_response(status_code=status, text="oops")
    with pytest.raises(OutcomeUnknown) as caught:
        _create(world, http)
    assert caught.value.exit_code == 8
    assert f"then the server answered HTTP {status}" in caught.value.message
    assert caught.value.hint is not None
    assert "psykhe status --last" in caught.value.hint
    assert len(httpx_mock.get_requests()) == 1
    assert world.sleeps == []


@pytest.mark.parametrize(
    ("exc", "said"),
    [
        (httpx.ReadTimeout("timed out"), "no complete answer came within the read timeout (5 s)"),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            "the server closed the connection (Server disconnected without sending a response.)",
        ),
        (httpx.ReadError("[Errno 104] Connection reset by peer"), "ReadError: [Errno 104]"),
    ],
)
def test_create_failure_after_full_body_is_outcome_unknown(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client, exc: Exception, said: str
) -> None:
    httpx_mock.add_exception(exc)
    with pytest.raises(OutcomeUnknown) as caught:
        _create(world, http)
    assert caught.value.message.startswith(f"the whole upload ({len(BODY)} bytes) was sent, then ")
    assert said in caught.value.message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert len(httpx_mock.get_requests()) == 1


def test_create_5xx_before_body_was_read_is_retried(world: World) -> None:
    def early_500(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text="early")  # body never read

    transport = Sequence(early_500, httpx.Response(202, json=ACCEPTED))
    with httpx.Client(transport=transport) as http:
        assert _create(world, http).attempts == 2


# --- refused ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_create_auth_failure_is_exit_4_without_retry(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client, status: int
) -> None:
    httpx_mock.add_response(status_code=status, json=_error(status, "unauthorized", "bad key"))
    with pytest.raises(AuthError) as caught:
        _create(world, http)
    assert caught.value.exit_code == 4
    assert caught.value.message.startswith("the server rejected the API key from PSYKHE_API_KEY")
    assert caught.value.message.endswith(": unauthorized: bad key")
    assert len(httpx_mock.get_requests()) == 1


def test_create_early_401_before_body_read_is_auth_error(world: World) -> None:
    transport = Sequence(lambda request: httpx.Response(401, text=""))
    expected = r"\(HTTP 401 Unauthorized\): not a JSON error"
    with httpx.Client(transport=transport) as http, pytest.raises(AuthError, match=expected):
        _create(world, http)


def test_create_4xx_with_json_error_is_rejected_with_code_message_and_id(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    httpx_mock.add_response(
        status_code=400,
        json=_error(400, "payload_empty", "no product line", {"ingestion_id": 9001}),
    )
    with pytest.raises(RejectedError) as caught:
        _create(world, http)
    error = caught.value
    assert (error.exit_code, error.http_status, error.api_code, error.ingestion_id) == (
        6,
        400,
        "payload_empty",
        9001,
    )
    assert error.code == "payload_empty"
    assert error.message == (
        "the server rejected the upload (HTTP 400 Bad Request): payload_empty: no product line "
        "(the server recorded it as ingestion 9001)"
    )


def test_create_422_validation_error(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    httpx_mock.add_response(
        status_code=422, json=_error(422, "validation_error", "bad gzip", {"line": 12})
    )
    with pytest.raises(RejectedError) as caught:
        _create(world, http)
    assert (caught.value.api_code, caught.value.ingestion_id) == ("validation_error", None)


@pytest.mark.parametrize(
    ("content", "described"),
    [
        (
            b"<html><h1>400 Bad Request</h1></html>",
            "not a JSON error: 37 bytes of text/html",
        ),
        (b"", "not a JSON error: an empty body"),
        (b'{"errors": "nope"}', "not a JSON error: 18 bytes of text/html"),
    ],
)
def test_create_4xx_non_json_body_names_status_without_traceback(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client, content: bytes, described: str
) -> None:
    httpx_mock.add_response(status_code=400, content=content, headers={"Content-Type": "text/html"})
    with pytest.raises(RejectedError) as caught:
        _create(world, http)
    assert (
        caught.value.message
        == f"the server rejected the upload (HTTP 400 Bad Request): {described}"
    )
    assert caught.value.http_status == 400
    assert caught.value.api_code is None


def test_create_413_is_payload_too_large(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    httpx_mock.add_response(
        status_code=413,
        json=_error(413, "payload_too_large", "too big", {"ingestion_id": 77}),
    )
    with pytest.raises(PayloadTooLarge) as caught:
        _create(world, http)
    assert isinstance(caught.value, RejectedError)
    assert (caught.value.api_code, caught.value.ingestion_id, caught.value.exit_code) == (
        "payload_too_large",
        77,
        6,
    )


def test_create_413_html_from_a_proxy_is_still_payload_too_large(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    httpx_mock.add_response(status_code=413, text="<html>nginx: too large</html>")
    with pytest.raises(PayloadTooLarge, match="HTTP 413 Request Entity Too Large"):
        _create(world, http)


def test_create_payload_too_large_code_under_another_status(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    httpx_mock.add_response(status_code=400, json=_error(400, "payload_too_large", "big"))
    with pytest.raises(PayloadTooLarge):
        _create(world, http)


# --- redirects ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_create_redirect_is_not_followed_and_names_only_the_origin(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client, status: int
) -> None:
    location = "https://user:hunter2@other.example:8443/steal/path?token=abc#frag"
    httpx_mock.add_response(status_code=status, headers={"Location": location})
    with pytest.raises(RejectedError) as caught:
        _create(world, http)
    message = caught.value.message
    assert "redirecting to https://other.example:8443;" in message
    for secret_part in ("hunter2", "user", "steal", "token", "frag"):
        assert secret_part not in message
    assert (caught.value.http_status, caught.value.api_code) == (status, "redirect")
    # pytest-httpx fails the test if any request reached other.example
    [request] = httpx_mock.get_requests()
    assert request.url.host == "api.example.test"


def test_create_redirect_is_not_followed_even_by_a_following_client(
    httpx_mock: HTTPXMock, world: World
) -> None:
    httpx_mock.add_response(status_code=307, headers={"Location": "http://127.0.0.1:9/x"})
    expected = r"redirecting to http://127\.0\.0\.1:9;"
    with httpx.Client(follow_redirects=True) as http, pytest.raises(RejectedError, match=expected):
        _create(world, http)
    assert len(httpx_mock.get_requests()) == 1


def test_create_relative_redirect_names_own_origin_with_default_port(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    httpx_mock.add_response(status_code=308, headers={"Location": "/v2/ingestion/"})
    with pytest.raises(RejectedError, match=r"redirecting to https://api\.example\.test:443;"):
        _create(world, http)


def test_create_redirect_without_location(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    httpx_mock.add_response(status_code=302)
    with pytest.raises(RejectedError, match="without a usable Location"):
        _create(world, http)


# --- the key never shows ------------------------------------------------------------------


def test_debug_lines_redact_the_key_and_show_the_exchange(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    # the body as bytes: how httpx serialises json= differs between its versions
    answer = json.dumps(ACCEPTED, separators=(",", ":"))
    httpx_mock.add_response(
        status_code=202, content=answer.encode(), headers={"Content-Type": "application/json"}
    )
    _create(world, http)
    assert world.debug[0] == f"> POST {POST_URL} (attempt 1)"
    assert "> X-PSYKHE-API-KEY: [redacted]" in world.debug
    assert "> X-PSYKHE-PROCESSING-MODE: soft_replace" in world.debug
    assert "< HTTP/1.1 202 Accepted (0.00 s)" in world.debug
    assert world.debug[-1] == "< " + answer
    assert not any(KEY[i : i + 8] in line for line in world.debug for i in range(len(KEY) - 7))


def test_key_echoed_by_the_server_is_scrubbed_everywhere(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    echo = f"key {KEY} is not valid; did you mean {KEY[5:17]}?"
    httpx_mock.add_response(
        status_code=401, json=_error(401, "unauthorized", echo), headers={"X-Echo": KEY}
    )
    with pytest.raises(AuthError) as caught:
        _create(world, http)
    texts = [caught.value.message, str(caught.value), repr(caught.value), *world.debug]
    for text in texts:
        assert not any(KEY[i : i + 8] in text for i in range(len(KEY) - 7)), text
    assert "key [redacted] is not valid; did you mean [redacted]?" in caught.value.message


def test_server_text_is_made_printable(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    httpx_mock.add_response(status_code=400, json=_error(400, "bad\x1b[31m", "line1\nline2\x07"))
    with pytest.raises(RejectedError) as caught:
        _create(world, http)
    assert caught.value.message.endswith(": bad [31m: line1 line2")


# --- GET ----------------------------------------------------------------------------------

STATUS_DATA = {
    "id": 477021,
    "client_id": "fwrd-staging",
    "trigger_source": {"type": "client", "mode": "insert", "comment": None},
    "product_metrics": {"inserted": 3, "deactivated": 0},
    "file_identifier": "cd0b7294" + "0" * 32,
    "status": 4,
    "created_at": "2026-05-13T18:03:50.828851Z",
    "updated_at": "2026-05-13T18:04:10.000000Z",
    "something_new": [1],
}


def _status(**data: Any) -> dict[str, Any]:
    return {"errors": None, "meta": None, "data": data}


def test_get_reads_every_documented_field(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    httpx_mock.add_response(
        method="GET", url=f"{BASE}/v1/ingestion/477021", json=_status(**STATUS_DATA)
    )
    ingestion = world.client(http).get_ingestion(477021)
    assert ingestion == Ingestion(
        id=477021,
        client_id="fwrd-staging",
        mode="insert",
        status=4,
        product_metrics={"inserted": 3, "deactivated": 0},
        file_identifier="cd0b7294" + "0" * 32,
        created_at="2026-05-13T18:03:50.828851Z",
        updated_at="2026-05-13T18:04:10.000000Z",
        raw=STATUS_DATA,
    )
    assert (ingestion.status_name, ingestion.is_terminal, ingestion.succeeded) == (
        "completed",
        True,
        True,
    )
    [request] = httpx_mock.get_requests()
    assert request.headers["X-PSYKHE-API-KEY"] == KEY


@pytest.mark.parametrize(
    ("status", "name", "terminal"),
    [
        (1, "unknown", False),
        (2, "created", False),
        (3, "started", False),
        (4, "completed", True),
        (5, "failed", True),
        (0, "unknown", False),
        (6, "unknown", False),
        (42, "unknown", False),
    ],
)
def test_ingestion_status_names(status: int, name: str, terminal: bool) -> None:
    ingestion = Ingestion.from_data({"status": status}, ingestion_id=1)
    assert (ingestion.status_name, ingestion.is_terminal) == (name, terminal)
    assert ingestion.succeeded is (status == 4)


def test_ingestion_tolerates_missing_and_odd_fields() -> None:
    ingestion = Ingestion.from_data(
        {"status": "4", "trigger_source": None, "product_metrics": [1], "client_id": 5},
        ingestion_id=12,
    )
    assert (ingestion.id, ingestion.status, ingestion.mode) == (12, 4, None)
    assert (ingestion.product_metrics, ingestion.client_id, ingestion.created_at) == (
        None,
        None,
        None,
    )
    assert Ingestion.from_data({}, ingestion_id=3).status_name == "unknown"
    assert Ingestion.from_data({"status": True}, ingestion_id=3).status == 1


def test_get_404_is_rejected_not_found(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    httpx_mock.add_response(status_code=404, json=_error(404, "not_found", "no such ingestion"))
    with pytest.raises(RejectedError) as caught:
        world.client(http).get_ingestion(5)
    assert (caught.value.api_code, caught.value.http_status, caught.value.exit_code) == (
        "not_found",
        404,
        6,
    )
    assert caught.value.message == (
        f"ingestion 5 was not found at {BASE} (for this key): not_found: no such ingestion"
    )
    assert len(httpx_mock.get_requests()) == 1


def test_get_404_html_is_still_not_found(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    httpx_mock.add_response(status_code=404, text="<html>nope</html>")
    with pytest.raises(RejectedError) as caught:
        world.client(http).get_ingestion(5)
    assert caught.value.api_code == "not_found"


def test_get_retries_transient_failures_then_succeeds(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"))
    httpx_mock.add_exception(httpx.ReadTimeout("slow"))
    httpx_mock.add_response(status_code=502, text="bad gateway")
    httpx_mock.add_response(status_code=200, text="<html>not json</html>")
    httpx_mock.add_response(status_code=200, json=_status(id=5, status=3))
    ingestion = world.client(http).get_ingestion(5)
    assert ingestion.status_name == "started"
    assert [r[2] for r in world.retries] == [
        "cannot connect (refused)",
        "no complete answer came within the read timeout (5 s)",
        "HTTP 502 Bad Gateway",
        "an unreadable answer (text/plain, 21 bytes)",
    ]


def test_get_exhausted_is_transient_with_a_hint(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    for _ in range(2):
        httpx_mock.add_response(status_code=500)
    with pytest.raises(TransientError) as caught:
        world.client(http, retries=1).get_ingestion(5)
    assert caught.value.message == (
        "could not read the status of ingestion 5 after 2 attempt(s), "
        "last: HTTP 500 Internal Server Error"
    )
    assert caught.value.hint == "it may still be running; look again with: psykhe status 5"


@pytest.mark.parametrize("status", [301, 307, 308])
def test_get_redirect_is_not_followed(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client, status: int
) -> None:
    httpx_mock.add_response(status_code=status, headers={"Location": "http://127.0.0.1:9/v1/x"})
    with pytest.raises(RejectedError, match=r"redirecting to http://127\.0\.0\.1:9;"):
        world.client(http).get_ingestion(5)
    assert len(httpx_mock.get_requests()) == 1


def test_get_401_is_auth_error(httpx_mock: HTTPXMock, world: World, http: httpx.Client) -> None:
    httpx_mock.add_response(status_code=401)
    with pytest.raises(AuthError):
        world.client(http).get_ingestion(5)


def test_each_operation_tells_its_retries_one_way(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    # a status request tells the client's on_retry; an upload only the one it was given
    httpx_mock.add_response(method="GET", status_code=429, headers={"Retry-After": "3"})
    httpx_mock.add_response(method="GET", json=_status(id=5, status=2))
    httpx_mock.add_response(method="POST", status_code=429, headers={"Retry-After": "1"})
    httpx_mock.add_response(method="POST", status_code=202, json=ACCEPTED)
    client = world.client(http)
    client.get_ingestion(5)
    assert world.retries == [(1, 3.0, "HTTP 429 Too Many Requests, Retry-After 3 s")]
    seen: list[tuple[int, float, str]] = []
    client.create_ingestion(Body(), mode="insert", on_retry=lambda *a: seen.append(a))
    assert seen == [(1, 1.0, "HTTP 429 Too Many Requests, Retry-After 1 s")]
    assert len(world.retries) == 1


def test_get_max_wait_bounds_the_time_spent_retrying(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    httpx_mock.add_response(status_code=503, headers={"Retry-After": "100"})
    httpx_mock.add_response(status_code=503, headers={"Retry-After": "100"})
    with pytest.raises(TransientError, match="after 2 attempt"):
        world.client(http).get_ingestion(5, max_wait=30)
    assert world.sleeps == [30.0]
    assert world.retries == [
        (1, 30.0, "HTTP 503 Service Unavailable, Retry-After 100 s; waiting only 30 s (deadline)")
    ]


def test_get_max_wait_zero_means_no_retry(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"))
    with pytest.raises(TransientError, match="after 1 attempt"):
        world.client(http).get_ingestion(5, max_wait=0)
    assert world.sleeps == []


@pytest.mark.parametrize(("text", "value"), [("477021", 477021), (" 12 ", 12)])
def test_parse_ingestion_id(text: str, value: int) -> None:
    assert parse_ingestion_id(text) == value


@pytest.mark.parametrize("text", ["", "0", "-5", "12a", "1.5", "\u0661", "abc"])
def test_parse_ingestion_id_refuses_non_ids(text: str) -> None:
    with pytest.raises(UsageError, match="an ingestion id is a positive whole number"):
        parse_ingestion_id(text)


# --- the client made from settings ---------------------------------------------------------


def test_from_settings_uses_settings_retries(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client
) -> None:
    for _ in range(3):
        httpx_mock.add_exception(httpx.ConnectError("refused"))
    client = IngestionClient.from_settings(
        client_settings(BASE, KEY), http, sleep=world.sleeps.append, random=lambda: 0.0
    )
    with pytest.raises(TransientError, match="failed 3 time"):
        client.create_ingestion(Body(), mode="insert")
    assert client.base_url == BASE


def _certificate_error() -> httpx.ConnectError:
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cause.verify_message = "self-signed certificate"
    try:
        raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]") from cause
    except httpx.ConnectError as exc:
        return exc


@pytest.mark.parametrize("method", ["create", "get"])
def test_untrusted_certificate_is_not_retried(
    httpx_mock: HTTPXMock, world: World, http: httpx.Client, method: str
) -> None:
    httpx_mock.add_exception(_certificate_error())
    client = world.client(http)
    with pytest.raises(ConfigError) as caught:
        if method == "create":
            client.create_ingestion(Body(), mode="insert")
        else:
            client.get_ingestion(1)
    assert caught.value.message == (
        f"the TLS certificate of {BASE} could not be verified (self-signed certificate)"
    )
    assert caught.value.hint == "to trust a private CA, point SSL_CERT_FILE at its certificate"
    assert world.sleeps == []


def test_internal_errors_are_psykhe_errors_not_transport_errors(world: World) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.LocalProtocolError("Too little data for declared Content-Length")

    with httpx.Client(transport=Sequence(broken)) as http, pytest.raises(PsykheError) as caught:
        _create(world, http)
    assert type(caught.value) is PsykheError
    assert caught.value.exit_code == ExitCode.INTERNAL
