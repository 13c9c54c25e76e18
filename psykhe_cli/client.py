"""The Ingestion API over an injected ``httpx.Client``: create, get, envelope parsing, retries.

Knows nothing about terminals: what a person should see leaves through three callbacks —
``on_upload_progress(sent, total)``, ``on_retry(attempt, delay, reason)`` and
``on_debug(line)`` (the key is never in a line). Every failure is a ``PsykheError``:

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

Every answer is read through ``_Answer``: at most ``ANSWER_LIMIT`` bytes of it (the envelope is
small; an endless body must not fill memory), within a deadline that a trickling server cannot
stretch (``_Watchdog``), and with the key scrubbed from every text the server sent, before
anything else looks at it.

A bad ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` is a ``ConfigError`` (4) naming it, raised when the
client is made; a proxy that cannot be reached is named in the connect error.

Retries wait with full-jitter exponential backoff (``RetryPolicy``); ``sleep``, ``now`` (wall
clock, for HTTP-date ``Retry-After``), ``clock`` (monotonic) and ``random`` are injected.
"""

from __future__ import annotations

import email.utils
import functools
import json
import math
import os
import random as _random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import timezone
from typing import Any, Protocol, TypeVar, cast

import httpx

from psykhe_cli import __version__
from psykhe_cli.config import (
    ENV_SSL_CERT_DIR,
    ENV_SSL_CERT_FILE,
    REDACTED,
    NetworkEnvironment,
    Secret,
    Settings,
    network_environment,
)
from psykhe_cli.errors import (
    AuthError,
    ConfigError,
    OutcomeUnknown,
    PayloadTooLarge,
    ProtocolError,
    PsykheError,
    RejectedError,
    TransientError,
    UploadFailed,
    UsageError,
)
from psykhe_cli.ingestion import (
    Ingestion,
    as_int,
)
from psykhe_cli.meter import UploadMeter
from psykhe_cli.printable import clipped as printable
from psykhe_cli.spool import StreamAborted

USER_AGENT = f"psykhe/{__version__}"
API_KEY_HEADER = "X-PSYKHE-API-KEY"
MODE_HEADER = "X-PSYKHE-PROCESSING-MODE"
PROCESSING_MODES = ("insert", "soft_replace")
CHECK_LAST_HINT = (
    "check with `psykhe status --last` and the catalog before sending it again "
    "(sending the same feed twice is harmless, but makes a second ingestion)"
)

#: the most psykhe reads of any answer: every documented one is a small JSON envelope
ANSWER_LIMIT = 1 << 20
#: seconds a status request may take past the caller's ``max_wait`` (the poll at the deadline)
_LAST_REQUEST_GRACE = 2.0
_DEBUG_BODY_LIMIT = 2000
_MESSAGE_LIMIT = 300

RetryCallback = Callable[[int, float, str], None]
"""``on_retry(attempt, delay, reason)``: attempt number that failed (1-based), seconds to wait."""
DebugCallback = Callable[[str], None]
"""``on_debug(line)``: one request/response detail line, key redacted."""
ProgressCallback = Callable[[int, int], None]
"""``on_upload_progress(sent, total)``: bytes of this attempt handed to the network so far."""

T = TypeVar("T")


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


#: answers by which a server or gateway may refuse a chunked body (411 Length Required; a
#: 400 or 415 before reading it, which psykhe cannot tell from one after): the same bytes go
#: again whole at once, and the target is remembered once they are accepted that way
_REFUSING_CHUNKED = {400, 411, 415}
#: a connection reset or closed (not a timeout) before any answer: a gateway that refuses
#: chunked bodies may do that too — told apart once the same bytes go through whole
_CLOSED_BEFORE_ANSWER = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


@dataclass(frozen=True, kw_only=True)
class CreateResult:
    """The server accepted an upload."""

    ingestion_id: int
    http_status: int
    #: how many POSTs it took (1 when the first one succeeded)
    attempts: int


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how long to retry: full jitter, ``base * 2**(n-1)`` capped at ``max_delay``."""

    retries: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    #: a server's ``Retry-After`` is honoured up to this many seconds
    max_retry_after: float = 120.0

    def backoff(self, attempt: int, rand: float) -> float:
        """Seconds to wait after failed attempt number ``attempt``; ``rand`` in [0, 1)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(attempt - 1, 30))
        return rand * ceiling


def _trusting_nothing() -> ssl.SSLContext:
    """The TLS context of a client for a plain-http (loopback) base URL, which never opens
    TLS: redirects are not followed, and nothing else is contacted. It trusts no
    certificate, so it could only refuse a server; loading the CA bundle instead cost
    ~0.1 s of CPU while the workers check the feed."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def make_http_client(
    settings: Settings, *, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """The ``httpx.Client`` for ``settings``: no redirects, psykhe's timeouts and User-Agent.

    Proxy variables are honoured for https only (the key then travels inside the TLS tunnel);
    a plain-http base URL is loopback, where a proxy would only see the key in clear text.
    Connections are not kept alive between requests: each request's own connection is the
    one its deadline can shut (``_Watchdog``), and requests are seconds apart anyway.
    """
    timeout = httpx.Timeout(
        connect=settings.connect_timeout,
        read=settings.read_timeout,
        write=settings.write_timeout,
        pool=settings.connect_timeout,
    )
    https = settings.base_url.startswith("https://")
    if https:
        _check_trust_variables(network_environment(settings.base_url))
    try:
        return httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            trust_env=https,
            headers={"User-Agent": USER_AGENT},
            transport=transport,
            verify=True if https else _trusting_nothing(),
            limits=httpx.Limits(max_keepalive_connections=0),
        )
    except ImportError as exc:  # e.g. ALL_PROXY=socks5://… without socksio installed
        raise ConfigError(f"cannot use the proxy from the environment: {exc}") from None
    except OSError as exc:  # ssl.SSLError too: SSL_CERT_FILE is not a certificate bundle
        raise _bad_trust_variable(network_environment(settings.base_url), exc) from None


def _check_trust_variables(env: NetworkEnvironment) -> None:
    """httpx reads SSL_CERT_DIR only when the TLS handshake needs it: check it now."""
    cert_dir = env.ssl_cert_dir if env.ssl_cert_file is None else None
    if cert_dir is not None and not os.path.isdir(cert_dir):
        raise ConfigError(
            f"{ENV_SSL_CERT_DIR}={printable(cert_dir, 200)} is not a directory",
            hint=f"point {ENV_SSL_CERT_DIR} at a directory of CA certificates, or unset it",
        )


def _bad_trust_variable(env: NetworkEnvironment, exc: OSError) -> ConfigError:
    if env.ssl_cert_file is None:
        return ConfigError(f"cannot set up TLS: {printable(str(exc), _MESSAGE_LIMIT)}")
    if isinstance(exc, IsADirectoryError):
        why = "is a directory"
    elif isinstance(exc, ssl.SSLError):
        why = f"holds no usable certificate ({printable(exc.reason or str(exc), 120)})"
    else:
        why = f"cannot be read ({printable(exc.strerror or str(exc), 120)})"
    return ConfigError(
        f"{ENV_SSL_CERT_FILE}={printable(env.ssl_cert_file, 200)} {why}",
        hint=f"point {ENV_SSL_CERT_FILE} at a PEM file of CA certificates, or unset it",
    )


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
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._key = api_key
        self._key_source = key_source
        self._policy = policy or RetryPolicy()
        self._on_retry = on_retry
        self._on_debug = on_debug
        self._sleep = sleep
        self._now = now
        self._clock = clock
        self._random = random
        #: the proxy httpx takes from the environment for this base URL, to name it in errors
        self._proxy = network_environment(self._base_url).proxy

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

    # --- POST ---------------------------------------------------------------------------------

    def create_ingestion(
        self,
        body: UploadBody | StreamedBody,
        *,
        mode: str,
        on_upload_progress: ProgressCallback | None = None,
        on_retry: RetryCallback | None = None,
        on_chunked_refused: Callable[[str], None] | None = None,
        meter: UploadMeter | None = None,
    ) -> CreateResult:
        """POST ``body`` (gzip JSON Lines) as one ingestion in ``mode``; see the module table.

        ``body`` may be a ``StreamedBody``: the first attempt then sends it chunked while it
        is written, and completes the request only once it is released; abandoned, the
        connection is closed without the final chunk (the server creates nothing) and
        ``StreamAborted`` is raised. Retries, and a server that refuses a chunked body, send
        the released body with a Content-Length: the same bytes. Accepted so after a chunked
        attempt was refused (or its connection closed before any answer), the refusal is
        told: ``on_chunked_refused(reason)``.

        ``meter`` tells another thread how far each attempt has gone, and can stop the upload.
        """
        if mode not in PROCESSING_MODES:
            raise UsageError(f"unknown processing mode {mode!r}: use insert or soft_replace")
        url = f"{self._base_url}/v1/ingestion/"
        headers = {
            MODE_HEADER: mode,
            "Content-Type": "application/x-ndjson",
            "Content-Encoding": "gzip",
        }
        streamed = cast(StreamedBody, body) if _is_streamed(body) else None
        chunked = streamed is not None
        #: the chunked attempt's connection was closed before any answer: a gateway refusing
        #: chunked bodies, if the same bytes then go through with a Content-Length
        suspect: str | None = None

        def on_connection(cut: Callable[[], None]) -> None:
            if streamed is not None:
                streamed.on_abort(cut)
            if meter is not None:
                meter.on_stop(cut)

        def once(attempt: int) -> CreateResult | _Retry:
            nonlocal chunked, suspect
            if chunked:
                assert streamed is not None
                chunked = False  # whatever happens, later attempts send the spool whole
                tracked = _TrackedBody(on_upload_progress, meter)
                outcome = self._post_chunked(
                    url, headers, streamed, tracked, on_connection, attempt
                )
                if isinstance(outcome, _Retry) and outcome.closed_before_answer:
                    suspect = outcome.reason
                if not isinstance(outcome, _ChunkedRefused):
                    return outcome
                suspect = outcome.reason  # the same bytes, whole, in this same attempt
            whole = streamed.whole() if streamed is not None else cast(UploadBody, body)
            tracked = _TrackedBody(on_upload_progress, meter, whole.size)
            sized = {**headers, "Content-Length": str(whole.size)}
            try:
                response = self._send(
                    "POST",
                    url,
                    sized,
                    tracked.chunks(whole.open()),
                    attempt,
                    on_body_sent=tracked.sent_whole,
                    on_connection=on_connection,
                    on_socket=tracked.attach,
                )
            except httpx.RequestError as exc:
                return self._post_failed_in_transit(exc, tracked)
            answered = self._post_answered(response, tracked, attempt)
            if suspect is not None and isinstance(answered, CreateResult):
                if on_chunked_refused is not None:
                    on_chunked_refused(suspect)
                suspect = None
            return answered

        pause = meter.pause if meter is not None else None
        return self._retrying(once, on_retry, exhausted=self._upload_exhausted, pause=pause)

    def _post_chunked(
        self,
        url: str,
        headers: Mapping[str, str],
        streamed: StreamedBody,
        tracked: _TrackedBody,
        on_connection: Callable[[Callable[[], None]], None],
        attempt: int,
    ) -> CreateResult | _Retry | _ChunkedRefused:
        """One chunked attempt; ``_ChunkedRefused`` when the server will not take one."""
        meter = tracked.meter
        try:
            response = self._send(
                "POST",
                url,
                headers,
                tracked.chunks(streamed.stream()),
                attempt,
                on_body_sent=tracked.sent_whole,
                on_connection=on_connection,
                on_socket=tracked.attach,
            )
        except httpx.RequestError as exc:
            if streamed.aborted or (meter is not None and meter.stopped):
                raise StreamAborted("the upload was abandoned before its end") from None
            outcome = self._post_failed_in_transit(exc, tracked)
            if not tracked.complete and isinstance(exc, _CLOSED_BEFORE_ANSWER):
                return replace(outcome, closed_before_answer=True)
            return outcome
        if response.status_code in _REFUSING_CHUNKED:
            return _ChunkedRefused(f"the server answered {self._status_text(response)}")
        return self._post_answered(response, tracked, attempt)

    def _post_failed_in_transit(self, exc: httpx.RequestError, tracked: _TrackedBody) -> _Retry:
        self._raise_if_untrusted(exc)
        reason = self._describe(exc)
        if isinstance(exc, httpx.LocalProtocolError):
            raise PsykheError(f"the upload could not be sent as declared: {reason}") from None
        if _is_connect_failure(exc):
            # no connection to the server was made: whatever the body did, nothing reached it
            return _Retry(reason, reached_server=False)
        if tracked.complete:
            raise OutcomeUnknown(
                f"the whole upload ({tracked.sent} bytes) was sent, then {reason}; "
                "the server may have accepted it",
                hint=CHECK_LAST_HINT,
            ) from None
        return _Retry(f"{reason} before the whole body was sent", reached_server=True)

    def _post_answered(
        self, response: _Answer, tracked: _TrackedBody, attempt: int
    ) -> CreateResult | _Retry:
        status = response.status_code
        if 200 <= status < 300:
            if response.truncated:
                raise OutcomeUnknown(
                    f"the server answered HTTP {status} with {response.size_text}, not the "
                    "small envelope of an ingestion id; it may have accepted the upload",
                    hint=CHECK_LAST_HINT,
                )
            ingestion_id = _ingestion_id_of(response)
            if ingestion_id is None:
                raise OutcomeUnknown(
                    f"the server answered HTTP {status} without an ingestion id "
                    f"({self._describe_body(response)}); it may have accepted the upload",
                    hint="check the catalog before sending it again; --debug shows the answer",
                )
            return CreateResult(ingestion_id=ingestion_id, http_status=status, attempts=attempt)
        self._raise_for_refusal(response, what="the upload")
        if status in (429, 503):
            return self._retry_later(response)
        if tracked.complete:
            raise OutcomeUnknown(
                f"the whole upload was sent, then the server answered "
                f"{self._status_text(response)}; it may or may not have accepted it",
                hint=CHECK_LAST_HINT,
            )
        return _Retry(
            f"{self._status_text(response)} before the whole body was sent", reached_server=True
        )

    def _upload_exhausted(self, attempts: int, last: _Retry, reached_server: bool) -> PsykheError:
        what = "nothing was processed" if reached_server else "nothing was sent (no connection)"
        return UploadFailed(
            f"the upload failed {attempts} time(s), last: {last.reason}; {what}",
            hint="it is safe to run the same command again (--retries sets how often to retry)",
            attempts=attempts,
            last=last.reason,
        )

    # --- GET ----------------------------------------------------------------------------------

    def get_ingestion(
        self,
        ingestion_id: int,
        *,
        max_wait: float | None = None,
        on_retry: RetryCallback | None = None,
    ) -> Ingestion:
        """The current state of one ingestion; transient failures are retried (module table).

        ``max_wait`` bounds the seconds this takes, requests and waits between retries included
        (polling passes the time left before its deadline); without it only the read timeout
        and ``RetryPolicy.retries`` limit them.
        """
        url = f"{self._base_url}/v1/ingestion/{int(ingestion_id)}"
        until = None if max_wait is None else self._clock() + max_wait

        def once(attempt: int) -> Ingestion | _Retry:
            try:
                response = self._send("GET", url, {}, None, attempt, until=until)
            except httpx.RequestError as exc:
                self._raise_if_untrusted(exc)
                return _Retry(self._describe(exc))
            status = response.status_code
            if 200 <= status < 300:
                data = _data_of(response)
                if data is None:
                    return _Retry(f"an unreadable answer ({self._describe_body(response)})")
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
                error = _ApiError.parse(response, self._key)
                raise RejectedError(
                    f"ingestion {ingestion_id} was not found at {self._base_url} "
                    "(for this key)" + error.suffix(),
                    http_status=404,
                    api_code=error.code or "not_found",
                )
            self._raise_for_refusal(response, what=f"the status request for {ingestion_id}")
            if status == 429 or status >= 500:
                return self._retry_later(response)
            raise RejectedError(
                f"the server answered {self._status_text(response)}",
                http_status=status,
            )

        def exhausted(attempts: int, last: _Retry, reached_server: bool) -> PsykheError:
            return TransientError(
                f"could not read the status of ingestion {ingestion_id} after {attempts} "
                f"attempt(s), last: {last.reason}",
                hint=f"it may still be running; look again with: psykhe status {ingestion_id}",
            )

        return self._retrying(once, on_retry, exhausted=exhausted, max_wait=max_wait, until=until)

    # --- shared -------------------------------------------------------------------------------

    def _retrying(
        self,
        once: Callable[[int], T | _Retry],
        on_retry: RetryCallback | None,
        *,
        exhausted: Callable[[int, _Retry, bool], PsykheError],
        max_wait: float | None = None,
        until: float | None = None,
        pause: Callable[[float], None] | None = None,
    ) -> T:
        attempts = self._policy.retries + 1
        budget = math.inf if max_wait is None else max_wait
        reached_server = False
        attempt = 0
        while True:
            attempt += 1
            outcome = once(attempt)
            if not isinstance(outcome, _Retry):
                return outcome
            reached_server = reached_server or outcome.reached_server
            wait_left = budget if until is None else min(budget, until - self._clock())
            if attempt >= attempts or wait_left <= 0:
                raise exhausted(attempt, outcome, reached_server)
            delay, why = self._delay(attempt, outcome)
            if delay > wait_left:
                delay, why = wait_left, f"{why}; waiting only {wait_left:g} s (deadline)"
            budget -= delay
            self._debug(f"* attempt {attempt} failed: {outcome.reason}; retrying in {delay:.1f} s")
            callback = on_retry or self._on_retry
            if callback is not None:
                callback(attempt, delay, why)
            (pause or self._sleep)(delay)

    def _delay(self, attempt: int, outcome: _Retry) -> tuple[float, str]:
        if outcome.retry_after is None:
            return self._policy.backoff(attempt, self._random()), outcome.reason
        cap = self._policy.max_retry_after
        if outcome.retry_after > cap:
            return (
                cap,
                f"{outcome.reason}, Retry-After {outcome.retry_after:.0f} s capped at {cap:.0f} s",
            )
        return outcome.retry_after, f"{outcome.reason}, Retry-After {outcome.retry_after:.0f} s"

    def _retry_later(self, response: _Answer) -> _Retry:
        error = _ApiError.parse(response, self._key)
        return _Retry(
            self._status_text(response) + (f" {error.code}" if error.code else ""),
            retry_after=parse_retry_after(response.headers.get("Retry-After"), now=self._now()),
            reached_server=True,
        )

    def _raise_for_refusal(self, response: _Answer, *, what: str) -> None:
        """Raise for 3xx, 401/403, 413 and every other 4xx but 429; return for anything else."""
        status = response.status_code
        if 300 <= status < 400:
            raise self._redirect_error(response)
        if status in (401, 403):
            error = _ApiError.parse(response, self._key)
            raise AuthError(
                f"the server rejected the API key from {self._key_source} "
                f"({self._status_text(response)}){error.suffix()}",
                hint="check the key: ingestion needs the private key (sk_…) of this tenant",
            )
        if not 400 <= status < 500 or status == 429:
            return
        error = _ApiError.parse(response, self._key)
        if status == 413 or error.code == "payload_too_large":
            raise PayloadTooLarge(
                f"{what} is larger than the server accepts ({self._status_text(response)})"
                + error.suffix(),
                http_status=status,
                api_code="payload_too_large",
                ingestion_id=error.ingestion_id,
            )
        raise RejectedError(
            f"the server rejected {what} ({self._status_text(response)}){error.suffix()}",
            http_status=status,
            api_code=error.code,
            ingestion_id=error.ingestion_id,
        )

    def _redirect_error(self, response: _Answer) -> RejectedError:
        target = _origin_of_location(response)
        where = f"to {target}" if target else "without a usable Location"
        return RejectedError(
            f"the server answered {self._status_text(response)} redirecting {where}; "
            f"psykhe does not follow redirects, so the key only ever goes to {self._base_url}",
            hint="if the API has moved, set --base-url or PSYKHE_BASE_URL to its new address",
            http_status=response.status_code,
            api_code="redirect",
        )

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: Iterator[bytes] | None,
        attempt: int,
        *,
        until: float | None = None,
        on_body_sent: Callable[[], None] | None = None,
        on_connection: Callable[[Callable[[], None]], None] | None = None,
        on_socket: Callable[[socket.socket], None] | None = None,
    ) -> _Answer:
        """One request and its answer, read whole (up to ``ANSWER_LIMIT``) before returning.

        The answer must be complete within the read timeout of the request being sent, and
        before ``until`` (this client's clock) when given.
        """
        read_timeout = self._http.timeout.read
        watchdog = _Watchdog(
            answer_within=read_timeout, on_body_sent=on_body_sent, on_socket=on_socket
        )
        if on_connection is not None:
            on_connection(watchdog.cut)
        if until is not None:
            # the poll made exactly at its deadline still gets a moment to be answered
            watchdog.arm(max(until - self._clock(), _LAST_REQUEST_GRACE), "the time left to wait")
        request = self._http.build_request(
            method,
            url,
            headers={
                API_KEY_HEADER: self._key.reveal(),
                "User-Agent": USER_AGENT,
                # an answer psykhe cannot unpack whole stays within ANSWER_LIMIT
                "Accept-Encoding": "identity",
                **headers,
            },
            content=content,
            extensions={"trace": watchdog.trace},
        )
        self._debug_request(request, attempt)
        started = self._clock()
        try:
            response = self._http.send(request, follow_redirects=False, stream=True)
            try:
                answer = self._read_answer(response, request)
            finally:
                response.close()
        except httpx.RequestError as exc:
            if watchdog.fired is None:
                self._debug(f"! {type(exc).__name__}: {self._describe(exc)}")
                raise
            late = _AnswerDeadline(watchdog.fired, request=request)
            self._debug(f"! {self._describe(late)}")
            raise late from None
        finally:
            watchdog.stop()
        self._debug_response(answer, self._clock() - started)
        return answer

    def _read_answer(self, response: httpx.Response, request: httpx.Request) -> _Answer:
        body = bytearray()
        truncated = False
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > ANSWER_LIMIT:
                truncated = True
                break
        del body[ANSWER_LIMIT:]
        key = self._key
        return _Answer(
            status_code=response.status_code,
            reason_phrase=key.scrub(response.reason_phrase),
            http_version=response.http_version,
            headers=httpx.Headers([(k, key.scrub(v)) for k, v in response.headers.multi_items()]),
            content=_scrubbed_body(bytes(body), key),
            truncated=truncated,
            request=request,
        )

    def _raise_if_untrusted(self, exc: httpx.RequestError) -> None:
        """A certificate that fails verification will fail again: say so instead of retrying."""
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, ssl.SSLCertVerificationError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            detail = printable(self._key.scrub(str(cause.verify_message or cause)), _MESSAGE_LIMIT)
            raise ConfigError(
                f"the TLS certificate of {self._base_url} could not be verified ({detail})",
                hint="to trust a private CA, point SSL_CERT_FILE at its certificate",
            ) from None

    # --- text ---------------------------------------------------------------------------------

    def _describe(self, exc: httpx.RequestError) -> str:
        detail = printable(self._key.scrub(str(exc)), _MESSAGE_LIMIT)
        if self._proxy is not None and _is_connect_failure(exc):
            variable, proxy = self._proxy
            return (
                f"cannot connect through the proxy {proxy} (from {variable}): "
                f"{detail or type(exc).__name__}"
            )
        if isinstance(exc, httpx.ConnectTimeout):
            return "the connection timed out"
        if isinstance(exc, httpx.ConnectError):
            return f"cannot connect ({detail or 'connection failed'})"
        if isinstance(exc, _AnswerDeadline):
            return f"no complete answer came within {exc.limit}"
        if isinstance(exc, httpx.ReadTimeout):
            limit = self._http.timeout.read
            return "no complete answer came within the read timeout" + (
                f" ({limit:g} s)" if limit is not None else ""
            )
        if isinstance(exc, httpx.WriteTimeout):
            return "the server stopped reading the upload (write timeout)"
        if isinstance(exc, httpx.PoolTimeout):
            return "no connection became free in time"
        if isinstance(exc, httpx.RemoteProtocolError):
            return f"the server closed the connection ({detail or 'no answer'})"
        return f"{type(exc).__name__}: {detail or 'connection failed'}"

    def _describe_body(self, response: _Answer) -> str:
        kind = response.headers.get("Content-Type", "no Content-Type").split(";")[0]
        return f"{printable(kind, 60)}, {response.size_text}"

    @staticmethod
    def _status_text(response: _Answer) -> str:
        reason = printable(response.reason_phrase, 60)
        return f"HTTP {response.status_code}" + (f" {reason}" if reason else "")

    def _debug(self, line: str) -> None:
        if self._on_debug is not None:
            self._on_debug(self._key.scrub(line))

    def _debug_request(self, request: httpx.Request, attempt: int) -> None:
        if self._on_debug is None:
            return
        self._debug(f"> {request.method} {request.url} (attempt {attempt})")
        for raw_name, raw_value in request.headers.raw:  # as sent, in their own spelling
            name = raw_name.decode("latin-1")
            shown = (
                REDACTED if name.lower() == API_KEY_HEADER.lower() else raw_value.decode("latin-1")
            )
            self._debug(f"> {name}: {shown}")

    def _debug_response(self, response: _Answer, elapsed: float) -> None:
        if self._on_debug is None:
            return
        status = self._status_text(response).removeprefix("HTTP ")
        self._debug(f"< {response.http_version} {status} ({elapsed:.2f} s)")
        for name, value in response.headers.items():
            self._debug(f"< {name}: {printable(value, 500)}")
        excerpt = response.content[:_DEBUG_BODY_LIMIT].decode("utf-8", "replace")
        if excerpt:
            more = " …" if len(response.content) > _DEBUG_BODY_LIMIT else ""
            self._debug(f"< {printable(excerpt, _DEBUG_BODY_LIMIT)}{more}")


# --- helpers --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Answer:
    """An answer as psykhe keeps it: the key scrubbed from every text, at most 1 MiB of body."""

    status_code: int
    #: scrubbed, like every header value and the body
    reason_phrase: str
    http_version: str
    headers: httpx.Headers
    content: bytes
    #: the body went on past ``ANSWER_LIMIT``: ``content`` is its start, and not an answer
    truncated: bool
    request: httpx.Request = field(repr=False)

    @functools.cached_property
    def document(self) -> Any:
        """The body as JSON; None when it is not JSON, too deep to parse, or truncated."""
        return None if self.truncated else _parsed(self.content)

    @property
    def size_text(self) -> str:
        """How long the body was, for messages."""
        if self.truncated:
            return f"more than {ANSWER_LIMIT // (1 << 20)} MiB (psykhe reads no further)"
        return f"{len(self.content)} bytes"


def _parsed(content: bytes) -> Any:
    try:
        return json.loads(content)
    except (ValueError, RecursionError):  # ValueError includes UnicodeDecodeError
        return None


def _scrubbed_body(content: bytes, key: Secret) -> bytes:
    """``content`` without the key, also where JSON spelled it with ``\\u`` escapes."""
    content = key.scrub_bytes(content)
    if b"\\u" not in content:
        return content
    doc = _parsed(content)
    if doc is None:
        return content
    try:
        text = json.dumps(doc, ensure_ascii=False)
    except (ValueError, RecursionError):
        return content
    scrubbed = key.scrub(text)
    return content if scrubbed == text else scrubbed.encode("utf-8", "replace")


class _AnswerDeadline(httpx.ReadTimeout):
    """The answer did not arrive in full in time, however steadily its bytes trickled."""

    def __init__(self, limit: str, *, request: httpx.Request) -> None:
        super().__init__(f"no complete answer came within {limit}", request=request)
        #: which limit passed, for messages: "the read timeout (3 s)"
        self.limit = limit


class _Watchdog:
    """Ends one request at its deadline, however slowly the server sends its answer.

    httpx's timeouts bound each socket operation, not a whole answer: a server sending a byte
    every half second never trips them. The watchdog learns the request's connection from
    httpcore's ``trace`` extension, arms itself once the request is sent (the answer must then
    be complete within the read timeout) or earlier (``arm``), and at the deadline shuts the
    connection down, which wakes the reading thread with an end of stream.
    """

    def __init__(
        self,
        *,
        answer_within: float | None,
        on_body_sent: Callable[[], None] | None = None,
        on_socket: Callable[[socket.socket], None] | None = None,
    ) -> None:
        self._answer_within = answer_within
        self._on_body_sent = on_body_sent
        self._on_socket = on_socket
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer: threading.Timer | None = None
        self._deadline = math.inf
        self._reason = ""
        self._active = True
        #: the limit that passed, once the watchdog has shut the connection
        self.fired: str | None = None

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpcore's ``trace`` callback: note new connections, arm once the request is sent."""
        if event.endswith((".connect_tcp.complete", ".start_tls.complete")):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                with self._lock:
                    self._sockets.append(sock)
                    if self.fired is not None:  # the time was up before it connected
                        _shut_down(sock)
                if self._on_socket is not None:
                    self._on_socket(sock)
        elif event.endswith(".send_request_body.complete"):
            # the whole body, its end included (a chunked body's final chunk), was written
            if self._on_body_sent is not None:
                self._on_body_sent()
            if self._answer_within is not None:
                self.arm(self._answer_within, f"the read timeout ({self._answer_within:g} s)")

    def arm(self, seconds: float, reason: str) -> None:
        """End the request ``seconds`` from now, unless an earlier deadline is set."""
        at = time.monotonic() + max(0.0, seconds)
        with self._lock:
            if not self._active or at >= self._deadline:
                return
            self._deadline, self._reason = at, reason
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(max(0.0, seconds), self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if not self._active:
                return
            self.fired = self._reason
            for sock in self._sockets:
                _shut_down(sock)

    def cut(self) -> None:
        """End the request now (its body was abandoned): shut its connection down."""
        with self._lock:
            self._reason = "the upload was abandoned"
        self._fire()

    def stop(self) -> None:
        """The request is over: never touch its connection again."""
        with self._lock:
            self._active = False
            if self._timer is not None:
                self._timer.cancel()


def _shut_down(sock: socket.socket) -> None:
    """Shut a connection down from another thread: its reader sees the end of the stream.

    Through a duplicate descriptor, because ``SSLSocket.shutdown`` would also drop the TLS
    state that the reading thread is using; a closed socket (``fileno() == -1``) is left be.
    """
    fd = sock.fileno()
    if fd < 0:
        return
    try:
        with socket.socket(fileno=os.dup(fd)) as twin:
            twin.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


@dataclass(frozen=True)
class _Retry:
    """One attempt failed in a way that may be retried."""

    reason: str
    retry_after: float | None = None
    #: the server saw (part of) this attempt: "nothing was sent" no longer holds
    reached_server: bool = True
    #: the connection was reset or closed before the body was sent whole and answered
    closed_before_answer: bool = False


@dataclass(frozen=True)
class _ChunkedRefused:
    """The server (or a gateway) would not take a chunked body."""

    reason: str


def _is_streamed(body: object) -> bool:
    return hasattr(body, "stream") and hasattr(body, "whole")


class _TrackedBody:
    """Counts what the transport took from a body; ``complete`` once every byte, and the end
    of the body, was handed over (httpcore's trace says so: ``sent_whole``)."""

    def __init__(
        self,
        on_progress: ProgressCallback | None,
        meter: UploadMeter | None,
        size: int | None = None,
    ) -> None:
        #: None while a streamed body's size is not known
        self._size = size
        self._on_progress = on_progress
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
                if meter.began is None:
                    meter.began = time.monotonic()
                meter.handed = self.sent
            if self._on_progress is not None:
                # a streamed body: not whole before its end was written (``sent_whole``)
                total = self._size if self._size is not None else self.sent + 1
                self._on_progress(self.sent, total)
        if self._size is not None:
            # with a Content-Length, the last byte is the end: nothing more is written
            self._ended()

    def sent_whole(self) -> None:
        """The transport wrote the body's end (httpcore's ``send_request_body.complete``)."""
        if self._size is None:
            self._size = self.sent
            if self._on_progress is not None:
                self._on_progress(self.sent, self.sent)
        self._ended()

    def _ended(self) -> None:
        self.complete = True
        if self.meter is not None:
            self.meter.whole = True


@dataclass(frozen=True)
class _ApiError:
    """``errors[0]`` of an error envelope, or a description of a body that is not one."""

    code: str | None
    message: str | None
    ingestion_id: int | None
    #: set when the body was not an error envelope: what it was instead
    not_json: str | None

    @classmethod
    def parse(cls, response: _Answer, key: Secret) -> _ApiError:
        """Read the envelope; never raises, whatever the body is."""
        doc = _json_of(response)
        errors = doc.get("errors") if isinstance(doc, dict) else None
        first = errors[0] if isinstance(errors, list) and errors else None
        if not isinstance(first, dict):
            kind = response.headers.get("Content-Type", "no Content-Type").split(";")[0]
            what = (
                "an empty body"
                if not response.content
                else f"{response.size_text} of {printable(kind, 60)}"
            )
            return cls(None, None, None, f"not a JSON error: {what}")
        context = first.get("context")
        code, message = first.get("code"), first.get("message")
        return cls(
            code=printable(key.scrub(code), 80) if isinstance(code, str) else None,
            message=printable(key.scrub(message), _MESSAGE_LIMIT)
            if isinstance(message, str)
            else None,
            ingestion_id=as_int(context.get("ingestion_id")) if isinstance(context, dict) else None,
            not_json=None,
        )

    def suffix(self) -> str:
        """``": code: message (ingestion N)"`` for a message, or what the body was."""
        if self.not_json:
            return f": {self.not_json}"
        parts = [p for p in (self.code, self.message) if p]
        text = (": " + ": ".join(parts)) if parts else ""
        if self.ingestion_id is not None:
            text += f" (the server recorded it as ingestion {self.ingestion_id})"
        return text


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or HTTP date); None if unusable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now)


def _is_connect_failure(exc: httpx.RequestError) -> bool:
    return isinstance(
        exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
    )


def _json_of(response: _Answer) -> Any:
    return response.document


def _data_of(response: _Answer) -> dict[str, Any] | None:
    doc = _json_of(response)
    data = doc.get("data") if isinstance(doc, dict) else None
    return data if isinstance(data, dict) else None


def _ingestion_id_of(response: _Answer) -> int | None:
    """``data.ingestion_id``, or the older bare ``ingestion_id``; None when neither is usable."""
    doc = _json_of(response)
    if not isinstance(doc, dict):
        return None
    data = doc.get("data")
    candidates = [data.get("ingestion_id") if isinstance(data, dict) else None]
    candidates.append(doc.get("ingestion_id"))
    for candidate in candidates:
        ingestion_id = as_int(candidate)
        if ingestion_id is not None and ingestion_id > 0:
            return ingestion_id
    return None


def _origin_of_location(response: _Answer) -> str | None:
    """``scheme://host:port`` of a redirect's target — never its path, query or userinfo."""
    location = response.headers.get("Location")
    if not location:
        return None
    try:
        url = response.request.url.join(location.strip())
        port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    except (httpx.InvalidURL, ValueError):
        return None
    host = printable(url.host, 255)
    if not host or not url.scheme:
        return None
    host = f"[{host}]" if ":" in host else host
    return f"{printable(url.scheme, 20)}://{host}" + (f":{port}" if port else "")
