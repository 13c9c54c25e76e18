"""Options shared by several commands, declared once."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer

from psykhe_cli.errors import UsageError

if TYPE_CHECKING:
    from psykhe_cli.feeds import FeedSource
    from psykhe_cli.terminal import Environment


class Runtime:
    """Process-wide switches that ``cli.main`` needs after a command has ended."""

    debug: bool = False


def _set_debug(value: bool) -> bool:
    if value:
        Runtime.debug = True
    return value


DebugOption = Annotated[
    bool,
    typer.Option(
        "--debug",
        help="Show request/response details (key redacted) and tracebacks.",
        callback=_set_debug,
        is_eager=True,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")
]


class FeedFormat(str, Enum):
    """Feed formats ``--format`` accepts."""

    jsonl = "jsonl"
    csv = "csv"
    tsv = "tsv"


FeedsArgument = Annotated[
    list[str] | None,
    typer.Argument(
        help="Feed files (JSON Lines, CSV/TSV, optionally .gz); '-' or nothing reads stdin.",
        show_default=False,
    ),
]
FormatOption = Annotated[
    FeedFormat | None,
    typer.Option("--format", help="Feed format; default: from the extension, else the content."),
]
DelimiterOption = Annotated[
    str | None,
    typer.Option("--delimiter", help="CSV delimiter (',', ';' or 'tab'); default: detected."),
]
MapOption = Annotated[
    list[str] | None,
    typer.Option("--map", metavar="SRC=DST", help="Rename a CSV column (repeatable)."),
]
StrictOption = Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")]
MaxProblemsOption = Annotated[
    int,
    typer.Option("--max-problems", min=0, help="Print at most N problems (counts stay complete)."),
]


def feed_sources(
    feeds: list[str] | None,
    *,
    env: Environment,
    format: FeedFormat | None = None,
    delimiter: str | None = None,
    maps: list[str] | None = None,
) -> list[FeedSource]:
    """The feeds named on the command line; no name means stdin, unless stdin is a terminal."""
    from psykhe_cli.feeds import FeedSource

    paths = list(feeds or [])
    if not paths:
        if env.stdin_isatty:
            raise UsageError(
                "no feed given: name a file, or pipe one in with '-'",
                hint="e.g. psykhe push catalog.jsonl, or: cat catalog.jsonl | psykhe push -",
            )
        paths = ["-"]
    if paths.count("-") > 1:
        raise UsageError("'-' (stdin) can be named only once")
    if delimiter is not None:
        delimiter = {"tab": "\t", "\\t": "\t"}.get(delimiter, delimiter)
        if len(delimiter) != 1:
            raise UsageError(f"--delimiter must be one character (or 'tab'), not {delimiter!r}")
    column_map = []
    for item in maps or []:
        source, sep, target = item.partition("=")
        if not sep or not source or not target:
            raise UsageError(f"--map takes SRC=DST, not {item!r}")
        column_map.append((source, target))
    return [
        FeedSource(
            path,
            format=format.value if format else None,
            delimiter=delimiter,
            column_map=tuple(column_map),
        )
        for path in paths
    ]
