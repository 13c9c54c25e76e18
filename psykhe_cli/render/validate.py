"""What ``psykhe validate`` shows: problems on stderr as found, then the summary on stdout."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from psykhe_cli.feeds import FeedSource
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

    def __init__(self, env: Environment, *, quiet: bool = False) -> None:
        self.env = env
        self.quiet = quiet
        self.groups = ProblemGroups()

    def __call__(self, problem: Problem) -> None:
        if (not self.quiet or problem.level == "error") and self.groups.admit(problem):
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


def problem_printer(env: Environment, *, quiet: bool = False) -> ProblemPrinter:
    """The ``on_problem`` callback of ``validate``; call its ``close`` with the report."""
    return ProblemPrinter(env, quiet=quiet)


def notice_printer(env: Environment, *, quiet: bool = False) -> Callable[[str], None]:
    """A callback writing each notice as one ``psykhe: …`` line on stderr (none if ``quiet``)."""

    def show(message: str) -> None:
        if not quiet:
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
