"""Everything a person sees: problem lines, summaries, ``--json``. Nothing else prints.

One module per command (``render/validate.py``, ``render/push.py``); the helpers here are the
shapes they share. rich is imported only when a terminal is there to show it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from psykhe_cli.printable import printable
from psykhe_cli.terminal import Environment

#: (label, value, rich style or "") — one row of a summary
SummaryRow = tuple[str, str, str]


def write_line(stream: Any, text: str) -> None:
    """Write one line, control characters escaped (``printable``), and flush, so lines
    interleave in order with the other stream."""
    stream.write(printable(text) + "\n")
    stream.flush()


def print_json(env: Environment, document: dict[str, Any]) -> None:
    """Exactly one JSON object, one line, on stdout (orjson escapes control characters as
    JSON does; ``printable``'s ``\\x7f`` would not be JSON)."""
    env.stdout.write(orjson.dumps(document).decode() + "\n")
    env.stdout.flush()


def print_summary(env: Environment, title: str, rows: Sequence[SummaryRow]) -> None:
    """A rich table on a terminal stdout; ``label: value`` lines otherwise (cron, pipes).

    With FORCE_COLOR the lines keep their shape, so a script still reads them, and get colour.
    """
    if not env.stdout_isatty:
        if env.colour(stderr=False):
            from rich.text import Text

            console = env.console(stderr=False)
            for label, value, style in rows:
                line = Text.assemble(f"{printable(label)}: ", (printable(value), style))
                console.print(line, soft_wrap=True)
            return
        for label, value, _ in rows:
            write_line(env.stdout, f"{label}: {value}")
        return
    from rich.table import Table

    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(justify="left")
    table.add_column(justify="right")
    for label, value, style in rows:
        table.add_row(printable(label), printable(value), style=style or None)
    env.console(stderr=False).print(table)
