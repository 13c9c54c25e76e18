"""The connection to the Ingestion API that a push and ``psykhe status`` go through.

``open_client`` is where the HTTP client is built. ``EarlyClient`` builds it in a thread while
the feed's workers check the feed (before they are forked when the upload streams: its first
block is ready at once), and checks the key meanwhile on a thread of its own
(``http/keycheck.py``: one request, its verdict before anything is sent). Status requests tell
their retries to the client's
``on_retry``; an upload, which runs in a thread of its own, tells them to the one it passes
with the request (``upload.Upload``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from psykhe_cli import threads
from psykhe_cli.http.keycheck import KeyCheck, KeyVerdict

if TYPE_CHECKING:
    import httpx

    from psykhe_cli.client import IngestionClient
    from psykhe_cli.config import Settings

#: seconds a push waits for the key check, once its feed is checked: a server that answers
#: the check later (or never) costs the push no more than this, and the upload decides
PUSH_KEY_CHECK_DEADLINE = 2.0

#: the client and the function that closes it
Opened = tuple["IngestionClient", Callable[[], None]]
#: ``on_retry(attempt, delay, reason)``: the attempt that failed, seconds before the next
RetryCallback = Callable[[int, float, str], None]


def open_client(
    settings: Settings,
    *,
    on_retry: RetryCallback | None = None,
    on_debug: Callable[[str], None] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Opened:
    """The API client for ``settings`` and its close; ``on_retry`` hears the retries of
    status requests; ``transport`` replaces the network."""
    from psykhe_cli.client import IngestionClient, make_http_client

    http = make_http_client(settings, transport=transport)
    client = IngestionClient.from_settings(settings, http, on_retry=on_retry, on_debug=on_debug)
    return client, http.close


class EarlyClient:
    """The HTTP client, made in a thread while the worker processes check the feed, or
    before they are forked (``make_now``).

    Importing httpx and building its client (for https, a TLS context with the CA bundle)
    costs ~0.1-0.2 s in the one process that, while the workers check the feed, mostly waits
    for them; made after them, it would hold up the upload. Nothing is sent until ``take``,
    but the key check (``key_verdict``); a client made but not taken (a refusal, an error) is
    closed by ``close``.
    """

    def __init__(
        self, make: Callable[[], Opened], *, key_source: str = "the configured key"
    ) -> None:
        self._make = make
        self._thread: threading.Thread | None = None
        self._made: Opened | None = None
        self._error: BaseException | None = None
        self._taken = False
        # the key check's thread and the upload's may want the client at the same time
        self._lock = threading.Lock()
        self._key_check = KeyCheck(
            self._check_key, key_source=key_source, deadline=PUSH_KEY_CHECK_DEADLINE
        )

    def make_now(self) -> None:
        """Make the client in this thread, now: before the workers are forked, for an upload
        that streams while they check the feed. Its first block is ready ~0.1 s after they
        start, and a client made in a thread meanwhile, on cores both workers hold, was
        ready 0.3-0.5 s after them; made here, it costs that import once, unshared. A
        failure is raised again by ``take``, as the thread's would be."""
        with self._lock:
            if self._made is None and self._error is None:
                self._run()

    def start(self, *, check_key: bool = True) -> None:
        """Make the client (unless ``make_now`` made it) and (unless ``check_key`` is False: a
        push that may send nothing makes no request before it knows) check the key, each in a
        thread (only once the workers are forked)."""
        if self._made is None and self._error is None:
            self._thread = threading.Thread(target=self._run, name="psykhe-client", daemon=True)
            threads.start(self._thread)
        if check_key:
            self._key_check.start()

    def key_verdict(self) -> KeyVerdict:
        """Whether the server accepts the key: the check started by ``start`` (started now if
        it was not), waited for no longer than its deadline; a check without an answer by then
        is ``unknown``."""
        return self._key_check.verdict()

    def _check_key(self) -> KeyVerdict:
        return self._made_client()[0].check_key(deadline=PUSH_KEY_CHECK_DEADLINE)

    def _wait(self) -> None:
        # a signal may stop the push between the thread's making and its start: no ident yet
        if self._thread is not None and self._thread.ident is not None:
            self._thread.join()

    def _run(self) -> None:
        try:
            self._made = self._make()
        except BaseException as exc:  # raised again in the main thread by take()
            self._error = exc

    def _made_client(self) -> Opened:
        with self._lock:
            self._wait()
            if self._error is not None:
                raise self._error
            if self._made is None:
                self._made = self._make()
            return self._made

    def take(self) -> Opened:
        """The client and its close function, made now unless made already."""
        made = self._made_client()
        self._taken = True
        return made

    def close(self) -> None:
        """Close the client if it was made and never taken."""
        with self._lock:
            self._wait()
            if self._made is not None and not self._taken:
                self._made[1]()
