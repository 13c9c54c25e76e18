"""What ``psykhe validate`` shows: problems on stderr as found, then the summary on stdout."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from psykhe_cli.feeds import STDIN, FeedSource
from psykhe_cli.render import (
    ProblemGroups,
    SummaryRow,
    print_json,
    print_summary,
    write_line,
)
from psykhe_cli.terminal import Environment

if TYPE_CHECKING:
    from psykhe_cli.errors import PsykheError
    from psykhe_cli.validate import FeedReport, Problem


class ProblemPrinter:
    """Writes each problem as one ``FILE:LINE: level[CODE]: …`` line on stderr as it is found,
    the first few of each code only; ``close`` then sums up each code's others in one line
    (``ProblemGroups``). ``quiet``: errors only (warnings are counted, not shown)."""

    def __init__(
        self, env: Environment, *, quiet: bool = False, progress: PlainProgress | None = None
    ) -> None:
        self.env = env
        self.quiet = quiet
        self.groups = ProblemGroups()
        #: cleared before each line, so the line is written whole
        self.progress = progress

    def __call__(self, problem: Problem) -> None:
        if (not self.quiet or problem.level == "error") and self.groups.admit(problem):
            if self.progress is not None:
                self.progress.pause()
            write_line(self.env.stderr, problem.format())

    def close(self, report: FeedReport) -> None:
        """Sum up the problems held back, with the complete count of each code."""
        listed = len(report.problems)
        if listed < report.errors + report.warnings:
            hint = f"--json lists the first {listed:,}; --max-problems N for more"
        else:
            hint = "see --json for all"
        for line in self.groups.lines(report.counts_by_code, hint):
            write_line(self.env.stderr, line)


def problem_printer(
    env: Environment, *, quiet: bool = False, progress: PlainProgress | None = None
) -> ProblemPrinter:
    """The ``on_problem`` callback of ``validate``; call its ``close`` with the report."""
    return ProblemPrinter(env, quiet=quiet, progress=progress)


def notice_printer(
    env: Environment, *, quiet: bool = False, progress: PlainProgress | None = None
) -> Callable[[str], None]:
    """A callback writing each notice as one ``psykhe: …`` line on stderr (none if ``quiet``),
    the ``progress`` display cleared first."""

    def show(message: str) -> None:
        if not quiet:
            if progress is not None:
                progress.pause()
            write_line(env.stderr, f"psykhe: {message}")

    return show


def summary_rows(report: FeedReport) -> list[SummaryRow]:
    """The summary: counts, then each problem code with its count, then the verdict."""
    rows: list[SummaryRow] = [
        ("files", ", ".join(report.files), ""),
        ("lines", f"{report.lines:,}", ""),
        ("products", f"{report.products:,}", ""),
        ("variants", f"{report.variants:,}", ""),
        ("errors", f"{report.errors:,}", "red" if report.errors else ""),
        ("warnings", f"{report.warnings:,}", "yellow" if report.warnings else ""),
    ]
    if report.left_out:
        rows.append(("left out (inactive)", f"{report.left_out:,}", ""))
    for code, count in sorted(report.counts_by_code.items()):
        rows.append((f"  {code}", f"{count:,}", ""))
    shown, found = len(report.problems), report.errors + report.warnings
    if shown < found:
        rows.append(("problems shown", f"{shown:,} of {found:,}", ""))
    verdict = "ok" if report.ok else "invalid"
    rows.append(("result", verdict, "bold green" if report.ok else "bold red"))
    return rows


def render_report(
    env: Environment, report: FeedReport, *, as_json: bool, error: PsykheError | None = None
) -> None:
    """The summary of a validation: ``--json``, a table on a terminal, else plain lines.

    ``error``: why a feed read to its end was refused, when its problem lines do not say it
    (``--json`` then carries it, as ``render_failure`` does).
    """
    if as_json:
        document = report.to_json()
        if error is not None:
            document["error"] = {"code": error.code, "message": error.message}
        print_json(env, document)
    else:
        print_summary(env, "psykhe validate", summary_rows(report))


def render_failure(env: Environment, files: list[str], error: PsykheError) -> None:
    """``--json`` when a feed could not be read to its end: still exactly one object."""
    document = {
        "ok": False,
        "files": [FeedSource(name).name for name in files],
        "lines": 0,
        "products": 0,
        "variants": 0,
        "errors": 1,
        "warnings": 0,
        "left_out": 0,
        "counts_by_code": {error.code: 1},
        "problems": [],
        "error": {"code": error.code, "message": error.message},
    }
    print_json(env, document)


# -- progress while the feeds are checked --------------------------------------------------

#: without a terminal, a line at every tenth of a feed this big (smaller ones are done in a
#: blink: their lines would only clutter a log); every ``PlainProgress.EVERY`` s whatever
PLAIN_TENTHS_FROM = 10_000_000


def feeds_size(paths: Sequence[str]) -> int | None:
    """The bytes the progress counts to: the sizes of the feed files; None when one of them is
    standard input or not a regular file (its size is not known before it is read)."""
    total = 0
    for path in paths:
        if path == STDIN:
            return None
        try:
            info = os.stat(path)
        except OSError:
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        total += info.st_size
    return total


def _counts(lines: int, done: int, total: int | None, seconds: float) -> str:
    """``40% · 761,000 lines · 245.0 MB of 612.3 MB · 55.6 MB/s · about 7 s left``."""
    from psykhe_cli.render.push import human_bytes

    rate = done / seconds if seconds > 0 else 0.0
    parts = [f"{lines:,} lines", human_bytes(done)]
    if total:
        parts[1] += f" of {human_bytes(total)}"
        parts.insert(0, f"{min(100, done * 100 // total)}%")
    if rate:
        parts.append(f"{human_bytes(rate)}/s")
        left = (total - done) / rate if total else 0.0
        if left >= 1:
            parts.append(
                f"about {left:,.0f} s left" if left < 90 else f"about {left / 60:,.0f} min left"
            )
    return " · ".join(parts)


class PlainProgress:
    """Progress for logs (cron, pipes): a plain line on stderr every ``EVERY`` seconds, and at
    every tenth of a feed of known size from ``PLAIN_TENTHS_FROM`` bytes; then one line saying
    what was checked, when any line was written before or the feed is that big."""

    EVERY = 30.0

    def __init__(
        self, env: Environment, total: int | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.env = env
        self.total = total
        self._clock = clock
        self._started = self._last_line = clock()
        self._tenths = total is not None and total >= PLAIN_TENTHS_FROM
        self._tenth = 0
        self._lines = self._bytes = 0
        self.written = 0

    def _write(self, text: str) -> None:
        write_line(self.env.stderr, f"psykhe: {text}")
        self.written += 1

    def update(self, lines: int, bytes_read: int) -> None:
        """A ``check_feeds`` ``on_progress`` callback."""
        self._lines, self._bytes = lines, bytes_read
        now = self._clock()
        tenth = bytes_read * 10 // self.total if self._tenths and self.total else 0
        if self._tenth < tenth < 10 or now - self._last_line >= self.EVERY:
            self._tenth = max(self._tenth, tenth)
            self._last_line = now
            self._write("checking: " + _counts(lines, bytes_read, self.total, now - self._started))

    def pause(self) -> None:
        """Nothing to clear before a problem line: plain lines are never redrawn."""

    def finish(self) -> None:
        """The closing line, once the feeds were read to their end."""
        if self.written or self._tenths:
            seconds = self._clock() - self._started
            checked = _counts(self._lines, self._bytes, None, 0.0)
            self._write(f"checked {checked} in {seconds:,.1f} s")

    def stop(self) -> None:
        """Nothing to stop."""


class TerminalProgress(PlainProgress):
    """rich progress on a terminal's stderr: a bar when the size is known, counts and rate;
    then one ``✓ checked …`` line. Redrawn on each update, never by a thread of its own: the
    check may yet fork its workers, which is unsafe once a thread runs."""

    def __init__(
        self, env: Environment, total: int | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(env, total, clock)
        self._live: Any = None
        self._task: Any = None

    def update(self, lines: int, bytes_read: int) -> None:
        """A ``check_feeds`` ``on_progress`` callback."""
        self._lines, self._bytes = lines, bytes_read
        if self._live is None:
            self._open()
        info = _counts(lines, bytes_read, self.total, self._clock() - self._started)
        self._live.update(self._task, completed=bytes_read, info=info, refresh=True)

    def _open(self) -> None:
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

        columns: list[Any] = [SpinnerColumn(), TextColumn("checking")]
        if self.total:
            columns.append(BarColumn(bar_width=30))
        columns.append(TextColumn("{task.fields[info]}"))
        console = self.env.console(stderr=True)
        self._live = Progress(*columns, console=console, transient=True, auto_refresh=False)
        self._task = self._live.add_task("checking", total=self.total or None, info="")
        self._live.start()

    def pause(self) -> None:
        """Clear the display, so a problem line is written whole; the next update redraws."""
        self.stop()

    def finish(self) -> None:
        """Clear the display and say what was checked."""
        self.stop()
        from rich.text import Text

        seconds = self._clock() - self._started
        checked = _counts(self._lines, self._bytes, None, 0.0)
        line = Text.assemble(("✓", "green"), f" checked {checked} in {seconds:,.1f} s")
        self.env.console(stderr=True).print(line, soft_wrap=True)

    def stop(self) -> None:
        """End the live display (it leaves nothing on the screen)."""
        if self._live is not None:
            self._live.stop()
        self._live = self._task = None


def progress_display(
    env: Environment, paths: Sequence[str], *, quiet: bool
) -> PlainProgress | None:
    """How ``validate`` shows its progress: rich on a terminal, plain lines otherwise, none
    with ``--quiet``."""
    if quiet:
        return None
    if env.interactive:
        return TerminalProgress(env, feeds_size(paths))
    return PlainProgress(env, feeds_size(paths))
