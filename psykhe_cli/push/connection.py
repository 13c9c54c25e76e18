"""The connection to the Ingestion API that a push and ``psykhe status`` go through.

``open_client`` is where the HTTP client is built. ``EarlyClient`` builds it in a thread while
the feed's workers check the feed. Status requests tell their retries to the client's
``on_retry``; an upload, which runs in a thread of its own, tells them to the one it passes
with the request (``upload.Upload``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from psykhe_cli import threads

if TYPE_CHECKING:
    import httpx

    from psykhe_cli.client import IngestionClient
    from psykhe_cli.config import Settings

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
    """The HTTP client, made in a thread while the worker processes check the feed.

    Importing httpx and building its client (for https, a TLS context with the CA bundle)
    costs ~0.1-0.2 s in the one process that, while the workers check the feed, mostly waits
    for them; made after them, it would hold up the upload. Nothing is sent until ``take``;
    a client made but not taken (a refusal, an error) is closed by ``close``.
    """

    def __init__(self, make: Callable[[], Opened]) -> None:
        self._make = make
        self._thread: threading.Thread | None = None
        self._made: Opened | None = None
        self._error: BaseException | None = None
        self._taken = False

    def start(self) -> None:
        """Make the client in a thread (only once the workers are forked)."""
        self._thread = threading.Thread(target=self._run, name="psykhe-client", daemon=True)
        threads.start(self._thread)

    def _wait(self) -> None:
        # a signal may stop the push between the thread's making and its start: no ident yet
        if self._thread is not None and self._thread.ident is not None:
            self._thread.join()

    def _run(self) -> None:
        try:
            self._made = self._make()
        except BaseException as exc:  # raised again in the main thread by take()
            self._error = exc

    def take(self) -> Opened:
        """The client and its close function, made now unless made already."""
        self._wait()
        if self._error is not None:
            raise self._error
        made = self._made if self._made is not None else self._make()
        self._made, self._taken = made, True
        return made

    def close(self) -> None:
        """Close the client if it was made and never taken."""
        self._wait()
        if self._made is not None and not self._taken:
            self._made[1]()
