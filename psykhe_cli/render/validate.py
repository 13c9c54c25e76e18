"""What ``psykhe validate`` shows: problems on stderr as found, then the summary on stdout."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from psykhe_cli.feeds import FeedSource
from psykhe_cli.render import SummaryRow, print_json, print_summary, write_line
from psykhe_cli.terminal import Environment

if TYPE_CHECKING:
    from psykhe_cli.errors import PsykheError
    from psykhe_cli.validate import FeedReport, Problem


def problem_printer(env: Environment, *, quiet: bool = False) -> Callable[[Problem], None]:
    """A callback writing each problem as one ``FILE:LINE: level[CODE]: …`` line on stderr.

    ``quiet``: errors only (warnings are counted, not shown).
    """

    def show(problem: Problem) -> None:
        if not quiet or problem.level == "error":
            write_line(env.stderr, problem.format())

    return show


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
        ("lines", str(report.lines), ""),
        ("products", str(report.products), ""),
        ("variants", str(report.variants), ""),
        ("errors", str(report.errors), "red" if report.errors else ""),
        ("warnings", str(report.warnings), "yellow" if report.warnings else ""),
    ]
    if report.left_out:
        rows.append(("left out (inactive)", str(report.left_out), ""))
    for code, count in sorted(report.counts_by_code.items()):
        rows.append((f"  {code}", str(count), ""))
    shown = len(report.problems)
    if shown < report.errors + report.warnings:
        rows.append(("problems shown", f"{shown} of {report.errors + report.warnings}", ""))
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
