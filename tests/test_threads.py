"""The fork rule (psykhe_cli/threads.py): a thread started while the validation workers may
still be forked is an error in tests, not a silent fall back to one process."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import orjson
import pytest

from psykhe_cli import threads
from tests.helpers import isolated_env

#: in a process of its own (no thread of pytest's): a consumer that starts a thread through
#: the fork rule at the first progress (before the workers start, at 1.5 MiB) or once the
#: workers run (``on_workers``); prints what happened and the threads at each fork
STARTS_A_THREAD = """
import io, json, os, sys, threading
from psykhe_cli import threads
from psykhe_cli.validate import FeedCheck, FeedSource, Progress, ValidationOptions
when = sys.argv[1]
forks = []
os.register_at_fork(before=lambda: forks.append(threading.active_count()))
options = ValidationOptions(workers=2, block_size=1 << 16, parallel_after=3 << 19)
stop = threading.Event()
display = threading.Thread(target=stop.wait, name="a display")
def start():
    if display.ident is None:
        threads.start(display)
on_workers = start if when == "on_workers" else None
source = [FeedSource("-")]
try:
    with FeedCheck(source, options, stdin=sys.stdin.buffer, on_workers=on_workers) as check:
        for event in check:
            if type(event) is Progress and when == "first_progress":
                start()
    outcome = check.report.variants
except threads.ThreadTooEarly as exc:
    outcome = str(exc)
stop.set()
if display.ident is not None:
    display.join()
print(json.dumps([outcome, forks]))
"""


def _feed() -> bytes:
    rng = random.Random(3)
    lines = []
    for n in range(16_000):
        product = {
            "product_identifier": f"P{rng.randrange(5000)}",
            "variant_identifier": f"V{n}",
            "title": "Silk Slip Dress",
            "images": ["https://cdn.example.com/a.jpg"],
            "price": 240.0,
        }
        lines.append(orjson.dumps({"operation": "insert", "product_data": product}) + b"\n")
    data = b"".join(lines)
    assert len(data) > 2 << 20  # past the 1.5 MiB at which the workers start
    return data


def _run(when: str, strict: bool, tmp_path: Path) -> tuple[object, list[int]]:
    env = isolated_env(tmp_path)
    if not strict:
        env.pop(threads.STRICT_VARIABLE)
    run = subprocess.run(
        [sys.executable, "-c", STARTS_A_THREAD, when],
        input=_feed(),
        env=env,
        capture_output=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    outcome, forks = json.loads(run.stdout)
    return outcome, forks


def test_a_thread_started_before_the_workers_are_forked_fails_in_tests(tmp_path: Path) -> None:
    outcome, forks = _run("first_progress", strict=True, tmp_path=tmp_path)
    assert outcome == (
        "a display started while the validation workers may still be forked: start it "
        "from the engine's on_workers, or once the check has ended"
    )
    assert forks == []


def test_outside_tests_a_thread_started_too_early_costs_the_workers_only(
    tmp_path: Path,
) -> None:
    outcome, forks = _run("first_progress", strict=False, tmp_path=tmp_path)
    assert outcome == 16_000
    assert forks == []  # checked in this one process: what the strict mode exists to catch


def test_a_thread_started_from_on_workers_is_started_after_the_fork(tmp_path: Path) -> None:
    outcome, forks = _run("on_workers", strict=True, tmp_path=tmp_path)
    assert outcome == 16_000
    assert forks == [1, 1]  # two workers, each forked from this thread alone


def test_start_and_starting_are_checked_only_while_a_fork_is_ahead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(threads.STRICT_VARIABLE, "1")
    stop = threading.Event()
    early = threading.Thread(target=stop.wait, name="early")
    with threads.fork_ahead():
        with pytest.raises(threads.ThreadTooEarly, match=r"^early started"):
            threads.start(early)
        assert early.ident is None
        with threads.starting("nothing"):  # no thread started inside: fine
            pass
        with (
            pytest.raises(threads.ThreadTooEarly, match=r"^a library's thread started"),
            threads.starting("a library's thread"),
        ):
            threading.Thread(target=stop.wait).start()
    threads.start(early)  # no fork ahead any more
    stop.set()
    early.join()


def test_the_test_suite_and_the_psykhe_it_runs_are_strict(tmp_path: Path) -> None:
    assert os.environ[threads.STRICT_VARIABLE] == "1"
    assert isolated_env(tmp_path)[threads.STRICT_VARIABLE] == "1"
