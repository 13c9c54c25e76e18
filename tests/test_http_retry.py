"""The retry policy: Retry-After read, backoff with full jitter, the delay decision, the loop."""

from __future__ import annotations

import pytest

from psykhe_cli.client import RetryPolicy, parse_retry_after
from psykhe_cli.errors import PsykheError
from psykhe_cli.http.retry import Retry, Waiting, retrying

# a fixed "now" for HTTP-date Retry-After: Thu, 26 Nov 2026 06:00:00 GMT
NOW = 1795672800.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2", 2.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        ("-1", None),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("Thu, 26 Nov 2026 06:00:30 GMT", 30.0),
        ("Thu, 26 Nov 2026 05:00:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


def test_backoff_is_full_jitter_doubling_up_to_the_cap() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0)
    assert [policy.backoff(n, 0.5) for n in (1, 2, 3, 4, 40)] == [0.5, 1.0, 2.0, 2.5, 2.5]
    assert policy.backoff(3, 0.0) == 0.0


def test_delay_honours_retry_after_up_to_its_cap() -> None:
    policy = RetryPolicy(max_retry_after=60.0)
    assert policy.delay(1, Retry("HTTP 503", retry_after=7.0), 0.5) == (
        7.0,
        "HTTP 503, Retry-After 7 s",
    )
    assert policy.delay(1, Retry("HTTP 503", retry_after=600.0), 0.5) == (
        60.0,
        "HTTP 503, Retry-After 600 s capped at 60 s",
    )
    assert policy.delay(2, Retry("reset"), 0.5) == (1.0, "reset")


def test_retrying_stops_at_the_first_answer_and_tells_each_wait() -> None:
    outcomes: list[Retry | str] = [Retry("one"), Retry("two"), "done"]
    slept: list[float] = []
    told: list[tuple[int, float, str]] = []
    world = Waiting(
        sleep=slept.append, clock=lambda: 0.0, random=lambda: 0.5, debug=lambda line: None
    )
    got = retrying(
        lambda attempt: outcomes[attempt - 1],
        policy=RetryPolicy(retries=4),
        world=world,
        exhausted=lambda *a: PsykheError("exhausted"),
        on_retry=lambda *a: told.append(a),
    )
    assert got == "done"
    assert slept == [0.5, 1.0]
    assert told == [(1, 0.5, "one"), (2, 1.0, "two")]


def test_retrying_gives_up_with_the_error_made_of_the_last_failure() -> None:
    seen: list[tuple[int, str, bool]] = []

    def exhausted(attempts: int, last: Retry, reached_server: bool) -> PsykheError:
        seen.append((attempts, last.reason, reached_server))
        return PsykheError("gave up")

    world = Waiting(
        sleep=lambda s: None, clock=lambda: 0.0, random=lambda: 0.0, debug=lambda line: None
    )
    with pytest.raises(PsykheError, match="gave up"):
        retrying(
            lambda attempt: Retry(f"failure {attempt}", reached_server=attempt == 1),
            policy=RetryPolicy(retries=2),
            world=world,
            exhausted=exhausted,
        )
    assert seen == [(3, "failure 3", True)]
