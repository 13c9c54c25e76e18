"""The attempts at one upload: which failures of a chunked attempt count as the server
refusing chunked bodies (told once the same bytes went through whole), and which do not."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from psykhe_cli.client import ChunkedRefusal, IngestionClient, RetryPolicy
from psykhe_cli.config import Secret
from psykhe_cli.errors import RejectedError

BASE = "https://api.example.test"
DATA = bytes(range(256)) * 400  # several chunks
ACCEPTED = {"errors": None, "meta": None, "data": {"ingestion_id": 9}}


class Whole:
    """The released body."""

    size = len(DATA)

    def open(self) -> Iterator[bytes]:
        for start in range(0, len(DATA), 16_384):
            yield DATA[start : start + 16_384]


class Streamed:
    """A body streamed while written, released at once."""

    aborted = False

    def stream(self) -> Iterator[bytes]:
        return Whole().open()

    def whole(self) -> Whole:
        return Whole()

    def on_abort(self, shut: Callable[[], None]) -> None:
        pass


class Sequence(httpx.BaseTransport):
    """One handler per request; records whether each was chunked."""

    def __init__(self, *handlers: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handlers = list(handlers)
        self.chunked: list[bool] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.chunked.append("content-length" not in request.headers)
        return self.handlers.pop(0)(request)


def _read_then(answer: httpx.Response | Exception, most: int | None = None) -> Any:
    """Read the body (at most ``most`` bytes of it), then answer or fail."""

    def handler(request: httpx.Request) -> httpx.Response:
        taken = 0
        assert isinstance(request.stream, httpx.SyncByteStream)
        if most != 0:
            for chunk in request.stream:
                taken += len(chunk)
                if most is not None and taken >= most:
                    break
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler


def _upload(transport: Sequence) -> tuple[list[ChunkedRefusal], list[tuple[int, float, str]]]:
    told: list[ChunkedRefusal] = []
    retries: list[tuple[int, float, str]] = []
    with httpx.Client(transport=transport) as http:
        client = IngestionClient(
            http,
            base_url=BASE,
            api_key=Secret("sk_test_upload_key_0123456789"),
            policy=RetryPolicy(retries=2),
            sleep=lambda seconds: None,
            random=lambda: 0.0,
        )
        created = client.create_ingestion(
            Streamed(),
            mode="insert",
            on_retry=lambda *a: retries.append(a),
            on_chunked_refused=told.append,
        )
    assert created.ingestion_id == 9
    return told, retries


def test_an_answer_refusing_the_chunked_body_is_a_refusal_once_whole_goes_through() -> None:
    for status in (400, 411, 415):
        transport = Sequence(
            _read_then(httpx.Response(status), most=0),
            _read_then(httpx.Response(202, json=ACCEPTED)),
        )
        told, retries = _upload(transport)
        assert transport.chunked == [True, False]
        assert len(told) == 1 and told[0].answered
        assert told[0].reason.startswith(f"the server answered HTTP {status}")
        assert retries == []  # the same attempt, whole


def test_a_connection_closed_before_any_byte_of_the_body_is_an_unanswered_refusal() -> None:
    transport = Sequence(
        _read_then(httpx.RemoteProtocolError("Server disconnected"), most=0),
        _read_then(httpx.Response(202, json=ACCEPTED)),
    )
    told, retries = _upload(transport)
    assert transport.chunked == [True, False]
    assert [
        (t.answered, t.reason.startswith("the server closed the connection")) for t in told
    ] == [(False, True)]
    assert len(retries) == 1


def test_a_connection_lost_mid_body_is_retried_and_no_refusal() -> None:
    transport = Sequence(
        _read_then(httpx.ReadError("[Errno 104] Connection reset by peer"), most=40_000),
        _read_then(httpx.Response(202, json=ACCEPTED)),
    )
    told, retries = _upload(transport)
    assert transport.chunked == [True, False]
    assert told == []
    assert retries[0][2].endswith("before the whole body was sent")


def test_a_refused_chunked_body_whose_whole_is_rejected_too_is_no_refusal_of_chunking() -> None:
    transport = Sequence(
        _read_then(httpx.Response(400), most=0),
        _read_then(httpx.Response(422, json={"errors": [{"code": "invalid"}]})),
    )
    told: list[ChunkedRefusal] = []
    with httpx.Client(transport=transport) as http:
        client = IngestionClient(
            http, base_url=BASE, api_key=Secret("sk_test_upload_key_0123456789")
        )
        with pytest.raises(RejectedError, match="HTTP 422"):
            client.create_ingestion(Streamed(), mode="insert", on_chunked_refused=told.append)
    assert told == []
