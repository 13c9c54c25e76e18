"""What the process is attached to: streams, whether each is a terminal, colour.

Commands receive an ``Environment`` instead of touching ``sys.std*`` so tests can swap it.

What a failed write to stdout or stderr does is decided here, once (``GuardedStream``):

- a standard descriptor closed at start (``>&-``) is opened on ``/dev/null``
  (``open_closed_std_streams``): a closed stream never turns a success into a failure;
- a write that fails is remembered and dropped, never raised at the writer, so output can
  never abort the work half-way; the stream stays silent from then on;
- except while a push has sent nothing yet (``Environment.stop_on_broken_output``): then a
  reader that went away (``EPIPE``) stops the run cleanly (``OutputBroken``, exit 141);
- at the end, ``Environment.reporting`` decides what a failed report means for the exit code.

``TimestampedLines`` begins each line written to a stream with the local time
(``--log-timestamps``: ``Environment.timestamp_stderr``).

Signals: ``handle_stop_signals`` makes SIGTERM, SIGHUP and SIGQUIT stop psykhe as Ctrl-C does
(``errors.SignalReceived``, a ``KeyboardInterrupt``); the exit code is ``errors.Interrupted``'s.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, BinaryIO, TextIO, cast

if TYPE_CHECKING:
    from rich.console import Console

#: the standard descriptors and the mode each is opened on /dev/null with when closed
_STD_FDS = ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY))


#: Ctrl-C; SIGTERM (a supervisor), SIGHUP (the terminal or SSH session went away), SIGQUIT
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


@dataclass
class StopFlag:
    """The last stop signal received, if any (``handle_stop_signals`` sets it)."""

    received: int | None = None


#: this process's: signal handlers are process-wide, so the flag they set is too; an
#: ``Environment`` is handed it (``from_process``), tests hand theirs their own
PROCESS_STOP = StopFlag()


def handle_stop_signals(flag: StopFlag = PROCESS_STOP) -> None:
    """Make SIGTERM, SIGHUP and SIGQUIT stop psykhe the way Ctrl-C does (the CLI, at start).

    Every phase that cleans up or explains itself on ``KeyboardInterrupt`` (spool removed,
    workers stopped, "ingestion N goes on, follow it with …") then does so for each. Each
    signal is noted in ``flag`` as well.
    """
    for signum in STOP_SIGNALS:
        # an ignored signal stays ignored: `nohup psykhe …`, or a shell's background job
        if signal.getsignal(signum) != signal.SIG_IGN:
            signal.signal(signum, functools.partial(_on_stop_signal, flag))


def _on_stop_signal(flag: StopFlag, signum: int, frame: object) -> None:
    from psykhe_cli.errors import SignalReceived

    # remembered as well as raised: an exception raised inside a finalizer or a fork hook
    # is swallowed by the interpreter; ``Environment.sending`` raises it again in time
    flag.received = signum
    raise SignalReceived(signum)


def open_closed_std_streams() -> None:
    """Open ``/dev/null`` on each standard descriptor that is closed, and give ``sys`` the
    stream objects it could not make at start-up.

    Otherwise the first file opened (a spool, a socket) would become descriptor 1 or 2 and
    receive what is written to stdout or stderr, and ``sys.stdout`` would be None.
    """
    for fd, mode in _STD_FDS:
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, mode)
            if opened != fd:  # a lower descriptor was closed too, and took it
                os.dup2(opened, fd)
                os.close(opened)
    if sys.stdin is None:
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    if sys.stdout is None:
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    if sys.stderr is None:
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115


class GuardedStream:
    """A text stream whose write failures are remembered instead of raised.

    After the first failure nothing more is written (and its descriptor is pointed at
    ``/dev/null``, so no later flush can fail). ``on_failure`` is called once, with the
    stream, in the thread that wrote: it may raise to stop the run.
    """

    def __init__(self, stream: TextIO, name: str) -> None:
        self.stream = stream
        #: "standard output" or "standard error", for messages
        self.name = name
        #: the first write failure, or None
        self.error: OSError | None = None
        self.on_failure: Callable[[GuardedStream], None] | None = None

    @property
    def reader_gone(self) -> bool:
        """True when a write failed because the stream's reader went away (``EPIPE``)."""
        return self.error is not None and self.error.errno == errno.EPIPE

    def write(self, text: str) -> int:
        if self.error is None:
            try:
                return self.stream.write(text)
            except (OSError, ValueError) as exc:
                self._failed(exc)
        return len(text)

    def flush(self) -> None:
        if self.error is None:
            try:
                self.stream.flush()
            except (OSError, ValueError) as exc:
                self._failed(exc)

    def _failed(self, exc: OSError | ValueError) -> None:
        # ValueError: the stream object was closed under us; the same as a closed descriptor
        self.error = exc if isinstance(exc, OSError) else OSError(errno.EBADF, str(exc))
        _point_at_devnull(self.stream)
        if self.on_failure is not None:
            self.on_failure(self)

    def isatty(self) -> bool:
        return _isatty(self.stream)

    def __getattr__(self, name: str) -> Any:  # encoding, fileno, buffer, …
        return getattr(self.stream, name)


def _point_at_devnull(stream: TextIO) -> None:
    """Let nothing more reach the broken descriptor, and no buffered text fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, stream.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError):
        pass


def guard_std_streams() -> None:
    """Replace ``sys.stdout`` and ``sys.stderr`` by ``GuardedStream``s (the CLI, at start)."""
    if not isinstance(sys.stdout, GuardedStream):
        sys.stdout = GuardedStream(sys.stdout, "standard output")
    if not isinstance(sys.stderr, GuardedStream):
        sys.stderr = GuardedStream(sys.stderr, "standard error")


def _stop_if_reader_gone(stream: GuardedStream, *, now: bool = False) -> None:
    """Raise ``OutputBroken`` when ``stream``'s reader went away — only in the main thread
    (a display thread cannot stop the run; the next check in the main thread does), unless
    ``now``."""
    if not stream.reader_gone:
        return
    if not now and threading.current_thread() is not threading.main_thread():
        return
    from psykhe_cli.errors import OutputBroken

    raise OutputBroken(
        f"the reader of {stream.name} went away before anything was sent; nothing was sent"
    )


def local_time() -> str:
    """Now, as ``2026-12-07T08:05:30+01:00``: local time, to the second, with its offset."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


#: one line and its end, or the unended rest
_LINE = re.compile(r"[^\n]*\n|[^\n]+")


class TimestampedLines:
    """A text stream that begins each line written to it with ``now()`` and a space; a line
    written in several pieces gets one stamp, at its start."""

    def __init__(self, stream: TextIO, now: Callable[[], str] = local_time) -> None:
        self.stream = stream
        self._now = now
        self._line_start = True

    def write(self, text: str) -> int:
        pieces = []
        for line in _LINE.findall(text):
            if self._line_start:
                pieces.append(f"{self._now()} ")
            pieces.append(line)
            self._line_start = line.endswith("\n")
        self.stream.write("".join(pieces))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return _isatty(self.stream)

    def __getattr__(self, name: str) -> Any:  # encoding, fileno, buffer, …
        return getattr(self.stream, name)


def _isatty(stream: IO[str] | IO[bytes]) -> bool:
    try:
        return stream.isatty()
    except (ValueError, OSError):  # closed or detached stream
        return False


@dataclass
class Environment:
    """The process's streams and what they are connected to."""

    stdin: BinaryIO
    stdout: TextIO
    stderr: TextIO
    stdin_isatty: bool
    stdout_isatty: bool
    stderr_isatty: bool
    no_color: bool = False
    #: https://force-color.org: colour even where the output is not a terminal
    force_color: bool = False
    #: where the stop signals this run must not miss are noted (``sending``)
    stop: StopFlag = field(default_factory=StopFlag)
    _consoles: dict[str, Console] = field(default_factory=dict, repr=False)

    @classmethod
    def from_process(cls) -> Environment:
        """The real streams of this process."""
        guard_std_streams()
        return cls(
            stdin=sys.stdin.buffer,
            stdout=sys.stdout,
            stderr=sys.stderr,
            stdin_isatty=_isatty(sys.stdin),
            stdout_isatty=_isatty(sys.stdout),
            stderr_isatty=_isatty(sys.stderr),
            # https://no-color.org: any non-empty value disables colour (and wins over
            # FORCE_COLOR: it is the reader's own setting)
            no_color=bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb",
            force_color=bool(os.environ.get("FORCE_COLOR")),
            stop=PROCESS_STOP,
        )

    def timestamp_stderr(self, now: Callable[[], str] = local_time) -> None:
        """From now on, every line written to stderr (by this environment or ``sys.stderr``,
        which is the same stream in the CLI) begins with the time (``--log-timestamps``)."""
        stream = self.stderr
        if isinstance(stream, GuardedStream):  # stamped inside, so a failure is still caught
            stream.stream = cast(TextIO, TimestampedLines(stream.stream, now))
        else:
            self.stderr = cast(TextIO, TimestampedLines(stream, now))

    def stop_on_broken_output(self) -> None:
        """From now on, until ``output_never_stops``, a reader of stdout or stderr that goes
        away stops the run with ``OutputBroken`` (a push, before it may have sent anything)."""
        for stream in self._guarded():
            stream.on_failure = _stop_if_reader_gone
            _stop_if_reader_gone(stream, now=False)

    def sending(self) -> None:
        """Called just before a push may send its first byte: from now on, no failure of
        stdout or stderr stops the run (the push goes on, records what it did, and exits
        with the code it earned).

        Raises what should have stopped the run already and may have been lost: a stop
        signal (``SignalReceived``), or a reader that went away (``OutputBroken``).
        """
        from psykhe_cli.errors import SignalReceived

        if self.stop.received is not None:
            raise SignalReceived(self.stop.received)
        self.output_never_stops()

    def output_never_stops(self) -> None:
        """From now on, no failure of stdout or stderr stops the run.

        Raises ``OutputBroken`` if a reader went away before this call (e.g. in a thread).
        """
        self._disarm()
        for stream in self._guarded():
            _stop_if_reader_gone(stream, now=True)

    def _guarded(self) -> list[GuardedStream]:
        return [s for s in (self.stdout, self.stderr) if isinstance(s, GuardedStream)]

    def colour(self, *, stderr: bool = True) -> bool:
        """Whether text written to stderr (or stdout) may carry colour."""
        tty = self.stderr_isatty if stderr else self.stdout_isatty
        return (tty or self.force_color) and not self.no_color

    @contextmanager
    def reporting(self, *, failed: bool) -> Iterator[None]:
        """Write a command's report to stdout without letting stdout decide its exit code.

        A reader that went away (``| head -c1``, ``| true``) is fine: the work's own code
        stands. Any other failure (``/dev/full``) is noted after a failure, and is an error
        after a success, since the result was not reported.
        """
        from psykhe_cli.errors import PsykheError

        self._disarm()  # the run is over: its outcome is decided
        error: OSError | None = None
        try:
            yield
        except OSError as exc:  # an unguarded stream (a test's)
            error = exc
        if isinstance(self.stdout, GuardedStream):
            error = error or self.stdout.error
        if error is None or error.errno in (errno.EPIPE, errno.EBADF):
            return
        message = f"cannot write to standard output: {error.strerror or error}"
        if not failed:
            raise PsykheError(message) from None
        self.stderr.write(f"psykhe: error: {message}\n")

    def _disarm(self) -> None:
        for stream in self._guarded():
            stream.on_failure = None

    @property
    def interactive(self) -> bool:
        """True when a person is watching stderr: animations and prompts are allowed."""
        return self.stderr_isatty and os.environ.get("TERM") != "dumb"

    def console(self, *, stderr: bool = True) -> Console:
        """A rich console on stderr (default) or stdout; plain when not a terminal."""
        key = "stderr" if stderr else "stdout"
        if key not in self._consoles:
            from rich.console import Console

            stream = self.stderr if stderr else self.stdout
            tty = self.stderr_isatty if stderr else self.stdout_isatty
            colour = self.colour(stderr=stderr)
            self._consoles[key] = Console(
                file=stream,
                force_terminal=tty or colour,
                no_color=not colour,
                highlight=False,
                soft_wrap=not tty,
                emoji=False,
                color_system="auto" if colour else None,
            )
        return self._consoles[key]
