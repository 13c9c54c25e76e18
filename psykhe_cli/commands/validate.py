"""`psykhe validate`: check feeds against the product field rules; nothing is sent.

orjson, rich and the readers are imported when the command runs, so ``psykhe --help`` stays
fast.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer

from psykhe_cli.commands._options import DebugOption, JsonOption
from psykhe_cli.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from psykhe_cli.feeds import FeedSource, Format


class FeedFormat(str, Enum):
    """The values of ``--format``: psykhe_cli.feeds.FORMATS (a test keeps them equal)."""

    jsonl = "jsonl"
    csv = "csv"
    tsv = "tsv"


_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"}

HELP = """Check feeds against the product field rules; nothing is sent.

FEED is a JSON Lines, CSV or TSV file, gzip-compressed or not, or - for standard input.
With no FEED, standard input is read when it is a pipe or a file.

Problems go to stderr, one per line: FILE:LINE: error[CODE]: message
(product_identifier=ID). The summary goes to stdout. Exit status: 0 no error (warnings
allowed unless --strict), 3 the feed has an error or cannot be read, 2 usage error.

\b
Examples:
  psykhe validate examples/catalog.jsonl
  psykhe validate catalog.csv.gz --map sku=variant_identifier --map name=title
  export-catalog | psykhe validate --strict --json -
"""


def register(app: typer.Typer) -> None:
    """Add the command(s) of this module to `app`."""
    app.command("validate", help=HELP)(validate_command)


def validate_command(
    feeds: Annotated[
        list[str] | None,
        typer.Argument(metavar="FEED", help="Files to check; - for stdin.", show_default=False),
    ] = None,
    feed_format: Annotated[
        FeedFormat | None,
        typer.Option(
            "--format",
            help="Feed format. Default: from the extension (also under .gz), else the content.",
            show_default=False,
        ),
    ] = None,
    delimiter: Annotated[
        str | None,
        typer.Option(
            "--delimiter",
            help="CSV/TSV delimiter: one character, or 'tab'. Default: detected from the header.",
            show_default=False,
        ),
    ] = None,
    column_map: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            metavar="SRC=DST",
            help="Rename CSV/TSV column SRC to product field DST (repeatable).",
            show_default=False,
        ),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    max_problems: Annotated[
        int,
        typer.Option(
            "--max-problems", min=0, help="Print at most N problems; counts stay complete."
        ),
    ] = 1000,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Check feeds against the product field rules; nothing is sent."""
    from psykhe_cli.render.validate import problem_printer, render_report
    from psykhe_cli.terminal import Environment
    from psykhe_cli.validate import ValidationOptions, check_feeds

    env = Environment.from_process()
    sources = feed_sources(
        feeds or [],
        stdin_isatty=env.stdin_isatty,
        feed_format=feed_format.value if feed_format is not None else None,
        delimiter=delimiter,
        column_map=column_map or [],
    )
    options = ValidationOptions(strict=strict, max_problems=max_problems)
    report = check_feeds(sources, options, stdin=env.stdin, on_problem=problem_printer(env))
    render_report(env, report, as_json=as_json)
    if not report.ok:
        raise typer.Exit(ExitCode.INVALID_INPUT)


def feed_sources(
    feeds: list[str],
    *,
    stdin_isatty: bool,
    feed_format: str | None,
    delimiter: str | None,
    column_map: list[str],
) -> list[FeedSource]:
    """The command line's feeds as ``FeedSource``s; raises ``UsageError`` for bad options."""
    from psykhe_cli.feeds import STDIN, FeedSource

    if not feeds:
        if stdin_isatty:
            raise UsageError(
                "no feed given",
                hint="give a file, or - to read standard input: psykhe validate catalog.jsonl",
            )
        feeds = [STDIN]
    if feeds.count(STDIN) > 1:
        raise UsageError("standard input (-) can be read only once")
    fmt: Format | None = feed_format  # type: ignore[assignment]  # click.Choice checked it
    renames = tuple(parse_map(item) for item in column_map)
    sep = parse_delimiter(delimiter)
    return [FeedSource(path, fmt, sep, renames) for path in feeds]


def parse_map(item: str) -> tuple[str, str]:
    """``SRC=DST`` -> ``(SRC, DST)``; raises ``UsageError``."""
    source, equals, target = item.partition("=")
    if not equals or not source.strip() or not target.strip():
        raise UsageError(f"--map {item!r}: expected SRC=DST, e.g. --map sku=variant_identifier")
    return source.strip(), target.strip()


def parse_delimiter(value: str | None) -> str | None:
    """One character, or a name such as ``tab``; raises ``UsageError``."""
    if value is None:
        return None
    value = _DELIMITER_NAMES.get(value.lower(), value)
    if len(value) != 1 or value in '\r\n"':
        raise UsageError(f"--delimiter {value!r}: expected one character, or 'tab'")
    return value
