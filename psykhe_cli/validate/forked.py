"""Worker processes forked from this one and fed through pipes, for the ranges of a plain file.

``ProcessPoolExecutor`` hands work over through two threads of its own (a queue feeder and a
manager that reads the results), which took ~0.25 s of CPU per 1M-line feed in the process
that merges the results, on a core the workers need, and importing it ~30 ms before the
first block. The ranges of a plain file are small tasks (a path and two offsets), so a
pipe per worker serves, each task going to the worker with the fewest unfinished tasks
(results already written are read as tasks are sent): results are taken in the order
submitted, in the calling thread, with nothing in between.

Only for forking (the calling process has no other thread); only for small tasks, which a
pipe always has room for, so that sending one never waits for a worker that waits for us.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import select
import signal
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

_LENGTH = struct.Struct("<Q")
_RESULT_PIPE_SIZE = 1 << 20
_LOST = "a worker process ended without answering (killed, or out of memory?)"


class WorkerLost(RuntimeError):
    """A worker process ended without answering (killed, or out of memory)."""

    def __init__(self, message: str, signum: int | None = None) -> None:
        super().__init__(message)
        #: the signal that killed it, when it was killed by one
        self.signum = signum


class ForkedPool:
    """``count`` forked workers: each task goes to the one with the fewest unfinished tasks;
    results are taken in the order submitted."""

    def __init__(self, count: int, initializer: Callable[[], None]) -> None:
        #: per worker: pid, the pipe end its tasks are written to, the one its results come from
        self._workers: list[tuple[int, int, int]] = []
        #: per worker: tasks sent, and the results read from its pipe but not taken yet
        self._sent = [0] * count
        self._read: list[deque[bytearray | None]] = [deque() for _ in range(count)]
        self._received = [0] * count
        try:
            for _ in range(count):
                self._workers.append(self._fork(initializer))
        except BaseException:
            self.shutdown()
            raise

    def _fork(self, initializer: Callable[[], None]) -> tuple[int, int, int]:
        task_read, task_write = os.pipe()
        result_read, result_write = os.pipe()
        _widen(result_read)
        pid = os.fork()
        if pid == 0:  # the worker: it never returns from here
            code = 1
            try:
                os.close(task_write)
                os.close(result_read)
                for _, other_tasks, other_results in self._workers:
                    os.close(other_tasks)
                    os.close(other_results)
                initializer()
                _serve(task_read, result_write)
                code = 0
            finally:
                os._exit(code)
        os.close(task_read)
        os.close(result_write)
        return pid, task_write, result_read

    def submit(self, fn: Callable[..., Any], *args: Any) -> Pending:
        """Send ``fn(*args)`` to the worker with the fewest unfinished tasks (the first of
        them on a tie); results must be taken in the order submitted."""
        self._collect()
        busy = [sent - got for sent, got in zip(self._sent, self._received, strict=True)]
        worker = busy.index(min(busy))
        try:
            _send(self._workers[worker][1], pickle.dumps((fn, args), pickle.HIGHEST_PROTOCOL))
        except BrokenPipeError:
            raise self.lost(worker) from None
        self._sent[worker] += 1
        return Pending(self, worker)

    def _collect(self) -> None:
        """Read the results already written (a worker has finished them), without waiting."""
        waiting = {
            self._workers[n][2]: n
            for n in range(len(self._workers))
            if self._sent[n] > self._received[n]
        }
        if waiting:
            ready, _, _ = select.select(list(waiting), [], [], 0)
            for fd in ready:
                self._receive_from(waiting[fd])

    def _receive_from(self, worker: int) -> None:
        self._read[worker].append(_receive(self._workers[worker][2]))
        self._received[worker] += 1

    def lost(self, worker: int) -> WorkerLost:
        """What to raise for ``worker``, which ended without answering: reaped here, to
        tell the signal that killed it."""
        pid = self._workers[worker][0]
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return WorkerLost(_LOST)
        signum = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        return WorkerLost(_LOST, signum)

    def take(self, worker: int) -> bytearray | None:
        """``worker``'s next result (None: it ended without one), read now if need be."""
        if not self._read[worker]:
            self._receive_from(worker)
        return self._read[worker].popleft()

    def shutdown(self, wait: bool = True, cancel_futures: bool = True) -> None:
        """Stop the workers at once (a task under way is dropped) and wait for them to end.

        The arguments are ``ProcessPoolExecutor.shutdown``'s; both are always true here.
        """
        for pid, tasks, results in self._workers:
            os.close(tasks)
            os.close(results)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid, _, _ in self._workers:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self._workers = []


class Pending:
    """A task's result, read from its worker's pipe when asked for."""

    def __init__(self, pool: ForkedPool, worker: int) -> None:
        self._pool, self._worker = pool, worker
        self._outcome: tuple[bool, Any] | None = None

    def result(self) -> Any:
        """The value ``fn`` returned, or what it raised, raised here."""
        if self._outcome is None:
            message = self._pool.take(self._worker)
            if message is None:
                raise self._pool.lost(self._worker)
            self._outcome = pickle.loads(message)
        done, value = self._outcome
        if not done:
            raise value
        return value


def _serve(tasks: int, results: int) -> None:
    """A worker's loop: run each task and send back its outcome, until the tasks end."""
    while (message := _receive(tasks)) is not None:
        fn, args = pickle.loads(message)
        try:
            outcome: tuple[bool, Any] = (True, fn(*args))
        except Exception as exc:  # raised again in the parent, by Pending.result
            outcome = (False, exc)
        try:
            reply = pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an exception that does not pickle: its words do
            reply = pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
        _send(results, reply)


def _widen(fd: int) -> None:
    """Let a result pipe hold a whole result (~120 KB for a 1 MiB range, where a pipe holds
    64 KB): a worker then goes on to its next task instead of waiting to be read."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux; or over the limit
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _RESULT_PIPE_SIZE)


def _send(fd: int, payload: bytes) -> None:
    """The payload, after its length."""
    for data in (_LENGTH.pack(len(payload)), payload):
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]


def _receive(fd: int) -> bytearray | None:
    """One message, or None when the other end is closed."""
    head = _read_exactly(fd, _LENGTH.size)
    if head is None:
        return None
    (size,) = _LENGTH.unpack(head)
    return _read_exactly(fd, size)


def _read_exactly(fd: int, size: int) -> bytearray | None:
    buffer = bytearray(size)
    view, done = memoryview(buffer), 0
    while done < size:
        count = os.readv(fd, [view[done:]])
        if not count:
            return None
        done += count
    return buffer
