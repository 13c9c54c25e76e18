"""The Ingestion API over an injected ``httpx.Client``: create, get, envelope parsing, retries.

Knows nothing about terminals: what a person should see leaves through callbacks —
``on_retry(attempt, delay, reason)`` and ``on_debug(line)`` (the key is never in a line).
A status request's retries are told to the client's ``on_retry``; an upload's, which runs in
a thread of its caller's, to the ``on_retry`` given to ``create_ingestion``. Every failure is
a ``PsykheError``:

    POST /v1/ingestion/
      2xx with an ingestion id ........................... CreateResult
      2xx without a usable id, not JSON, or over 1 MiB ... OutcomeUnknown   (8)
      connect error, pool timeout ........................ retried, then TransientError (5)
      connection lost before the whole body was sent ..... retried, then TransientError (5)
      429, 503 (Retry-After honoured, capped) ............ retried, then TransientError (5)
      timeout / reset / 5xx after the whole body was sent  OutcomeUnknown   (8), never retried
        (an answer not complete within the read timeout counts as a timeout)
      3xx (never followed) ............................... RejectedError    (6)
      401, 403 ........................................... AuthError        (4)
      413 or payload_too_large ........................... PayloadTooLarge  (6)
      other 4xx .......................................... RejectedError    (6)

    GET /v1/ingestion/{id}
      transport errors, timeouts, 429, 5xx, unreadable 2xx  retried, then TransientError (5)
        (unreadable: not JSON, nested too deep, or over 1 MiB)
      404 ................................................ RejectedError (6, api_code not_found)
      2xx about another ingestion id ..................... ProtocolError (8)
      3xx / 401, 403 / other 4xx ......................... as for POST

    GET /v1/ingestion/0 (``check_key``: is the key accepted?) .. a ``KeyVerdict``, never an
      error: one attempt within a few seconds; 404 not_found accepted, 401 refused, anything
      else unknown (``http/keycheck.py``)

The rooms behind this front, in ``psykhe_cli/http/``: ``transport`` (the ``httpx.Client`` and
TLS trust), ``exchange`` (one request, its answer bounded, in time, the key scrubbed),
``watchdog`` (ending a request from another thread), ``retry`` (the policy and the loop),
``envelope`` (the envelope and the refusal table), ``upload`` (the attempts at one upload:
chunked, then whole), ``chunked_memory`` (targets known to refuse chunked bodies) and
``keycheck`` (the key checked before a body goes).

Retries wait with full-jitter exponential backoff (``RetryPolicy``); ``sleep``, ``now`` (wall
clock, for HTTP-date ``Retry-After``), ``clock`` (monotonic) and ``random`` are injected.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable

import httpx

from psykhe_cli.config import Secret, Settings
from psykhe_cli.errors import ProtocolError, PsykheError, RejectedError, TransientError, UsageError
from psykhe_cli.http.chunked_memory import ChunkedRefusal
from psykhe_cli.http.envelope import Refusals, data_of
from psykhe_cli.http.exchange import (
    ANSWER_LIMIT,
    API_KEY_HEADER,
    DebugCallback,
    Exchange,
)
from psykhe_cli.http.keycheck import KEY_CHECK_DEADLINE, KeyCheck, KeyStatus, KeyVerdict, check_key
from psykhe_cli.http.retry import (
    Retry,
    RetryCallback,
    RetryPolicy,
    Waiting,
    parse_retry_after,
    retrying,
)
from psykhe_cli.http.transport import USER_AGENT, make_http_client
from psykhe_cli.http.upload import (
    CHECK_LAST_HINT,
    CreateResult,
    StreamedBody,
    UploadAttempts,
    UploadBody,
)
from psykhe_cli.ingestion import Ingestion
from psykhe_cli.meter import UploadMeter

__all__ = [
    "ANSWER_LIMIT",
    "API_KEY_HEADER",
    "CHECK_LAST_HINT",
    "MODE_HEADER",
    "PROCESSING_MODES",
    "USER_AGENT",
    "ChunkedRefusal",
    "CreateResult",
    "DebugCallback",
    "IngestionClient",
    "KeyCheck",
    "KeyStatus",
    "KeyVerdict",
    "RetryCallback",
    "RetryPolicy",
    "StreamedBody",
    "UploadBody",
    "make_http_client",
    "parse_retry_after",
]

MODE_HEADER = "X-PSYKHE-PROCESSING-MODE"
PROCESSING_MODES = ("insert", "soft_replace")


class IngestionClient:
    """Create ingestions and read their status; one instance per base URL and key."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        base_url: str,
        api_key: Secret,
        key_source: str = "the configured key",
        policy: RetryPolicy | None = None,
        on_retry: RetryCallback | None = None,
        on_debug: DebugCallback | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = _random.random,
    ) -> None:
        """``on_retry`` is told the retries of status requests (uploads: ``create_ingestion``)."""
        self._base_url = base_url.rstrip("/")
        self._key = api_key
        self._key_source = key_source
        self._policy = policy or RetryPolicy()
        self._on_retry = on_retry
        self._now = now
        self._clock = clock
        self._exchange = Exchange(
            http, base_url=self._base_url, api_key=api_key, clock=clock, on_debug=on_debug
        )
        self._refusals = Refusals(base_url=self._base_url, api_key=api_key, key_source=key_source)
        self._waiting = Waiting(sleep=sleep, clock=clock, random=random, debug=self._exchange.debug)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        http: httpx.Client,
        *,
        policy: RetryPolicy | None = None,
        on_retry: RetryCallback | None = None,
        on_debug: DebugCallback | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = _random.random,
    ) -> IngestionClient:
        """A client for ``settings``: its base URL, key and ``retries`` (unless ``policy``)."""
        return cls(
            http,
            base_url=settings.base_url,
            api_key=settings.api_key,
            key_source=settings.key_source,
            policy=policy or RetryPolicy(retries=settings.retries),
            on_retry=on_retry,
            on_debug=on_debug,
            sleep=sleep,
            now=now,
            clock=clock,
            random=random,
        )

    @property
    def base_url(self) -> str:
        """The origin (and path prefix) every request goes to."""
        return self._base_url

    @property
    def key_source(self) -> str:
        """Where the key came from, for messages (``PSYKHE_API_KEY``, ``--api-key-file PATH``)."""
        return self._key_source

    def check_key(self, *, deadline: float = KEY_CHECK_DEADLINE) -> KeyVerdict:
        """Whether the server accepts the key: one request within ``deadline`` seconds, never
        retried, never raising for what the server answers (``http/keycheck.py``)."""
        return check_key(
            self._exchange,
            self._refusals,
            base_url=self._base_url,
            key_source=self._key_source,
            deadline=deadline,
        )

    def create_ingestion(
        self,
        body: UploadBody | StreamedBody,
        *,
        mode: str,
        on_retry: RetryCallback | None = None,
        on_chunked_refused: Callable[[ChunkedRefusal], None] | None = None,
        meter: UploadMeter | None = None,
    ) -> CreateResult:
        """POST ``body`` (gzip JSON Lines) as one ingestion in ``mode``; see the module table.

        ``body`` may be a ``StreamedBody``: the first attempt then sends it chunked while it
        is written, and completes the request only once it is released; abandoned, the
        connection is reset before the final chunk (the server creates nothing) and
        ``StreamAborted`` is raised. Retries, and a server that refuses a chunked body, send
        the released body with a Content-Length: the same bytes. Accepted so after a chunked
        attempt may have been refused as such, ``on_chunked_refused(refusal)`` is told how.

        ``on_retry`` is told each retry of this upload. ``meter`` tells another thread how
        far each attempt has gone, and can stop the upload (its connection is then reset).
        """
        if mode not in PROCESSING_MODES:
            raise UsageError(f"unknown processing mode {mode!r}: use insert or soft_replace")
        attempts = UploadAttempts(
            self._exchange,
            self._refusals,
            url=f"{self._base_url}/v1/ingestion/",
            headers={
                MODE_HEADER: mode,
                "Content-Type": "application/x-ndjson",
                "Content-Encoding": "gzip",
            },
            body=body,
            now=self._now,
            meter=meter,
            on_chunked_refused=on_chunked_refused,
        )
        return retrying(
            attempts.once,
            policy=self._policy,
            world=self._waiting,
            exhausted=attempts.exhausted,
            on_retry=on_retry,
            pause=meter.pause if meter is not None else None,
        )

    def get_ingestion(self, ingestion_id: int, *, max_wait: float | None = None) -> Ingestion:
        """The current state of one ingestion; transient failures are retried (module table).

        ``max_wait`` bounds the seconds this takes, requests and waits between retries included
        (polling passes the time left before its deadline); without it only the read timeout
        and ``RetryPolicy.retries`` limit them.
        """
        url = f"{self._base_url}/v1/ingestion/{int(ingestion_id)}"
        until = None if max_wait is None else self._clock() + max_wait

        def once(attempt: int) -> Ingestion | Retry:
            try:
                response = self._exchange.send("GET", url, {}, None, attempt, until=until)
            except httpx.RequestError as exc:
                self._exchange.raise_if_untrusted(exc)
                return Retry(self._exchange.describe(exc))
            status = response.status_code
            if 200 <= status < 300:
                data = data_of(response)
                if data is None:
                    return Retry(f"an unreadable answer ({response.body_text})")
                ingestion = Ingestion.from_data(data, ingestion_id=ingestion_id)
                if ingestion.id != ingestion_id:
                    raise ProtocolError(
                        f"asked for the status of ingestion {ingestion_id}, the server answered "
                        f"about ingestion {ingestion.id} ({ingestion.status_name}); psykhe does "
                        f"not know how ingestion {ingestion_id} went",
                        hint=f"look again later with: psykhe status {ingestion_id}",
                    )
                return ingestion
            if status == 404:
                error = self._refusals.error_of(response)
                raise RejectedError(
                    f"ingestion {ingestion_id} was not found at {self._base_url} "
                    "(for this key)" + error.suffix(),
                    http_status=404,
                    api_code=error.code or "not_found",
                )
            self._refusals.raise_for(response, what=f"the status request for {ingestion_id}")
            if status == 429 or status >= 500:
                return self._refusals.retry_later(response, now=self._now())
            raise RejectedError(
                f"the server answered {response.status_text}",
                http_status=status,
            )

        def exhausted(attempts: int, last: Retry, reached_server: bool) -> PsykheError:
            return TransientError(
                f"could not read the status of ingestion {ingestion_id} after {attempts} "
                f"attempt(s), last: {last.reason}",
                hint=f"it may still be running; look again with: psykhe status {ingestion_id}",
            )

        return retrying(
            once,
            policy=self._policy,
            world=self._waiting,
            exhausted=exhausted,
            on_retry=self._on_retry,
            max_wait=max_wait,
            until=until,
        )
