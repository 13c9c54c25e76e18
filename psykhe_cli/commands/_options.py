"""Options shared by several commands, declared once."""

from __future__ import annotations

from typing import Annotated

import typer


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
