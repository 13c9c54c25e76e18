"""What a person sees during ``psykhe push`` and ``psykhe status``.

Three observers implement ``push.PushObserver``; they report, and never decide what the
push does (only ``confirm``'s answer does):

- ``TerminalObserver``: rich progress on stderr for each phase, a question for soft_replace
  read from ``/dev/tty``, a summary table on stdout.
- ``PlainObserver``: cron and pipes — no colour, no animation, one plain line per phase on
  stderr, and during a long upload or wait a line every 30 s (and at every tenth of a big
  upload: ``render/progress.py``); ``key: value`` summary lines on stdout.
- ``quiet=True``: errors only.

Both print the first few problems of each code, then one line per code with the count and
the first places (``render.ProblemGroups``); with ``--json`` every problem line is printed.
``--json`` replaces the summary with exactly one JSON object on stdout.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from psykhe_cli import threads
from psykhe_cli.plan import RecordCount, counted
from psykhe_cli.printable import printable
from psykhe_cli.render import ProblemGroups, print_summary, write_line
from psykhe_cli.render.changes import changes_rows, question_lines
from psykhe_cli.render.plan import phase_rows, plan_lines, plan_rows
from psykhe_cli.render.progress import (
    Ticker,
    duration_text,
    eta_text,
    human_size,
    interval_from_environment,
    phrases,
    progress_for,
    rate_text,
    settle_spinners,
)
from psykhe_cli.render.status import STATUS_STYLES, metric_rows, styled
from psykhe_cli.terminal import Environment

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from psykhe_cli.errors import PsykheError
    from psykhe_cli.ingestion import Ingestion

    # types only: `psykhe status` draws with this module and needs none of the push pipeline
    from psykhe_cli.push import GuardQuestion, PushResult
    from psykhe_cli.validate import Problem


def human_bytes(size: float) -> str:
    """``1.2 MB``-style sizes (decimal units, like rich and most download tools)."""
    return human_size(size)


def _tty_ask(question: str) -> bool | None:
    """Ask a yes/no question on the controlling terminal; None when there is none."""
    answer = _tty_read(question)
    return None if answer is None else answer.strip().lower() in {"y", "yes"}


def _open_tty() -> int:
    """The controlling terminal, opened read-write; ``OSError`` when there is none.

    O_NOCTTY (POSIX): never make it our controlling terminal. Windows has neither the flag nor
    /dev/tty: the open fails there, and a question is refused as without a terminal.
    """
    return os.open("/dev/tty", os.O_RDWR | getattr(os, "O_NOCTTY", 0))


def _tty_read(question: str) -> str | None:
    """Ask on the controlling terminal (stdin may carry the feed); None when there is none."""
    try:
        fd = _open_tty()
    except OSError:
        return None
    try:
        os.write(fd, question.encode())
        answer = b""
        while not answer.endswith(b"\n") and len(answer) < 1024:
            chunk = os.read(fd, 1024)
            if not chunk:  # the terminal went away: that is not a yes
                break
            answer += chunk
    finally:
        os.close(fd)
    return answer.decode(errors="replace").strip()


def tty_available() -> bool:
    """True when this process has a controlling terminal that can be opened."""
    try:
        fd = _open_tty()
    except OSError:
        return False
    os.close(fd)
    return True


class PlainObserver:
    """Plain lines on stderr, one per phase: for cron, pipes and ``NO_COLOR`` logs; during a
    long upload or wait, one more every ``ticker.interval`` seconds (and at every tenth of a
    big upload). ``every_problem``: no grouping of the problems (``--json``)."""

    def __init__(
        self,
        env: Environment,
        *,
        quiet: bool = False,
        debug: bool = False,
        every_problem: bool = False,
        ticker: Ticker | None = None,
        ask: Callable[[str], bool | None] = _tty_ask,
        read: Callable[[str], str | None] = _tty_read,
    ) -> None:
        self.env = env
        self.quiet = quiet
        self.debug_enabled = debug
        self._ask = ask
        self._read = read
        self._last_status: dict[int, str] = {}
        #: the request whose upload was told last
        self._announced: int | None = None
        #: None once the problems were summed up (or never grouped)
        self._groups = None if every_problem else ProblemGroups()
        self._ticker = ticker if ticker is not None else Ticker(interval_from_environment())
        #: the ingestion followed, for the wait's lines
        self._following: int | None = None

    def _say(self, message: str) -> None:
        if not self.quiet:
            write_line(self.env.stderr, f"psykhe: {message}")

    # -- PushObserver ----------------------------------------------------------------------
    def problem(self, problem: Problem) -> None:
        # check_feeds already stops calling after --max-problems; --quiet keeps the errors
        if self.quiet and problem.level != "error":
            return
        if self._groups is None or self._groups.admit(problem):
            self._problem_line(problem.format())

    def _problem_line(self, text: str) -> None:
        write_line(self.env.stderr, text)

    def _sum_up_problems(self, counts: Mapping[str, int]) -> None:
        """One line per code whose problems were held back (once: the check has ended)."""
        groups, self._groups = self._groups, None
        if groups is not None:
            for line in groups.lines(counts, "--json prints every one, up to --max-problems"):
                self._problem_line(line)

    def preparing(self, lines: int, bytes_read: int) -> None:
        pass  # one line when done: plain output has no animation

    def prepared(self, result: PushResult) -> None:
        self._sum_up_problems(result.report.counts_by_code if result.report else {})
        seconds = result.phases.get("preparing", 0.0)
        rejected = f", {result.rejected:,} rejected" if result.rejected else ""
        if result.left_out:
            rejected += f", {result.left_out:,} inactive left out"
        self._say(
            f"prepared {result.lines:,} lines ({result.products:,} products, "
            f"{result.variants:,} variants, {result.warnings:,} warnings{rejected}) "
            f"→ {human_bytes(result.compressed_bytes)} gzip in {seconds:.1f} s"
        )

    def can_prompt(self) -> bool:
        return (self.env.stdin_isatty or self.env.stderr_isatty) and tty_available()

    def confirm(self, question: GuardQuestion) -> bool:
        self.env.stderr.write(guard_text(question) + "\n")
        self.env.stderr.flush()
        return self._answer(question)

    def _answer(self, question: GuardQuestion) -> bool:
        name = question.protected_profile
        if name is not None:  # a protected profile: a reflexive "y" is not enough
            typed = self._read(
                f"Type the profile name ({name}) to deactivate every product "
                "missing from this feed: "
            )
            return typed == name
        return bool(self._ask("Deactivate every product missing from this feed? [y/N] "))

    def uploading(self, part: int, parts: int, sent: int, total: int) -> None:
        which = f" (request {part} of {parts})" if parts > 1 else ""
        if self._announced != part:  # once per request: plain output has no animation
            self._announced = part
            self._ticker.restart()
            self._say(f"uploading {human_bytes(total)}{which}")
        elif 0 < sent < total and self._ticker.due(sent, total):
            seconds = self._ticker.elapsed()
            told = [
                f"{sent * 100 // total}%",
                f"{human_bytes(sent)} of {human_bytes(total)} acknowledged",
                rate_text(sent, seconds),
                eta_text(sent, total, seconds),
            ]
            self._say(f"uploading{which}: " + " · ".join(filter(None, told)))

    def awaiting_answer(self, part: int, parts: int, size: int, seconds: float) -> None:
        which = f" (request {part} of {parts})" if parts > 1 else ""
        rate = f" ({human_bytes(size / seconds)}/s)" if seconds > 0 else ""
        self._say(
            f"sent {human_bytes(size)}{which} in {seconds:.1f} s{rate}; "
            "waiting for the server's answer"
        )

    def retrying(self, attempt: int, delay: float, reason: str) -> None:
        self._say(f"attempt {attempt} failed: {reason}; retrying in {delay:.1f} s")

    def notice(self, message: str) -> None:
        self._say(message)

    def warning(self, message: str) -> None:
        # Printed even with --quiet: a guard was overridden.
        self.close()
        write_line(self.env.stderr, f"psykhe: warning: {message}")

    def created(self, ingestion_id: int, part: int, parts: int) -> None:
        # --quiet: every error after this point names the id, and `status --last` knows it
        self._say(f"ingestion {ingestion_id} accepted")

    def processing(self, ingestion: Ingestion) -> None:
        if self._following != ingestion.id:
            self._following = ingestion.id
            self._ticker.restart()
        if self._last_status.get(ingestion.id) != ingestion.status_name:
            self._last_status[ingestion.id] = ingestion.status_name
            self._say(f"ingestion {ingestion.id}: {ingestion.status_name}")
        elif not ingestion.is_terminal and self._ticker.due():
            waited = duration_text(self._ticker.elapsed())
            self._say(f"ingestion {ingestion.id}: still {ingestion.status_name} ({waited} so far)")

    def poll_failed(self, error: PsykheError) -> None:
        self._say(f"status check failed ({error.message}); trying again")

    def debug(self, line: str) -> None:
        if self.debug_enabled:
            write_line(self.env.stderr, f"psykhe: debug: {line}")

    # -- end -------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop any live display; sum up the problems held back if the check was cut short."""
        self._sum_up_problems({})

    def summary(self, result: PushResult) -> None:
        """The final report on stdout: a table on a terminal, ``key: value`` lines otherwise."""
        self.close()
        if not self.quiet:
            print_summary(self.env, "psykhe push", styled(summary_rows(result)))
            if result.status == "created" and result.ingestion_ids and not result.dry_run:
                ids = result.ingestion_ids
                self._say(f"follow it with: psykhe status {ids[-1]} --watch")


class TerminalObserver(PlainObserver):
    """rich progress on stderr, one display per phase, and a summary table on stdout."""

    def __init__(self, env: Environment, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self.console: Console = env.console(stderr=True)
        self._phase: str | None = None
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._started = time.monotonic()
        #: the upload's last figures told (sent, total)
        self._upload: tuple[int, int] = (0, 0)

    def _open(self, phase: str, label: str, total: float | None = None) -> tuple[Progress, TaskID]:
        """The live display of ``phase``, started (and the previous one ended) if needed."""
        if self._phase != phase or self._progress is None or self._task is None:
            self._stop_display()
            self._progress = progress_for(phase, self.console)
            self._task = self._progress.add_task(
                label, total=total, info="", rate="", eta="", figure=""
            )
            with threads.starting("the progress display"):  # its refresh thread
                self._progress.start()
            self._phase = phase
        return self._progress, self._task

    def _say(self, message: str) -> None:
        if not self.quiet:
            console = self._progress.console if self._progress else self.console
            # cut between phrases, never inside one ("in 0.0" / "s")
            for line in phrases(printable(message), console.width):
                console.print(line, markup=False, highlight=False, overflow="ignore")

    def _problem_line(self, text: str) -> None:
        self._stop_display()  # problem lines must not be torn by the spinner
        super()._problem_line(text)

    def preparing(self, lines: int, bytes_read: int) -> None:
        progress, task = self._open("preparing", "preparing")
        rate = rate_text(bytes_read, time.monotonic() - self._started)
        info = " · ".join(filter(None, [f"{lines:,} lines", human_bytes(bytes_read), rate]))
        progress.update(task, info=info, refresh=True)

    def prepared(self, result: PushResult) -> None:
        self._finish()
        super().prepared(result)

    def confirm(self, question: GuardQuestion) -> bool:
        self._stop_display()
        from rich.panel import Panel

        panel = Panel(guard_text(question), title="soft_replace", border_style="red")
        self.console.print(panel, markup=False)
        return self._answer(question)

    def uploading(self, part: int, parts: int, sent: int, total: int) -> None:
        label = "uploading" if parts == 1 else f"upload {part}/{parts}"
        fresh = self._phase != f"upload-{part}"
        progress, task = self._open(f"upload-{part}", label, total=total)
        if fresh:
            self._ticker.restart()
        seconds = self._ticker.elapsed()
        rate, eta = rate_text(sent, seconds), eta_text(sent, total, seconds)
        figure = f"{human_bytes(sent)} of {human_bytes(total)}"
        progress.update(task, completed=sent, total=total, figure=figure, rate=rate, eta=eta)
        self._upload = (sent, total)

    def awaiting_answer(self, part: int, parts: int, size: int, seconds: float) -> None:
        if self._progress is not None and self._task is not None:  # the bar's last figures
            rate, figure = rate_text(size, seconds), f"{human_bytes(size)} of {human_bytes(size)}"
            self._progress.update(self._task, completed=size, figure=figure, rate=rate, eta="")
        self._finish()
        label = "waiting" if parts == 1 else f"waiting {part}/{parts}"
        progress, task = self._open(f"answer-{part}", label)
        progress.update(task, info="for the server's answer")

    def created(self, ingestion_id: int, part: int, parts: int) -> None:
        self._stop_display()
        self.console.print(f"ingestion [bold]{ingestion_id}[/] accepted", highlight=False)

    def processing(self, ingestion: Ingestion) -> None:
        progress, task = self._open(f"processing-{ingestion.id}", f"ingestion {ingestion.id}")
        style = STATUS_STYLES.get(ingestion.status_name, "")
        progress.update(task, info=f"[{style}]{ingestion.status_name}[/]")
        if ingestion.is_terminal:
            self._finish(ok=ingestion.succeeded)

    def debug(self, line: str) -> None:
        if self.debug_enabled:
            self._say(f"debug: {line}")

    def _finish(self, *, ok: bool = True) -> None:
        """End the current phase's display with a tick (or a cross) instead of a spinner."""
        if self._progress is not None and self._task is not None:
            mark, style = ("✓", "green") if ok else ("✗", "red")
            settle_spinners(self._progress, mark, style, done=True)
            total = self._progress.tasks[0].total or 1
            self._progress.update(self._task, total=total, completed=total)
        self._stop_display(settled=True)

    def _stop_display(self, *, settled: bool = False) -> None:
        """End the live display; what stays on the screen has no spinner frozen in it. An
        upload ended before its end (Ctrl-C, an error) shows the exact bytes its server's
        side acknowledged, the figure the message gives; the check of the feed, unfinished,
        leaves nothing."""
        if self._progress is not None and self._task is not None:
            if not settled and self._phase is not None and self._phase.startswith("upload"):
                sent, total = self._upload
                figure = f"{sent:,} of {total:,} bytes"
                self._progress.update(self._task, figure=figure, rate="", eta="")
            elif not settled and self._phase == "preparing":  # for a problem line: redrawn
                self._progress.live.transient = True  # after it, so none is left half-done
            settle_spinners(self._progress, " ", done=False)
            self._progress.stop()
        self._progress, self._task, self._phase = None, None, None

    def close(self) -> None:
        self._stop_display()
        super().close()


def guard_text(question: GuardQuestion) -> str:
    """What the soft_replace confirmation shows."""
    feed = counted(RecordCount.known(question.variants), question.products)
    lines = [f"target       {question.base_url}", f"feed         {feed}"]
    if question.protected_profile is not None:
        lines.insert(1, f"profile      {question.protected_profile} (protected)")
    if question.previous_products is not None:
        variants = question.previous_variants
        records = RecordCount(question.previous_products, None)  # not remembered: at least
        last = counted(
            records if variants is None else RecordCount.known(variants), question.previous_products
        )
        which = f": {question.previous}" if question.previous else ""
        lines.append(f"last sync    {last}{which}")
    else:
        lines.append("last sync    none remembered for this target")
    if question.plan is not None:
        lines += plan_lines(question.plan)
    lines += question_lines(question.changes)
    lines += [
        f"upload       {human_bytes(question.compressed_bytes)} gzip, one request",
        # within the panel's 76 columns on an 80-column terminal
        "soft_replace upserts these products and DEACTIVATES every other",
        "             active product of this catalog (kept, but excluded from",
        "             recommendations).",
    ]
    return "\n".join(lines)


def summary_rows(result: PushResult) -> list[tuple[str, str]]:
    """The summary as (key, value) pairs, shared by the table and the plain lines."""
    rows = [
        ("ingestion ids", ", ".join(map(str, result.ingestion_ids)) or "-"),
        ("mode", result.mode + (" (dry run)" if result.dry_run else "")),
        ("target", result.base_url or "-"),
        ("products", f"{result.products:,}"),
        ("variants", f"{result.variants:,}"),
        ("warnings", f"{result.warnings:,}"),
    ]
    if result.rejected:
        rows.append(("rejected lines", f"{result.rejected:,}"))
    if result.left_out:
        rows.append(("left out (inactive)", f"{result.left_out:,}"))
    ratio = result.raw_bytes / result.compressed_bytes if result.compressed_bytes else 0
    rows.append(
        (
            "compressed",
            f"{human_bytes(result.compressed_bytes)} of {human_bytes(result.raw_bytes)}"
            + (f" ({ratio:.1f}x)" if ratio else ""),
        )
    )
    if result.requests > 1:
        rows.append(("requests", str(result.requests)))
    rows += plan_rows(result.plan)
    rows += phase_rows(result)
    rows += changes_rows(result.changes)
    rows.append(("status", result.status or "-"))
    rows += metric_rows(result.ingestions)
    return rows


def make_observer(
    env: Environment, *, quiet: bool, debug: bool, every_problem: bool = False, plain: bool = False
) -> PlainObserver:
    """The observer that fits where the output goes.

    A terminal gets the live display (without colour under ``NO_COLOR``); ``--quiet``,
    ``plain`` (timestamped lines: a live display cannot carry them) and everything else get
    plain lines. ``every_problem``: no grouping of repeated problems (``--json``).
    """
    cls = TerminalObserver if env.interactive and not (quiet or plain) else PlainObserver
    return cls(env, quiet=quiet, debug=debug, every_problem=every_problem)
