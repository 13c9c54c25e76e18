"""Everything a person sees: problem lines, summaries, ``--json``. Nothing else prints.

One module per command (``render/validate.py``, ``render/push.py``); the helpers here are the
shapes they share. rich is imported only when a terminal is there to show it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from psykhe_cli.printable import printable
from psykhe_cli.terminal import Environment

if TYPE_CHECKING:
    from psykhe_cli.validate import Problem

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


class ProblemGroups:
    """Repeated problems of one code shown as one line: the first ``FULL`` of each code in full
    as they are found, the rest counted and summed up at the end.

    ``admit(problem)`` says whether to print the problem in full; ``lines(counts, hint)``
    gives the summing-up lines, one per code that had problems held back::

        feed.csv: warning[missing_variant_identifier] × 5,000: lines 2, 3, 4, … (see --json for all)

    Every command that prints problem lines may use it; it prints nothing itself.
    """

    #: problems of one code printed in full before the rest are held back
    FULL = 3

    def __init__(self) -> None:
        #: code -> (level, the first places as (file, line))
        self._first: dict[str, tuple[str, list[tuple[str, int]]]] = {}
        #: code -> problems seen but not printed
        self._held: dict[str, int] = {}

    def admit(self, problem: Problem) -> bool:
        """True when ``problem`` is among the first ``FULL`` of its code: print it in full."""
        _, places = self._first.setdefault(problem.code, (problem.level, []))
        if len(places) < self.FULL:
            places.append((problem.file, problem.line))
            return True
        self._held[problem.code] = self._held.get(problem.code, 0) + 1
        return False

    def lines(self, counts: Mapping[str, int], hint: str) -> list[str]:
        """One line per code with problems held back; ``counts``: the complete count of each
        code (the problems seen, where a code is missing)."""
        out = []
        for code, held in self._held.items():
            level, places = self._first[code]
            total = max(counts.get(code, 0), len(places) + held)
            files = {file for file, _ in places}
            if len(files) == 1:
                where = f"{places[0][0]}: "
                listed = "lines " + ", ".join(f"{line:,}" for _, line in places)
            else:
                where = ""
                listed = ", ".join(f"{file}:{line:,}" for file, line in places)
            out.append(f"{where}{level}[{code}] × {total:,}: {listed}, … ({hint})")
        return out
