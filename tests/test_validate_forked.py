"""The forked pool: results in the order submitted, errors raised where asked, workers reaped."""

from __future__ import annotations

import os
import signal
import time

import pytest

from psykhe_cli.validate.forked import ForkedPool, WorkerLost


def _nothing() -> None:
    pass


def _square_slowly(n: int) -> tuple[int, int]:
    time.sleep(0.01 * (n % 3))  # so that the two workers finish out of order
    return n * n, os.getpid()


def _fail(message: str) -> None:
    raise ValueError(message)


def _big(size: int) -> bytes:
    return b"x" * size  # more than a pipe holds: written while the parent reads


def test_results_come_back_in_the_order_submitted_from_both_workers() -> None:
    pool = ForkedPool(2, _nothing)
    try:
        pending = [pool.submit(_square_slowly, n) for n in range(12)]
        results = [p.result() for p in pending]
    finally:
        pool.shutdown()
    assert [square for square, _ in results] == [n * n for n in range(12)]
    assert len({pid for _, pid in results}) == 2
    assert os.getpid() not in {pid for _, pid in results}


def test_a_worker_done_early_gets_the_next_tasks_and_results_stay_in_order() -> None:
    pool = ForkedPool(2, _nothing)
    try:
        slow = pool.submit(time.sleep, 0.5)  # the first worker
        quick = [pool.submit(_square_slowly, 3 * n) for n in range(6)]  # n % 3 == 0: no sleep
        time.sleep(0.1)
        # the first worker has 4 unfinished (the slow one, then every other quick one)
        quick += [pool.submit(_square_slowly, 3 * n) for n in range(6, 9)]
        assert slow.result() is None
        results = [p.result() for p in quick]
    finally:
        pool.shutdown()
    assert [square for square, _ in results] == [9 * n * n for n in range(9)]
    free = results[0][1]  # the worker that took the first quick task
    assert [pid for _, pid in results[6:]] == [free] * 3


def test_big_results_and_repeated_reads() -> None:
    pool = ForkedPool(2, _nothing)
    try:
        pending = [pool.submit(_big, 3 << 20) for _ in range(3)]
        assert all(p.result() == b"x" * (3 << 20) for p in pending)
        assert pending[0].result() == b"x" * (3 << 20)  # kept, not read again
    finally:
        pool.shutdown()


def test_an_exception_in_a_worker_is_raised_by_result_and_the_pool_goes_on() -> None:
    pool = ForkedPool(2, _nothing)
    try:
        failing = pool.submit(_fail, "bad range")
        after = pool.submit(_square_slowly, 4)
        with pytest.raises(ValueError, match=r"^bad range$"):
            failing.result()
        assert after.result()[0] == 16
        missing = pool.submit(open, "/nonexistent/feed.jsonl", "rb")
        with pytest.raises(FileNotFoundError):
            missing.result()
    finally:
        pool.shutdown()


def test_a_killed_worker_is_reported_not_waited_for() -> None:
    pool = ForkedPool(2, _nothing)
    try:
        pid = pool.submit(_square_slowly, 3).result()[1]  # the first worker: none was busy
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        with pytest.raises(WorkerLost):  # none is busy: the first worker again
            pool.submit(_square_slowly, 5).result()
    finally:
        pool.shutdown()


def test_shutdown_reaps_every_worker_even_mid_task() -> None:
    pool = ForkedPool(2, _nothing)
    pids = [pool.submit(_square_slowly, n).result()[1] for n in range(2)]
    pool.submit(time.sleep, 30)  # under way when the pool is shut down
    started = time.monotonic()
    pool.shutdown()
    assert time.monotonic() - started < 5
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaped already: no zombie left
