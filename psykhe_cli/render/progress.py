"""The shapes of progress the push's observers (``render/push.py``) share.

``Ticker`` decides when a long upload (or a long wait) deserves a plain line: every
``interval`` seconds, and at every tenth of an upload from ``TENTHS_FROM`` bytes. ``rate_text``
and ``eta_text`` say how fast and how long, never ``?``. ``phrases`` cuts a message into lines
of at most a width, breaking only between its phrases. ``progress_for`` makes the rich display
of a phase (rich is imported only then), ``settle_spinners`` stills its spinner.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

#: seconds between two plain progress lines, unless ``INTERVAL_VARIABLE`` says otherwise
DEFAULT_INTERVAL = 30.0
#: the environment variable that sets another interval (seconds; 0: a line at every update)
INTERVAL_VARIABLE = "PSYKHE_PROGRESS_INTERVAL"
#: a line at every tenth of an upload this big (a smaller one is done in a blink); the same
#: size from which ``validate`` writes its tenths
TENTHS_FROM = 10_000_000


def interval_from_environment() -> float:
    """``PSYKHE_PROGRESS_INTERVAL`` when it is a number of seconds from 0, else 30."""
    try:
        seconds = float(os.environ.get(INTERVAL_VARIABLE, ""))
    except ValueError:
        return DEFAULT_INTERVAL
    return seconds if seconds >= 0 else DEFAULT_INTERVAL


def human_size(size: float) -> str:
    """``1.2 MB``-style sizes (decimal units, like rich and most download tools)."""
    for unit in ("B", "kB", "MB"):
        if abs(size) < 1000:
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{size:,.1f} GB"


def rate_text(done: float, seconds: float) -> str:
    """``400.0 kB/s``; ``""`` before anything was done (nothing is known yet)."""
    if done <= 0 or seconds <= 0:
        return ""
    return f"{human_size(done / seconds)}/s"


def eta_text(done: float, total: float, seconds: float) -> str:
    """``about 45 s left`` / ``about 3 min left``; ``""`` while nothing is known or done."""
    if done <= 0 or seconds <= 0 or total <= done:
        return ""
    left = (total - done) / (done / seconds)
    if left < 1:
        return ""
    return f"about {left:,.0f} s left" if left < 90 else f"about {left / 60:,.0f} min left"


def duration_text(seconds: float) -> str:
    """``45 s``, ``3 min 20 s``."""
    whole = int(seconds)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60} s"


class Ticker:
    """When a plain progress line is due: every ``interval`` seconds, and at each new tenth of
    ``total`` when it is ``TENTHS_FROM`` or more. ``restart`` begins a new thing to follow."""

    def __init__(
        self, interval: float = DEFAULT_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self.started = self._last = clock()
        self._tenth = 0

    def restart(self) -> None:
        """Follow something new: its time starts now, no tenth told yet."""
        self.started = self._last = self._clock()
        self._tenth = 0

    def elapsed(self) -> float:
        """Seconds since ``restart`` (or the making)."""
        return self._clock() - self.started

    def due(self, done: int = 0, total: int | None = None) -> bool:
        """Whether a line is due now (and, if so, the next is counted from now)."""
        now = self._clock()
        tenth = done * 10 // total if total and total >= TENTHS_FROM else 0
        if self._tenth < tenth < 10 or now - self._last >= self.interval:
            self._tenth = max(self._tenth, tenth)
            self._last = now
            return True
        return False


#: where a message may be cut: after ", " or "; ", before " → ", " (" or " · "
_BREAKS = re.compile(r"(?<=, )|(?<=; )|(?= → )|(?= \()|(?= · )")


def phrases(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters, cut only between phrases (a phrase
    longer than ``width`` stays whole on a line of its own); continuation lines are indented
    by two spaces."""
    if len(text) <= width or width < 20:
        return [text]
    lines: list[str] = []
    line = ""
    for piece in _BREAKS.split(text):
        candidate = line + piece
        if line and len(candidate) > width:
            lines.append(line.rstrip())
            candidate = "  " + piece.lstrip()
        line = candidate
    lines.append(line.rstrip())
    return lines


def settle_spinners(progress: Progress, mark: str, style: str = "", *, done: bool) -> None:
    """From the next refresh on, show ``mark`` where a spinner turns: once its task is
    finished (``done``), or else while it is not (a display ended before its phase)."""
    from rich.progress import SpinnerColumn
    from rich.text import Text

    for column in progress.columns:
        if isinstance(column, SpinnerColumn):
            if done:
                column.finished_text = Text(mark, style)
            else:
                column.spinner.frames = [mark]


def progress_for(phase: str, console: Console) -> Progress:
    """The columns that fit each phase: counts and rate, bytes and ETA, status and time.

    Rates and times left are psykhe's own (``Ticker``, ``rate_text``): nothing shown as ``?``,
    an empty place until something is known. The wait for the server's answer leaves nothing
    on the screen once answered: the next line says what the answer was.
    """
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns: list[Any] = [SpinnerColumn(finished_text=" ")]
    columns.append(TextColumn("{task.description:<12}"))
    if phase.startswith("upload"):
        columns += [BarColumn(bar_width=30), TextColumn("{task.fields[figure]}")]
        columns += [TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[eta]}")]
    else:
        columns += [TextColumn("{task.fields[info]}"), TimeElapsedColumn()]
    # While the feed is checked, no refresh thread: worker processes may yet be forked (a
    # feed from a pipe starts them after 4 MiB), which is unsafe once a thread runs; each
    # progress update redraws instead (about 10 a second).
    auto_refresh = phase != "preparing"
    return Progress(
        *columns,
        console=console,
        transient=phase.startswith("answer"),
        refresh_per_second=8,
        auto_refresh=auto_refresh,
    )
