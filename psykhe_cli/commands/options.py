"""Options shared by several commands, declared once."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from psykhe_cli.errors import UsageError

if TYPE_CHECKING:
    from psykhe_cli.feeds import FeedSource
    from psykhe_cli.terminal import Environment


@dataclass
class Runtime:
    """What ``cli.run`` needs to know of one run once its command has ended; made by
    ``cli.run`` and handed to the command as click's ``obj``."""

    debug: bool = False


def _set_debug(ctx: typer.Context, value: bool) -> bool:
    if value and isinstance(ctx.obj, Runtime):
        ctx.obj.debug = True
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
#: validate sends no request: its --debug has no request/response details to show
ValidateDebugOption = Annotated[
    bool,
    typer.Option(
        "--debug",
        help="Show the traceback when psykhe fails for a reason other than the feed.",
        callback=_set_debug,
        is_eager=True,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        metavar="NAME",
        help="Use [profiles.NAME] of the config file (default: $PSYKHE_PROFILE).",
        show_default=False,
    ),
]
BaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        metavar="URL",
        help="API origin (default: $PSYKHE_BASE_URL, config, or the API).",
    ),
]
ApiKeyFileOption = Annotated[
    Path | None,
    typer.Option(
        "--api-key-file", metavar="FILE", help="Read the private key from this file (mode 0600)."
    ),
]
WaitLockOption = Annotated[
    float,
    typer.Option(
        "--wait-lock",
        min=0,
        metavar="SECONDS",
        help="Wait this long for another push to the same target to finish (default: 0).",
    ),
]
NoWaitOption = Annotated[
    bool, typer.Option("--no-wait", help="Return once the upload is accepted.")
]

QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print errors only; the exit status tells the rest.")
]


class FeedFormat(str, Enum):
    """The values of ``--format``: psykhe_cli.feeds.FORMATS (a test keeps them equal)."""

    jsonl = "jsonl"
    csv = "csv"
    tsv = "tsv"
    gmc = "gmc"
    shopify = "shopify"
    woocommerce = "woocommerce"


FeedsArgument = Annotated[
    list[str] | None,
    # described in each command's help text: Typer's argument list would show its type
    typer.Argument(metavar="FEED", show_default=False, hidden=True),
]
FormatOption = Annotated[
    FeedFormat | None,
    typer.Option(
        "--format",
        metavar="|".join(f.value for f in FeedFormat),
        help="Feed format: gmc is a Google Merchant Center feed (TSV, CSV or XML); shopify and "
        "woocommerce are those shops' products exports. Default: told from the content (a "
        "vendor's header or XML), else the extension (also under .gz).",
        show_default=False,
    ),
]
DelimiterOption = Annotated[
    str | None,
    typer.Option(
        "--delimiter",
        metavar="CHAR",
        help="CSV/TSV delimiter: one character, or 'tab'. Default: detected from the header.",
        show_default=False,
    ),
]
MapOption = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        metavar="SRC=DST",
        help="Rename CSV/TSV column SRC to product field DST (repeatable); SRC may join the "
        "list cells of several columns into one list: --map images=image_link+more_images.",
        show_default=False,
    ),
]
ListSeparatorOption = Annotated[
    str | None,
    typer.Option(
        "--list-separator",
        metavar="TEXT",
        help="What separates the items of a CSV/TSV list cell (images, categories, sizes). "
        "Default: |",
        show_default=False,
    ),
]
IncludeInactiveOption = Annotated[
    bool,
    typer.Option(
        "--include-inactive",
        help="Shopify/WooCommerce exports: keep draft, archived, unpublished and hidden "
        "products (left out and counted by default).",
    ),
]
StrictOption = Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")]
MaxProblemsOption = Annotated[
    int,
    typer.Option(
        "--max-problems", min=0, metavar="N", help="Print at most N problems; counts stay complete."
    ),
]

_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"}


def feed_sources(
    feeds: list[str] | None,
    *,
    env: Environment,
    command: str,
    format: FeedFormat | None = None,
    delimiter: str | None = None,
    maps: list[str] | None = None,
    include_inactive: bool = False,
    list_separator: str | None = None,
) -> list[FeedSource]:
    """The feeds named on the command line; none means stdin, unless stdin is a terminal."""
    from psykhe_cli.feeds import STDIN, FeedSource

    paths = list(feeds or [])
    if not paths:
        if env.stdin_isatty:
            raise UsageError(
                "no feed given",
                hint=f"name a file, or pipe one in: psykhe {command} catalog.jsonl, "
                f"or: cat catalog.jsonl | psykhe {command} -",
            )
        paths = [STDIN]
    if paths.count(STDIN) > 1:
        raise UsageError("standard input (-) can be read only once")
    renames = tuple(parse_map(item) for item in maps or [])
    separator = parse_delimiter(delimiter)
    fmt: Any = format.value if format is not None else None  # Typer checked the choice
    items = parse_list_separator(list_separator)
    return [
        FeedSource(
            path, fmt, separator, renames, include_inactive=include_inactive, list_separator=items
        )
        for path in paths
    ]


def parse_map(item: str) -> tuple[str, str]:
    """``SRC=DST`` -> ``(SRC, DST)``; raises ``UsageError``.

    A join may be written either way round, the side with ``+`` naming the columns:
    ``images=image_link+additional_image_link`` is ``image_link+additional_image_link=images``.
    """
    from psykhe_cli.schema import LIST_FIELDS

    source, equals, target = (part.strip() for part in item.partition("="))
    if not equals or not source or not target:
        raise UsageError(f"--map {item!r}: expected SRC=DST, e.g. --map sku=variant_identifier")
    if "+" in target and "+" not in source:
        source, target = target, source
    if "+" in source:
        if target not in LIST_FIELDS:
            raise UsageError(
                f"--map {item!r}: columns joined with + make a list, and {target!r} is not a "
                f"list field ({', '.join(sorted(LIST_FIELDS))})"
            )
        if not all(column.strip() for column in source.split("+")):
            raise UsageError(f"--map {item!r}: a column name is missing around '+'")
        source = "+".join(column.strip() for column in source.split("+"))
    return source, target


def parse_list_separator(value: str | None) -> str:
    """The separator of list cells (``|`` by default); raises ``UsageError``."""
    from psykhe_cli.schema import CSV_LIST_SEPARATOR

    if value is None:
        return CSV_LIST_SEPARATOR
    value = _DELIMITER_NAMES.get(value.lower(), value)
    if not value or "\n" in value or "\r" in value:
        raise UsageError(f"--list-separator {value!r}: expected some text, e.g. ';' or ', '")
    return value


def parse_delimiter(value: str | None) -> str | None:
    """One character, or a name such as ``tab``; raises ``UsageError``."""
    if value is None:
        return None
    value = _DELIMITER_NAMES.get(value.lower(), value)
    if len(value) != 1 or value in '\r\n"':
        raise UsageError(f"--delimiter {value!r}: expected one character, or 'tab'")
    return value
