"""wait_for_ingestion with a scripted status source and a fake clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from psykhe_cli.errors import (
    AuthError,
    ExitCode,
    PsykheError,
    RejectedError,
    TransientError,
    UsageError,
    WaitTimeout,
)
from psykhe_cli.ingestion import Ingestion
from psykhe_cli.poll import poll_intervals, wait_for_ingestion

ID = 477021


@dataclass
class FakeTime:
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@dataclass
class Script:
    """Answers each status request with the next item: a status number or an error to raise."""

    items: list[Any]
    time: FakeTime
    asked_at: list[float] = field(default_factory=list)
    max_waits: list[float | None] = field(default_factory=list)

    def get_ingestion(self, ingestion_id: int, *, max_wait: float | None = None) -> Ingestion:
        assert ingestion_id == ID
        self.asked_at.append(self.time.now)
        self.max_waits.append(max_wait)
        item = self.items.pop(0) if len(self.items) > 1 else self.items[0]
        if isinstance(item, PsykheError):
            raise item
        return Ingestion.from_data({"id": ID, "status": item}, ingestion_id=ID)


def _wait(script: Script, **kwargs: object) -> Ingestion:
    return wait_for_ingestion(
        script,
        ID,
        sleep=script.time.sleep,
        clock=script.time.clock,
        **kwargs,  # type: ignore[arg-type]
    )


def test_poll_created_started_completed_returns_with_growing_waits() -> None:
    time = FakeTime()
    updates: list[str] = []
    script = Script([2, 3, 3, 4], time)
    result = _wait(script, on_update=lambda i: updates.append(i.status_name))
    assert result.status_name == "completed"
    assert updates == ["created", "started", "started", "completed"]
    assert time.sleeps == [1.0, 2.0, 4.0]
    assert script.asked_at == [0.0, 1.0, 3.0, 7.0]


def test_poll_backoff_grows_to_ten_seconds() -> None:
    time = FakeTime()
    _wait(Script([2] * 8 + [4], time))
    assert time.sleeps == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0, 10.0]


def test_poll_fixed_interval_allows_fractions() -> None:
    time = FakeTime()
    _wait(Script([3, 3, 3, 4], time), poll_interval=0.25)
    assert time.sleeps == [0.25, 0.25, 0.25]


def test_poll_failed_is_returned_for_the_caller_to_report() -> None:
    result = _wait(Script([3, 5], FakeTime()))
    assert (result.status_name, result.failed, result.succeeded) == ("failed", True, False)


def test_poll_deadline_raises_wait_timeout_with_the_id() -> None:
    time = FakeTime()
    script = Script([3], time)
    with pytest.raises(WaitTimeout) as caught:
        _wait(script, timeout=5)
    assert caught.value.exit_code == ExitCode.WAIT_TIMEOUT
    assert int(caught.value.exit_code) == 10
    assert caught.value.message == f"ingestion {ID} is still started after waiting 5 s"
    assert caught.value.hint == f"follow it with: psykhe status {ID} --watch"
    # the last wait is shortened so the final request happens exactly at the deadline
    assert time.sleeps == [1.0, 2.0, 2.0]
    assert script.asked_at == [0.0, 1.0, 3.0, 5.0]
    # each request's own retries may only use the time left
    assert script.max_waits == [5.0, 4.0, 2.0, 0.0]


def test_poll_timeout_zero_asks_once() -> None:
    time = FakeTime()
    with pytest.raises(WaitTimeout):
        _wait(Script([2], time), timeout=0)
    assert time.sleeps == []


@pytest.mark.parametrize("status", [1, 0, 6, 99])
def test_poll_unknown_status_never_counts_as_success(status: int) -> None:
    with pytest.raises(WaitTimeout, match="still unknown after waiting 60 s"):
        _wait(Script([status], FakeTime()), timeout=60)


def test_poll_transient_failures_do_not_end_the_wait() -> None:
    time = FakeTime()
    errors: list[str] = []
    outage = TransientError("could not read the status")
    result = _wait(
        Script([2, outage, outage, 4], time), on_error=lambda e: errors.append(e.message)
    )
    assert result.succeeded
    assert errors == ["could not read the status"] * 2
    assert time.sleeps == [1.0, 2.0, 4.0]


def test_poll_only_transient_failures_until_deadline() -> None:
    with pytest.raises(WaitTimeout, match=f"ingestion {ID} is status unknown after waiting 3 s"):
        _wait(Script([TransientError("down")], FakeTime()), timeout=3)


@pytest.mark.parametrize(
    "error",
    [RejectedError("not found", http_status=404, api_code="not_found"), AuthError("bad key")],
)
def test_poll_refusals_end_the_wait_at_once(error: PsykheError) -> None:
    time = FakeTime()
    script = Script([2, error, 4], time)
    with pytest.raises(type(error)):
        _wait(script)
    assert len(script.asked_at) == 2


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"timeout": -1}, "--timeout must be 0 seconds or more"),
        ({"timeout": float("nan")}, "--timeout must be 0 seconds or more"),
        ({"poll_interval": 0}, "--poll-interval must be more than 0"),
    ],
)
def test_poll_bad_options_are_usage_errors(kwargs: dict[str, float], fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        _wait(Script([4], FakeTime()), **kwargs)


def test_poll_intervals() -> None:
    backoff = poll_intervals()
    assert [backoff(n) for n in range(1, 8)] == [1, 2, 4, 8, 10, 10, 10]
    assert backoff(10_000) == 10
    assert poll_intervals(3.5)(1) == poll_intervals(3.5)(50) == 3.5
