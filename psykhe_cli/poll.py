"""Wait for an ingestion to reach a terminal status: backoff, a deadline, injected sleep/clock.

``wait_for_ingestion`` returns the terminal ``Ingestion`` — COMPLETED *or* FAILED; mapping FAILED
to exit 9 (``IngestionFailed``) is the caller's job, after it has shown the summary. It raises
``WaitTimeout`` at the deadline, and lets ``RejectedError`` (404, redirect) and ``AuthError``
through at once. A ``TransientError`` from one status request (its own retries exhausted) does
not end the wait: polling goes on until the deadline, which also bounds the client's retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from psykhe_cli.errors import TransientError, UsageError, WaitTimeout
from psykhe_cli.ingestion import Ingestion

DEFAULT_TIMEOUT = 1800.0
FIRST_INTERVAL = 1.0
MAX_INTERVAL = 10.0

UpdateCallback = Callable[[Ingestion], None]
"""``on_update(ingestion)``: called after every successful status request."""
ErrorCallback = Callable[[TransientError], None]
"""``on_error(exc)``: a status request failed for now; polling continues."""


class StatusSource(Protocol):
    """What polling needs of ``IngestionClient``."""

    def get_ingestion(self, ingestion_id: int, *, max_wait: float | None = None) -> Ingestion:
        """The current state of one ingestion, retrying for at most ``max_wait`` seconds."""
        ...


def poll_intervals(poll_interval: float | None = None) -> Callable[[int], float]:
    """Seconds to wait before poll ``n`` (1-based): 1, 2, 4, 8, 10, 10, … or fixed."""
    if poll_interval is not None:
        return lambda n: poll_interval
    return lambda n: min(MAX_INTERVAL, FIRST_INTERVAL * 2 ** min(n - 1, 10))


def wait_for_ingestion(
    client: StatusSource,
    ingestion_id: int,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    poll_interval: float | None = None,
    on_update: UpdateCallback | None = None,
    on_error: ErrorCallback | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Ingestion:
    """Poll until COMPLETED or FAILED and return that ``Ingestion``; at the deadline, WaitTimeout.

    The first request is made at once; the last one exactly at the deadline. Unknown status
    numbers count as still running, never as success.
    """
    if not timeout >= 0:
        raise UsageError(f"--timeout must be 0 seconds or more, not {timeout}")
    if poll_interval is not None and not poll_interval > 0:
        raise UsageError(f"--poll-interval must be more than 0 seconds, not {poll_interval}")
    interval = poll_intervals(poll_interval)
    deadline = clock() + timeout
    last: Ingestion | None = None
    polls = 0
    while True:
        polls += 1
        try:
            last = client.get_ingestion(ingestion_id, max_wait=max(0.0, deadline - clock()))
        except TransientError as exc:
            if on_error is not None:
                on_error(exc)
        else:
            if on_update is not None:
                on_update(last)
            if last.is_terminal:
                return last
        remaining = deadline - clock()
        if remaining <= 0:
            raise _timed_out(ingestion_id, timeout, last)
        sleep(min(interval(polls), remaining))


def _timed_out(ingestion_id: int, timeout: float, last: Ingestion | None) -> WaitTimeout:
    state = f"still {last.status_name}" if last is not None else "status unknown"
    return WaitTimeout(
        f"ingestion {ingestion_id} is {state} after waiting {timeout:g} s",
        hint=f"follow it with: psykhe status {ingestion_id} --watch",
    )
