"""One exchange: a request sent, and its answer read bounded, in time, with the key scrubbed.

Every answer is read through ``Exchange.send`` into an ``Answer``: at most ``ANSWER_LIMIT``
bytes of it (the envelope is small; an endless body must not fill memory), within a deadline
that a trickling server cannot stretch (``watchdog.Watchdog``), and with the key scrubbed from
every text the server sent, before anything else looks at it. With ``on_debug``, each request
and answer is told line by line, the key redacted.
"""

from __future__ import annotations

import functools
import json
import socket
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from psykhe_cli.config import REDACTED, Secret, network_environment
from psykhe_cli.errors import ConfigError
from psykhe_cli.http.transport import MESSAGE_LIMIT, USER_AGENT
from psykhe_cli.http.watchdog import AnswerDeadline, Watchdog
from psykhe_cli.printable import clipped as printable

API_KEY_HEADER = "X-PSYKHE-API-KEY"
#: the most psykhe reads of any answer: every documented one is a small JSON envelope
ANSWER_LIMIT = 1 << 20
#: seconds a status request may take past the caller's ``max_wait`` (the poll at the deadline)
_LAST_REQUEST_GRACE = 2.0
_DEBUG_BODY_LIMIT = 2000

DebugCallback = Callable[[str], None]
"""``on_debug(line)``: one request/response detail line, key redacted."""


@dataclass(frozen=True, kw_only=True)
class Answer:
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

    @property
    def status_text(self) -> str:
        """``"HTTP 503 Service Unavailable"``, for messages."""
        reason = printable(self.reason_phrase, 60)
        return f"HTTP {self.status_code}" + (f" {reason}" if reason else "")

    @property
    def body_text(self) -> str:
        """What the body was (its type and size), for messages."""
        kind = self.headers.get("Content-Type", "no Content-Type").split(";")[0]
        return f"{printable(kind, 60)}, {self.size_text}"


class Exchange:
    """Sends one request at a time over ``http`` with the key, and reads its answer whole."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        base_url: str,
        api_key: Secret,
        clock: Callable[[], float],
        on_debug: DebugCallback | None = None,
    ) -> None:
        self._http = http
        self._base_url = base_url
        self._key = api_key
        self._clock = clock
        self._on_debug = on_debug
        #: the proxy httpx takes from the environment for this base URL, to name it in errors
        self._proxy = network_environment(base_url).proxy

    def send(
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
        on_answer: Callable[[], None] | None = None,
        abortive: bool = False,
        within: float | None = None,
    ) -> Answer:
        """One request and its answer, read whole (up to ``ANSWER_LIMIT``) before returning.

        The answer must be complete within the read timeout of the request being sent, and
        before ``until`` (this exchange's clock) when given. ``on_connection(cut)`` is given
        the way to abandon the request from another thread; ``on_socket`` its connection;
        ``on_body_sent`` is called once the body's end was written, ``on_answer`` once the
        answer's head was read. ``abortive``: until the
        answer begins, however the connection is closed, it is reset (an upload: what the
        kernel still holds of its body must never complete the request). ``within``: the
        whole exchange, connecting included, ends after that many seconds (a quick check that
        must never hold its caller up longer).
        """
        read_timeout = self._http.timeout.read if within is None else within
        watchdog = Watchdog(
            answer_within=read_timeout,
            on_body_sent=on_body_sent,
            on_socket=on_socket,
            on_answer=on_answer,
            abortive=abortive,
        )
        if on_connection is not None:
            on_connection(watchdog.cut)
        if until is not None:
            # the poll made exactly at its deadline still gets a moment to be answered
            watchdog.arm(max(until - self._clock(), _LAST_REQUEST_GRACE), "the time left to wait")
        if within is not None:
            watchdog.arm(within, f"{within:g} s")
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
            # each socket operation, the connection's included, within ``within`` too
            timeout=httpx.USE_CLIENT_DEFAULT if within is None else httpx.Timeout(within),
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
                self.debug(f"! {type(exc).__name__}: {self.describe(exc)}")
                raise
            late = AnswerDeadline(watchdog.fired, request=request)
            self.debug(f"! {self.describe(late)}")
            raise late from None
        finally:
            watchdog.stop()
        self._debug_response(answer, self._clock() - started)
        return answer

    def raise_if_untrusted(self, exc: httpx.RequestError) -> None:
        """A certificate that fails verification will fail again: say so instead of retrying."""
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, ssl.SSLCertVerificationError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            detail = printable(self._key.scrub(str(cause.verify_message or cause)), MESSAGE_LIMIT)
            raise ConfigError(
                f"the TLS certificate of {self._base_url} could not be verified ({detail})",
                hint="to trust a private CA, point SSL_CERT_FILE at its certificate",
            ) from None

    def _read_limit(self, exc: httpx.RequestError) -> float | None:
        """The read timeout the failed request had: its own (``within``), else the client's."""
        try:
            own = exc.request.extensions.get("timeout", {}).get("read")
        except RuntimeError:  # an error raised without its request
            own = None
        return own if isinstance(own, int | float) else self._http.timeout.read

    def describe(self, exc: httpx.RequestError) -> str:
        """What went wrong with a request, in words for a message (the key scrubbed)."""
        detail = printable(self._key.scrub(str(exc)), MESSAGE_LIMIT)
        if self._proxy is not None and is_connect_failure(exc):
            variable, proxy = self._proxy
            return (
                f"cannot connect through the proxy {proxy} (from {variable}): "
                f"{detail or type(exc).__name__}"
            )
        if isinstance(exc, httpx.ConnectTimeout):
            return "the connection timed out"
        if isinstance(exc, httpx.ConnectError):
            return f"cannot connect ({detail or 'connection failed'})"
        if isinstance(exc, AnswerDeadline):
            return f"no complete answer came within {exc.limit}"
        if isinstance(exc, httpx.ReadTimeout):
            limit = self._read_limit(exc)
            if limit is not None and limit != self._http.timeout.read:  # the request's own
                return f"no complete answer came within {limit:g} s"  # as the watchdog says
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

    def debug(self, line: str) -> None:
        """Tell ``line`` to ``on_debug``, the key scrubbed from it."""
        if self._on_debug is not None:
            self._on_debug(self._key.scrub(line))

    def _read_answer(self, response: httpx.Response, request: httpx.Request) -> Answer:
        body = bytearray()
        truncated = False
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > ANSWER_LIMIT:
                truncated = True
                break
        del body[ANSWER_LIMIT:]
        key = self._key
        return Answer(
            status_code=response.status_code,
            reason_phrase=key.scrub(response.reason_phrase),
            http_version=response.http_version,
            headers=httpx.Headers([(k, key.scrub(v)) for k, v in response.headers.multi_items()]),
            content=_scrubbed_body(bytes(body), key),
            truncated=truncated,
            request=request,
        )

    def _debug_request(self, request: httpx.Request, attempt: int) -> None:
        if self._on_debug is None:
            return
        self.debug(f"> {request.method} {request.url} (attempt {attempt})")
        for raw_name, raw_value in request.headers.raw:  # as sent, in their own spelling
            name = raw_name.decode("latin-1")
            shown = (
                REDACTED if name.lower() == API_KEY_HEADER.lower() else raw_value.decode("latin-1")
            )
            self.debug(f"> {name}: {shown}")

    def _debug_response(self, response: Answer, elapsed: float) -> None:
        if self._on_debug is None:
            return
        status = response.status_text.removeprefix("HTTP ")
        self.debug(f"< {response.http_version} {status} ({elapsed:.2f} s)")
        for name, value in response.headers.items():
            self.debug(f"< {name}: {printable(value, 500)}")
        excerpt = response.content[:_DEBUG_BODY_LIMIT].decode("utf-8", "replace")
        if excerpt:
            more = " …" if len(response.content) > _DEBUG_BODY_LIMIT else ""
            self.debug(f"< {printable(excerpt, _DEBUG_BODY_LIMIT)}{more}")


def is_connect_failure(exc: httpx.RequestError) -> bool:
    """No connection to the server was made: nothing of the request reached it."""
    return isinstance(
        exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
    )


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
