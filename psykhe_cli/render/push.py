"""What a person sees during ``psykhe push`` and ``psykhe status``.

Three observers implement ``push.PushObserver``; they report, and never decide what the
push does (only ``confirm``'s answer does):

- ``TerminalObserver``: rich progress on stderr for each phase, a question for soft_replace
  read from ``/dev/tty``, a summary table on stdout.
- ``PlainObserver``: cron and pipes — no colour, no animation, one plain line per phase on
  stderr, ``key: value`` summary lines on stdout.
- ``quiet=True``: errors only.

``--json`` replaces the summary with exactly one JSON object on stdout.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from psykhe_cli import threads
from psykhe_cli.printable import printable
from psykhe_cli.render import print_summary, write_line
from psykhe_cli.render.changes import changes_rows, question_lines
from psykhe_cli.render.status import STATUS_STYLES, metric_rows, styled
from psykhe_cli.terminal import Environment

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from psykhe_cli.errors import PsykheError
    from psykhe_cli.ingestion import Ingestion
    from psykhe_cli.plan import Plan

    # types only: `psykhe status` draws with this module and needs none of the push pipeline
    from psykhe_cli.push import GuardQuestion, PushResult
    from psykhe_cli.validate import Problem


def human_bytes(size: float) -> str:
    """``1.2 MB``-style sizes (decimal units, like rich and most download tools)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size) < 1000 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{size:,.1f} GB"  # pragma: no cover - loop always returns


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
    """Plain lines on stderr, one per phase: for cron, pipes and ``NO_COLOR`` logs."""

    def __init__(
        self,
        env: Environment,
        *,
        quiet: bool = False,
        debug: bool = False,
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

    def _say(self, message: str) -> None:
        if not self.quiet:
            write_line(self.env.stderr, f"psykhe: {message}")

    # -- PushObserver ----------------------------------------------------------------------
    def problem(self, problem: Problem) -> None:
        # check_feeds already stops calling after --max-problems; --quiet keeps the errors
        if not self.quiet or problem.level == "error":
            write_line(self.env.stderr, problem.format())

    def preparing(self, lines: int, bytes_read: int) -> None:
        pass  # one line when done: plain output has no animation

    def prepared(self, result: PushResult) -> None:
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
        if self._announced != part:  # once per request: plain output has no animation
            self._announced = part
            which = f" (request {part} of {parts})" if parts > 1 else ""
            self._say(f"uploading {human_bytes(total)}{which}")

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
        if self._last_status.get(ingestion.id) != ingestion.status_name:
            self._last_status[ingestion.id] = ingestion.status_name
            self._say(f"ingestion {ingestion.id}: {ingestion.status_name}")

    def poll_failed(self, error: PsykheError) -> None:
        self._say(f"status check failed ({error.message}); trying again")

    def debug(self, line: str) -> None:
        if self.debug_enabled:
            write_line(self.env.stderr, f"psykhe: debug: {line}")

    # -- end -------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop any live display."""

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

    def _open(self, phase: str, label: str, total: float | None = None) -> tuple[Progress, TaskID]:
        """The live display of ``phase``, started (and the previous one ended) if needed."""
        if self._phase != phase or self._progress is None or self._task is None:
            self.close()
            self._progress = _progress_for(phase, self.console)
            self._task = self._progress.add_task(label, total=total, info="")
            with threads.starting("the progress display"):  # its refresh thread
                self._progress.start()
            self._phase = phase
        return self._progress, self._task

    def _say(self, message: str) -> None:
        if not self.quiet:
            console = self._progress.console if self._progress else self.console
            console.print(printable(message), markup=False, highlight=False)

    def problem(self, problem: Problem) -> None:
        self.close()  # problem lines must not be torn by the spinner
        super().problem(problem)

    def preparing(self, lines: int, bytes_read: int) -> None:
        progress, task = self._open("preparing", "preparing")
        rate = bytes_read / max(time.monotonic() - self._started, 1e-6) / 1e6
        info = f"{lines:,} lines · {human_bytes(bytes_read)} · {rate:,.0f} MB/s"
        progress.update(task, info=info, refresh=True)

    def prepared(self, result: PushResult) -> None:
        self._finish()
        super().prepared(result)

    def confirm(self, question: GuardQuestion) -> bool:
        self.close()
        from rich.panel import Panel

        panel = Panel(guard_text(question), title="soft_replace", border_style="red")
        self.console.print(panel, markup=False)
        return self._answer(question)

    def uploading(self, part: int, parts: int, sent: int, total: int) -> None:
        label = "uploading" if parts == 1 else f"upload {part}/{parts}"
        progress, task = self._open(f"upload-{part}", label, total=total)
        progress.update(task, completed=sent, total=total)

    def awaiting_answer(self, part: int, parts: int, size: int, seconds: float) -> None:
        self._finish()
        label = "waiting" if parts == 1 else f"waiting {part}/{parts}"
        progress, task = self._open(f"answer-{part}", label)
        progress.update(task, info="for the server's answer")

    def created(self, ingestion_id: int, part: int, parts: int) -> None:
        self.close()
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
            from rich.progress import SpinnerColumn
            from rich.text import Text

            for column in self._progress.columns:
                if isinstance(column, SpinnerColumn):
                    column.finished_text = Text("✓", "green") if ok else Text("✗", "red")
            total = self._progress.tasks[0].total or 1
            self._progress.update(self._task, total=total, completed=total)
        self.close()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
        self._progress, self._task, self._phase = None, None, None


def _progress_for(phase: str, console: Console) -> Progress:
    """The columns that fit each phase: counts and rate, bytes and ETA, status and time."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns: list[Any] = [SpinnerColumn(finished_text=" ")]
    columns.append(TextColumn("{task.description:<12}"))
    if phase.startswith("upload"):
        columns += [BarColumn(bar_width=30), DownloadColumn(), TransferSpeedColumn()]
        columns += [TimeRemainingColumn()]
    else:
        columns += [TextColumn("{task.fields[info]}"), TimeElapsedColumn()]
    # While the feed is checked, no refresh thread: worker processes may yet be forked (a
    # feed from a pipe starts them after 4 MiB), which is unsafe once a thread runs; each
    # progress update redraws instead (about 10 a second).
    auto_refresh = phase != "preparing"
    return Progress(
        *columns,
        console=console,
        transient=False,
        refresh_per_second=8,
        auto_refresh=auto_refresh,
    )


def guard_text(question: GuardQuestion) -> str:
    """What the soft_replace confirmation shows."""
    lines = [
        f"target       {question.base_url}",
        f"products     {question.products:,} ({question.variants:,} variants)",
    ]
    if question.protected_profile is not None:
        lines.insert(1, f"profile      {question.protected_profile} (protected)")
    if question.previous_products is not None:
        variants = (
            f" ({question.previous_variants:,} variants)"
            if question.previous_variants is not None
            else ""
        )
        lines.append(f"last sync    {question.previous_products:,} products{variants}")
    else:
        lines.append("last sync    none remembered for this target")
    if question.plan is not None:
        lines += plan_lines(question.plan)
    lines += question_lines(question.changes)
    lines += [
        f"upload       {human_bytes(question.compressed_bytes)} gzip, one request",
        "soft_replace upserts these products and DEACTIVATES every other active product",
        "             of this catalog (kept, but excluded from recommendations).",
    ]
    return "\n".join(lines)


def plan_lines(plan: Plan) -> list[str]:
    """The plan's counts, then up to ``plan.SAMPLE`` identifiers it would deactivate."""
    lines = [f"plan         deactivate {plan.deactivate:,} · new {plan.new:,} · kept {plan.kept:,}"]
    for index, identifier in enumerate(plan.sample):
        label = "deactivates" if index == 0 else ""
        shown = printable(identifier)
        shown = shown if len(shown) <= 80 else shown[:79] + "…"
        lines.append(f"{label:<12} {shown}")
    more = plan.deactivate - len(plan.sample)
    if more > 0:
        lines.append(f"{'':<12} … and {more:,} more (--plan-file lists them all)")
    return lines


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
    for phase in ("preparing", "uploading", "processing"):
        if phase in result.phases:
            rows.append((phase, f"{result.phases[phase]:.1f} s"))
    rows += changes_rows(result.changes)
    rows.append(("status", result.status or "-"))
    rows += metric_rows(result.ingestions)
    return rows


def make_observer(env: Environment, *, quiet: bool, debug: bool) -> PlainObserver:
    """The observer that fits where the output goes.

    A terminal gets the live display (without colour under ``NO_COLOR``); ``--quiet`` and
    everything else get plain lines.
    """
    cls = TerminalObserver if env.interactive and not quiet else PlainObserver
    return cls(env, quiet=quiet, debug=debug)
