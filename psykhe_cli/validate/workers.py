"""The worker processes that check a big JSON Lines feed: started once one is worth it,
forked when this process may be (``psykhe_cli.threads``: the fork rule), watched, and
explained when one dies."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

from psykhe_cli import threads
from psykhe_cli.errors import WorkerKilled
from psykhe_cli.validate.fast import Decoders
from psykhe_cli.validate.lines import load_numpy
from psykhe_cli.validate.report import ValidationOptions


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity on Linux, else all of the machine's."""
    if hasattr(os, "sched_getaffinity"):  # Linux: a container or taskset may allow fewer
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # macOS, Windows: no affinity API to ask


#: seconds between looks at the workers while waiting for an answer (``Workers.result``)
_WATCH_WORKERS = 0.5


class Workers:
    """Worker processes for big JSON Lines feeds, started only once one is worth it."""

    def __init__(
        self, options: ValidationOptions, on_started: Callable[[], None] | None = None
    ) -> None:
        #: called once the workers run (``submit``, the first time)
        self._on_started = on_started
        wanted = options.workers
        if wanted is None:
            wanted = min(2, usable_cpus())
        self.count = wanted if wanted > 1 else 0
        # Forked workers are cheapest and hash with this process's salt, but forking a
        # process with threads is unsafe: a lock another thread holds stays held in the
        # child. Whether to fork is decided when the workers start (``start``); the hashes
        # must be one kind for the whole run, from its first block: this process's own if
        # it has no thread now (the workers will be forked, or none run), else portable
        # ones, equal in every process (workers made by forkserver or spawn).
        self.portable = self.count > 0 and not threads.may_fork()
        #: held while the workers may still be forked: no thread may start meanwhile
        self._fork_ahead: contextlib.ExitStack | None = None
        if self.count and not self.portable:
            self._fork_ahead = contextlib.ExitStack()
            self._fork_ahead.enter_context(threads.fork_ahead())
        #: the workers were forked (known once they started)
        self.fork = False
        self._after = options.parallel_after
        #: what the proof learned of the run's products in this process (from the blocks
        #: checked here); each worker starts from what it holds when the pool starts
        self.learned = Decoders()
        self._pool: Any = None
        #: the processes a ``ProcessPoolExecutor`` made, to tell what killed one
        self._context: _Tracking | None = None
        #: a worker died: the pool cannot be waited for (see ``__exit__``)
        self._lost = False

    def start(self, bytes_read: int, *, ranges: bool = False) -> bool:
        """Start the workers once ``bytes_read`` passes the threshold; True when running.

        ``ranges``: the tasks will be ``check_range`` calls (a path and two offsets), which
        forked workers take through plain pipes (``forked.ForkedPool``). Blocks, and workers
        that cannot be forked, go through a ``ProcessPoolExecutor``.
        """
        if self._pool is None and self.count and bytes_read >= self._after:
            # now, not when the run began: a thread may have started since (a progress
            # display's, an HTTP client's)
            self.fork = threads.may_fork()
            if not self.fork and not self.portable:
                # the run hashes with this process's salt, which only forked workers
                # share: the rest of it is checked here
                self.count = 0
                self._forked()
                return False
            load_numpy()  # forked workers share it: validate/fast.py counts keys with it
            parent = os.getpid() if self.fork else None
            initargs = (parent, self.learned.extras)
            if ranges and self.fork:
                from psykhe_cli.validate.forked import ForkedPool

                with _signals_held():
                    self._pool = ForkedPool(self.count, functools.partial(_worker_init, *initargs))
            else:
                import multiprocessing
                from concurrent.futures import ProcessPoolExecutor

                methods = multiprocessing.get_all_start_methods()
                method = (
                    "fork" if self.fork else "forkserver" if "forkserver" in methods else "spawn"
                )
                self._context = _Tracking(multiprocessing.get_context(method))
                context: Any = self._context  # a BaseContext in all it is asked for
                self._pool = ProcessPoolExecutor(
                    self.count, mp_context=context, initializer=_worker_init, initargs=initargs
                )
        return self._pool is not None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args, decoders=..., numpy=...)`` in a worker, with what that worker
        learned of the run's products (``check_block``, ``check_range``): something whose
        ``result()`` is its value. The first time, once the workers are forked (they are by
        now), ``on_started`` is called: threads may start."""
        assert self._pool is not None
        with _signals_held():  # a ProcessPoolExecutor forks its workers in submit
            pending = self._pool.submit(_in_worker, fn, *args)
        self._forked()
        if self._on_started is not None:
            on_started, self._on_started = self._on_started, None
            on_started()
        return pending

    def _forked(self) -> None:
        """No fork is ahead any more: threads may start."""
        if self._fork_ahead is not None:
            self._fork_ahead.close()
            self._fork_ahead = None

    def result(self, pending: Any) -> Any:
        """What ``submit`` gave back, once ready; ``BrokenProcessPool`` if a worker was killed.

        A ``ProcessPoolExecutor`` whose worker died halfway through writing its answer waits
        for the rest of it for ever (seen on Python 3.10), so the workers are watched too.
        """
        from concurrent.futures import TimeoutError as NotYet
        from concurrent.futures.process import BrokenProcessPool

        while True:
            try:
                return pending.result(timeout=_WATCH_WORKERS)
            except NotYet:
                processes = self._context.processes if self._context is not None else []
                if any((process.exitcode or 0) < 0 for process in processes):
                    raise BrokenProcessPool("a worker process was killed") from None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._forked()
        if self._pool is not None:
            # Before Python 3.12, a ProcessPoolExecutor whose worker died while its feeder
            # thread was writing a block to the call queue never finishes shutting down: the
            # write waits for a reader that is gone (CPython gh-94777). Its workers are ended
            # already; waiting would hang psykhe for good.
            self._pool.shutdown(wait=not self._lost, cancel_futures=True)

    @contextlib.contextmanager
    def explaining_a_death(self) -> Iterator[None]:
        """Turn a worker that died (killed by the kernel when out of memory, or by
        someone) into ``WorkerKilled``, naming the signal that killed it."""
        try:
            yield
        except Exception as exc:
            if not _is_worker_death(exc):
                raise
            self._lost = True
            signum = getattr(exc, "signum", None) or self._killed_by()
            how = f"was killed by signal {signum}" if signum else "ended without answering"
            how += " — out of memory?" if signum == signal.SIGKILL else "."
            raise WorkerKilled(
                f"a validation worker {how} Nothing was sent: the feed was not checked to its end",
                hint="it is safe to run the same command again once memory is free "
                "(the kernel log, `dmesg`, names what it killed)",
            ) from None

    def _killed_by(self) -> int | None:
        """The signal that ended one of a ``ProcessPoolExecutor``'s workers, if one did."""
        for process in self._context.processes if self._context is not None else []:
            process.join(1.0)  # the executor stops the others: they end at once
            code: int | None = process.exitcode
            if code is not None and code < 0:
                return -code
        return None


def _is_worker_death(exc: BaseException) -> bool:
    from psykhe_cli.validate.forked import WorkerLost

    broken = sys.modules.get("concurrent.futures.process")
    return isinstance(exc, WorkerLost) or (
        broken is not None and isinstance(exc, broken.BrokenProcessPool)
    )


class _Tracking:
    """A multiprocessing context that keeps the processes it makes (to tell, when one of a
    ``ProcessPoolExecutor``'s workers dies, what killed it)."""

    def __init__(self, context: Any) -> None:
        self._context = context
        self.processes: list[Any] = []

    def Process(self, *args: Any, **kwargs: Any) -> Any:
        process = self._context.Process(*args, **kwargs)
        self.processes.append(process)
        return process

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


#: what the parent handles: Ctrl-C and the stop signals (``terminal.STOP_SIGNALS``)
_PARENT_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C and the stop signals while workers are forked: their ``KeyboardInterrupt``
    raised inside a fork hook (logging's) is swallowed, leaving a lock held; held, they are
    delivered once forking is done."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _PARENT_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


#: in a worker process, what the proof learned there of the run's products (a worker serves
#: one run): made by ``_worker_init``, handed to each task by ``_in_worker``
_learned: Decoders | None = None
#: in a worker process, numpy (loaded by ``_worker_init``), handed to each task likewise
_numpy: Any = None


def _in_worker(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, with this worker's ``Decoders`` and numpy (see ``Workers.submit``)."""
    assert _learned is not None, "not a worker process"
    return fn(*args, decoders=_learned, numpy=_numpy)


def _worker_init(parent: int | None = None, extras: tuple[str, ...] = ()) -> None:
    global _learned, _numpy
    _learned = Decoders(extras)  # what the parent learned before the workers started
    _die_with(parent)
    # the parent handles Ctrl-C and the stop signals, and shuts the pool down with SIGTERM;
    # a terminal's SIGHUP or Ctrl-\ reaches every process of the group, workers too
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):  # held while the parent forked (_signals_held)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _PARENT_SIGNALS)

    _keep_freed_memory()

    _numpy = load_numpy()  # loaded already when forked; the checks vectorize with it


#: prctl(2): ask for a signal when the parent ends
_PR_SET_PDEATHSIG = 1


def _die_with(parent: int | None) -> None:
    """Let the kernel kill this worker when the process that made it ends, however it ends
    (even by SIGKILL): no worker outlives psykhe. Linux only; elsewhere the parent's
    clean-up is all there is. ``parent``: the pid that forked us, if known."""
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent:  # it ended before prctl took effect
        os._exit(1)


#: glibc's mallopt parameters
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def _keep_freed_memory() -> None:
    """Let glibc keep what a worker frees, instead of paging it in again for every block.

    A worker allocates and frees a few MB a block (the block, its lines, buffers). glibc gave
    them back to the system at once and took them again for the next block: ~500 page
    faults and ~1 ms of system time a block. The worker's peak stays what it was. Other C
    libraries: nothing done.
    """
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # fixed: below it, from the heap
        libc.mallopt(_M_TRIM_THRESHOLD, 256 << 20)  # free heap kept up to this much
    except (OSError, AttributeError):
        pass
