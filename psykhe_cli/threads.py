"""The fork rule: threads start only after the validation workers are forked.

Validation checks a big feed in worker processes forked from this one (``validate/workers.py``).
A process must not be forked while another of its threads runs: a lock that thread holds (an
import's, logging's, the allocator's) would stay held for ever in the child. So when the
workers are about to start and a thread runs, the engine does the safe thing and checks the
rest of the feed in this one process — correct, but on one core instead of two, and silently.

This module keeps the rule, so nobody has to remember it:

- the engine holds ``fork_ahead()`` while it may still fork its workers, and lets go once they
  run (or the check ends); what must start as soon as they run (the HTTP client, the upload
  that streams while the feed is checked) is handed to the engine as its ``on_workers``;
- the threads psykhe starts are started by ``start`` (a ``threading.Thread``: the HTTP
  client's, the upload's, the in-process sandbox server's) or inside ``starting`` (a library
  that starts its own: rich's live display). Not yet: the HTTP answer deadline's timer
  (``client.py``), which runs only while a request is under way, and the threads the
  sandbox's event loop keeps for its store;
- a thread started while a fork is ahead is a bug: with ``PSYKHE_STRICT_THREADS=1`` in the
  environment (the test suite sets it, for its own process and every psykhe it runs) it
  raises ``ThreadTooEarly``; otherwise it starts, and the check falls back to one process.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

#: the environment variable that makes a thread started too early an error (tests set it)
STRICT_VARIABLE = "PSYKHE_STRICT_THREADS"

#: how many checks may still fork their workers (one at a time in practice)
_forks_ahead = 0


class ThreadTooEarly(RuntimeError):
    """A thread was started while the validation workers may still be forked."""


def may_fork() -> bool:
    """Whether this process may be forked now: it can be, and has no other thread."""
    return hasattr(os, "fork") and threading.active_count() == 1


@contextlib.contextmanager
def fork_ahead() -> Iterator[None]:
    """While inside, workers may still be forked from this process: no thread may start."""
    global _forks_ahead
    _forks_ahead += 1
    try:
        yield
    finally:
        _forks_ahead -= 1


def start(thread: threading.Thread) -> None:
    """Start ``thread``, unless workers may still be forked (see the module's docstring)."""
    _check(thread.name)
    thread.start()


@contextlib.contextmanager
def starting(what: str) -> Iterator[None]:
    """Run code that may start a thread of its own (``what`` names it in the error)."""
    before = threading.active_count()
    yield
    if threading.active_count() > before:
        _check(what)


def _check(what: str) -> None:
    if _forks_ahead and os.environ.get(STRICT_VARIABLE) == "1":
        raise ThreadTooEarly(
            f"{what} started while the validation workers may still be forked: start it "
            "from the engine's on_workers, or once the check has ended"
        )
