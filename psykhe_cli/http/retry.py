"""The retry policy: which failures are tried again, how long to wait, when to give up.

An attempt that may be retried returns a ``Retry`` (why, and a server's ``Retry-After``);
``retrying`` runs attempts until one returns something else, waiting between them with
full-jitter exponential backoff (``RetryPolicy``) or the server's ``Retry-After`` (capped),
and within an optional time budget. Sleep, clock and random are passed in.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timezone
from typing import TypeVar

from psykhe_cli.errors import PsykheError

T = TypeVar("T")

RetryCallback = Callable[[int, float, str], None]
"""``on_retry(attempt, delay, reason)``: attempt number that failed (1-based), seconds to wait."""


@dataclass(frozen=True)
class Retry:
    """One attempt failed in a way that may be retried."""

    reason: str
    retry_after: float | None = None
    #: the server saw (part of) this attempt: "nothing was sent" no longer holds
    reached_server: bool = True


Exhausted = Callable[[int, Retry, bool], PsykheError]
"""``exhausted(attempts, last, reached_server)``: the error once no attempt is left."""


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

    def delay(self, attempt: int, outcome: Retry, rand: float) -> tuple[float, str]:
        """Seconds to wait after ``outcome`` of attempt ``attempt``, and the reason to tell."""
        if outcome.retry_after is None:
            return self.backoff(attempt, rand), outcome.reason
        cap = self.max_retry_after
        if outcome.retry_after > cap:
            return (
                cap,
                f"{outcome.reason}, Retry-After {outcome.retry_after:.0f} s capped at {cap:.0f} s",
            )
        return outcome.retry_after, f"{outcome.reason}, Retry-After {outcome.retry_after:.0f} s"


@dataclass(frozen=True, kw_only=True)
class Waiting:
    """What ``retrying`` needs of the world: how to wait, what time it is, chance, telling."""

    sleep: Callable[[float], None]
    clock: Callable[[], float]
    random: Callable[[], float]
    debug: Callable[[str], None]


def retrying(
    once: Callable[[int], T | Retry],
    *,
    policy: RetryPolicy,
    world: Waiting,
    exhausted: Exhausted,
    on_retry: RetryCallback | None = None,
    max_wait: float | None = None,
    until: float | None = None,
    pause: Callable[[float], None] | None = None,
) -> T:
    """Call ``once(attempt)`` until it returns something other than a ``Retry``.

    At most ``policy.retries`` retries, and waits adding up to at most ``max_wait`` seconds
    and ending before ``until`` (``world.clock``); then ``exhausted`` gives the error raised.
    ``pause`` waits instead of ``world.sleep`` (an upload's, which a stop interrupts).
    """
    attempts = policy.retries + 1
    budget = math.inf if max_wait is None else max_wait
    reached_server = False
    attempt = 0
    while True:
        attempt += 1
        outcome = once(attempt)
        if not isinstance(outcome, Retry):
            return outcome
        reached_server = reached_server or outcome.reached_server
        wait_left = budget if until is None else min(budget, until - world.clock())
        if attempt >= attempts or wait_left <= 0:
            raise exhausted(attempt, outcome, reached_server)
        delay, why = policy.delay(attempt, outcome, world.random())
        if delay > wait_left:
            delay, why = wait_left, f"{why}; waiting only {wait_left:g} s (deadline)"
        budget -= delay
        world.debug(f"* attempt {attempt} failed: {outcome.reason}; retrying in {delay:.1f} s")
        if on_retry is not None:
            on_retry(attempt, delay, why)
        (pause or world.sleep)(delay)


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
