"""The attempts at one upload: chunked while the body is written, then whole, and what each
outcome means (the POST rows of ``client.py``'s table).

A streamed body's first attempt goes chunked while the body is still being written; every
later attempt, and a server that refuses a chunked body, gets the released body whole with a
Content-Length: the same bytes. Whether a failed chunked attempt was the server refusing
chunked bodies is decided here (``ChunkedRefusal``): an answer 400, 411 or 415 to it, or a
connection closed before any byte of the body went out — each counting only once the same
bytes were accepted whole. A connection lost mid-body is an ordinary failure, retried.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol, cast

import httpx

from psykhe_cli.errors import OutcomeUnknown, PsykheError, UploadFailed
from psykhe_cli.http.chunked_memory import ChunkedRefusal
from psykhe_cli.http.envelope import Refusals, ingestion_id_of
from psykhe_cli.http.exchange import Answer, Exchange, is_connect_failure
from psykhe_cli.http.retry import Retry
from psykhe_cli.meter import UploadMeter
from psykhe_cli.spool import StreamAborted

CHECK_LAST_HINT = (
    "check with `psykhe status --last` and the catalog before sending it again "
    "(sending the same feed twice is harmless, but makes a second ingestion)"
)

#: answers by which a server or gateway may refuse a chunked body (411 Length Required; a
#: 400 or 415 before reading it, which psykhe cannot tell from one after): the same bytes go
#: again whole at once, and it is a refusal once they are accepted that way
_REFUSING_CHUNKED = {400, 411, 415}
#: a connection reset or closed (not a timeout) before any answer
_CLOSED_BEFORE_ANSWER = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


class UploadBody(Protocol):
    """A re-readable request body: the gzip spool on disk."""

    @property
    def size(self) -> int:
        """Exact number of bytes ``open()`` yields (the Content-Length)."""
        ...

    def open(self) -> Iterator[bytes]:
        """A fresh iterator over the whole body, from its first byte (one per attempt)."""
        ...


class StreamedBody(Protocol):
    """A body sent while it is still being written (chunked), whole only once released."""

    @property
    def aborted(self) -> bool:
        """True once the body was abandoned: it must never be completed."""
        ...

    def stream(self) -> Iterator[bytes]:
        """The bytes as they are written; ends with the body once it is released, raises
        (``StreamAborted``) if it is abandoned."""
        ...

    def whole(self) -> UploadBody:
        """Wait for the released body; raises (``StreamAborted``) if it is abandoned."""
        ...

    def on_abort(self, shut: Callable[[], None]) -> None:
        """Call ``shut()`` if (or as soon as) the body is abandoned."""
        ...


@dataclass(frozen=True, kw_only=True)
class CreateResult:
    """The server accepted an upload."""

    ingestion_id: int
    http_status: int
    #: how many POSTs it took (1 when the first one succeeded)
    attempts: int


def is_streamed(body: object) -> bool:
    """``body`` is a ``StreamedBody`` (else an ``UploadBody``)."""
    return hasattr(body, "stream") and hasattr(body, "whole")


class TrackedBody:
    """Counts what the transport took from a body for the meter; ``complete`` once every
    byte, and the end of the body, was handed over (httpcore's trace says so: ``sent_whole``)."""

    def __init__(self, meter: UploadMeter | None, size: int | None = None) -> None:
        #: None while a streamed body's size is not known
        self._size = size
        self.meter = meter
        self.sent = 0
        self.complete = False
        if meter is not None:
            meter.begin_attempt()

    def attach(self, sock: socket.socket) -> None:
        """The connection the body goes through (the meter asks it what was acknowledged)."""
        if self.meter is not None:
            self.meter.follow(sock)

    def chunks(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """The body's chunks; the transport asks for the next one only after writing the last."""
        meter = self.meter
        for chunk in chunks:
            yield chunk
            self.sent += len(chunk)
            if meter is not None:
                meter.took(self.sent)
        if self._size is not None:
            # with a Content-Length, the last byte is the end: nothing more is written
            self._ended()

    def answered(self) -> None:
        """The server began its answer (httpcore's ``receive_response_headers.complete``)."""
        if self.meter is not None:
            self.meter.answered()

    def sent_whole(self) -> None:
        """The transport wrote the body's end (httpcore's ``send_request_body.complete``)."""
        self._ended()

    def _ended(self) -> None:
        self.complete = True
        if self.meter is not None:
            self.meter.whole = True


class UploadAttempts:
    """The POSTs of one upload, one per ``once(attempt)``, for ``retry.retrying`` to run.

    ``meter`` tells another thread how far each attempt has gone and can stop the upload;
    ``on_chunked_refused`` is told once a refused chunked attempt's bytes went through whole.
    """

    def __init__(
        self,
        exchange: Exchange,
        refusals: Refusals,
        *,
        url: str,
        headers: Mapping[str, str],
        body: UploadBody | StreamedBody,
        now: Callable[[], float],
        meter: UploadMeter | None = None,
        on_chunked_refused: Callable[[ChunkedRefusal], None] | None = None,
    ) -> None:
        self._exchange = exchange
        self._refusals = refusals
        self._url = url
        self._headers = headers
        self._body = body
        self._now = now
        self._meter = meter
        self._on_chunked_refused = on_chunked_refused
        self._streamed = cast(StreamedBody, body) if is_streamed(body) else None
        #: the next attempt goes chunked: only the first one of a streamed body
        self._chunked = self._streamed is not None
        #: how the chunked attempt failed, if that may have been a refusal of chunked bodies
        self._suspect: ChunkedRefusal | None = None

    def once(self, attempt: int) -> CreateResult | Retry:
        """One attempt: ``CreateResult``, a ``Retry``, or an exception of the module table."""
        if self._chunked:
            self._chunked = False  # whatever happens, later attempts send the spool whole
            outcome = self._post_chunked(attempt)
            if not isinstance(outcome, ChunkedRefusal):
                return outcome
            self._suspect = outcome  # the same bytes, whole, in this same attempt
        answered = self._post_whole(attempt)
        if self._suspect is not None and isinstance(answered, CreateResult):
            if self._on_chunked_refused is not None:
                self._on_chunked_refused(self._suspect)
            self._suspect = None
        return answered

    def exhausted(self, attempts: int, last: Retry, reached_server: bool) -> PsykheError:
        """The error once every attempt failed."""
        what = "nothing was processed" if reached_server else "nothing was sent (no connection)"
        return UploadFailed(
            f"the upload failed {attempts} time(s), last: {last.reason}; {what}",
            hint="it is safe to run the same command again (--retries sets how often to retry)",
            attempts=attempts,
            last=last.reason,
        )

    def _on_connection(self, cut: Callable[[], None]) -> None:
        if self._streamed is not None:
            self._streamed.on_abort(self._cutting(cut))
        if self._meter is not None:
            self._meter.on_stop(cut)

    def _cutting(self, cut: Callable[[], None]) -> Callable[[], None]:
        """``cut``, once the meter has kept what the connection delivered (a reset
        connection no longer tells)."""
        meter = self._meter

        def cutting() -> None:
            if meter is not None:
                meter.freeze()
            cut()

        return cutting

    def _post_chunked(self, attempt: int) -> CreateResult | Retry | ChunkedRefusal:
        """The chunked attempt; ``ChunkedRefusal`` when it may have been refused as such."""
        streamed = self._streamed
        assert streamed is not None
        tracked = TrackedBody(self._meter)
        try:
            response = self._send(tracked, streamed.stream(), self._headers, attempt)
        except httpx.RequestError as exc:
            if streamed.aborted or (self._meter is not None and self._meter.stopped):
                raise StreamAborted("the upload was abandoned before its end") from None
            outcome = self._failed_in_transit(exc, tracked)
            if tracked.sent == 0 and isinstance(exc, _CLOSED_BEFORE_ANSWER):
                # closed before any byte of the body went out: a gateway refusing chunked
                # bodies may do that, told apart once the same bytes go through whole
                self._suspect = ChunkedRefusal(outcome.reason, answered=False)
            return outcome
        if response.status_code in _REFUSING_CHUNKED:
            return ChunkedRefusal(f"the server answered {response.status_text}", answered=True)
        return self._answered(response, tracked, attempt)

    def _post_whole(self, attempt: int) -> CreateResult | Retry:
        streamed = self._streamed
        whole = streamed.whole() if streamed is not None else cast(UploadBody, self._body)
        tracked = TrackedBody(self._meter, whole.size)
        sized = {**self._headers, "Content-Length": str(whole.size)}
        try:
            response = self._send(tracked, whole.open(), sized, attempt)
        except httpx.RequestError as exc:
            return self._failed_in_transit(exc, tracked)
        return self._answered(response, tracked, attempt)

    def _send(
        self,
        tracked: TrackedBody,
        chunks: Iterator[bytes],
        headers: Mapping[str, str],
        attempt: int,
    ) -> Answer:
        return self._exchange.send(
            "POST",
            self._url,
            headers,
            tracked.chunks(chunks),
            attempt,
            on_body_sent=tracked.sent_whole,
            on_connection=self._on_connection,
            on_socket=tracked.attach,
            on_answer=tracked.answered,
            abortive=True,
        )

    def _failed_in_transit(self, exc: httpx.RequestError, tracked: TrackedBody) -> Retry:
        self._exchange.raise_if_untrusted(exc)
        reason = self._exchange.describe(exc)
        if isinstance(exc, httpx.LocalProtocolError):
            raise PsykheError(f"the upload could not be sent as declared: {reason}") from None
        if is_connect_failure(exc):
            # no connection to the server was made: whatever the body did, nothing reached it
            return Retry(reason, reached_server=False)
        if tracked.complete:
            raise OutcomeUnknown(
                f"the whole upload ({tracked.sent} bytes) was sent, then {reason}; "
                "the server may have accepted it",
                hint=CHECK_LAST_HINT,
            ) from None
        return Retry(f"{reason} before the whole body was sent", reached_server=True)

    def _answered(
        self, response: Answer, tracked: TrackedBody, attempt: int
    ) -> CreateResult | Retry:
        status = response.status_code
        if 200 <= status < 300:
            return self._accepted(response, attempt)
        self._refusals.raise_for(response, what="the upload")
        if status in (429, 503):
            return self._refusals.retry_later(response, now=self._now())
        if tracked.complete:
            raise OutcomeUnknown(
                f"the whole upload was sent, then the server answered "
                f"{response.status_text}; it may or may not have accepted it",
                hint=CHECK_LAST_HINT,
            )
        return Retry(f"{response.status_text} before the whole body was sent", reached_server=True)

    @staticmethod
    def _accepted(response: Answer, attempt: int) -> CreateResult:
        status = response.status_code
        if response.truncated:
            raise OutcomeUnknown(
                f"the server answered HTTP {status} with {response.size_text}, not the "
                "small envelope of an ingestion id; it may have accepted the upload",
                hint=CHECK_LAST_HINT,
            )
        ingestion_id = ingestion_id_of(response)
        if ingestion_id is None:
            raise OutcomeUnknown(
                f"the server answered HTTP {status} without an ingestion id "
                f"({response.body_text}); it may have accepted the upload",
                hint="check the catalog before sending it again; --debug shows the answer",
            )
        return CreateResult(ingestion_id=ingestion_id, http_status=status, attempts=attempt)
