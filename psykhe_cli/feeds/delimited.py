"""CSV and TSV feeds -> product records, one per row, with the row's first line number kept.

The header row names the product fields (after ``--map`` renames). List fields (``images``,
``categories``, ``sizes``) come from ``|``-separated cells or a cell holding a JSON array;
number fields (``price``) become numbers; empty cells are omitted. Rules about values are not
checked here: that is ``validate.py``'s job.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from psykhe_cli.errors import InputError
from psykhe_cli.feeds.blocks import LINE_CAP, iter_blocks, split_lines
from psykhe_cli.schema import CSV_LIST_SEPARATOR, LIST_FIELDS, NUMBER_FIELDS

DELIMITERS = (",", ";", "\t")
_INTEGER = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class Row:
    """One data row: the record it holds, or why it holds none."""

    line: int
    #: the row's bytes as read (lines joined with ``\\n``), for a rejects file
    raw: bytes
    record: dict[str, Any] | None
    #: ``(code, message)`` when the row is unusable
    error: tuple[str, str] | None = None

    @property
    def end_line(self) -> int:
        """The row's last physical line."""
        return self.line + self.raw.count(b"\n")


def sniff_delimiter(header: bytes) -> str:
    """The most frequent of ``,`` ``;`` and tab in the header line (``,`` on a tie)."""
    counts = [header.count(d.encode()) for d in DELIMITERS]
    return DELIMITERS[counts.index(max(counts))] if max(counts) else ","


class CsvReader:
    """The data rows of one CSV/TSV feed; raises ``InputError`` for an unusable header."""

    def __init__(
        self,
        chunks: Iterable[bytes],
        name: str,
        *,
        delimiter: str | None,
        column_map: dict[str, str],
    ) -> None:
        self._lines = _Lines(chunks, name)
        self._name = name
        self._delimiter = delimiter
        self._column_map = column_map

    @property
    def lines_read(self) -> int:
        """Physical lines read so far, header included."""
        return self._lines.line_no

    def __iter__(self) -> Iterator[Row]:
        lines = self._lines
        first = lines.peek_first()
        if first is None:
            return
        delimiter = self._delimiter or sniff_delimiter(first)
        csv.field_size_limit(LINE_CAP)
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        header = _header(reader, lines, self._name, self._column_map)
        if header is None:
            return
        while True:
            start = lines.line_no + 1
            lines.start_row()
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Row(start, lines.row_bytes(), None, ("csv_syntax", f"malformed CSV: {exc}"))
                continue
            if not cells or cells == [""]:
                continue  # blank line
            yield _row(start, lines, cells, header)


def _header(
    reader: Iterator[list[str]], lines: _Lines, name: str, column_map: dict[str, str]
) -> list[str] | None:
    try:
        cells = next(reader)
    except StopIteration:
        return None
    except csv.Error as exc:
        raise InputError(f"{name}:1: malformed CSV header: {exc}") from None
    if lines.bad_utf8 is not None:
        raise InputError(f"{name}:{lines.bad_utf8[0]}: header is not valid UTF-8")
    header = [column_map.get(cell.strip(), cell.strip()) for cell in cells]
    seen: set[str] = set()
    for column, cell in enumerate(header, start=1):
        if not cell:
            raise InputError(f"{name}:{lines.line_no}: column {column} of the header has no name")
        if cell in seen:
            raise InputError(
                f"{name}:{lines.line_no}: two columns are named {cell!r}",
                hint="rename one in the file, or with --map SRC=DST",
            )
        seen.add(cell)
    return header


def _row(start: int, lines: _Lines, cells: list[str], header: list[str]) -> Row:
    raw = lines.row_bytes()
    if lines.bad_utf8 is not None:
        line, offset = lines.bad_utf8
        return Row(
            start, raw, None, ("invalid_utf8", f"invalid UTF-8 at line {line} byte offset {offset}")
        )
    if len(cells) != len(header):
        return Row(
            start,
            raw,
            None,
            ("row_width", f"row has {len(cells)} cells, the header has {len(header)}"),
        )
    record: dict[str, Any] = {}
    for field, cell in zip(header, cells, strict=True):
        if cell == "":
            continue
        try:
            record[field] = cell_value(field, cell)
        except ValueError as exc:
            return Row(start, raw, None, ("invalid_cell", f"{field}: {exc}"))
    return Row(start, raw, record)


def cell_value(field: str, cell: str) -> Any:
    """A cell's value: a list for list fields, a number for number fields, else the string."""
    if field in LIST_FIELDS:
        if cell.lstrip().startswith("["):
            try:
                value = json.loads(cell)
            except ValueError:
                raise ValueError("cell starts with '[' but is not a JSON array") from None
            if isinstance(value, list):
                return value
        return [item.strip() for item in cell.split(CSV_LIST_SEPARATOR) if item.strip()]
    if field in NUMBER_FIELDS:
        text = cell.strip()
        if _INTEGER.fullmatch(text):
            integer = int(text)
            if not -(2**63) <= integer < 2**63:
                raise ValueError(f"{text} is outside signed 64-bit range")
            return integer
        try:
            number = float(text)
        except ValueError:
            return cell  # left for validation to call a wrong type
        if not math.isfinite(number):
            raise ValueError(f"{text!r} is not a finite number")
        return number
    return cell


class _Lines:
    """Physical lines as text for ``csv.reader``, remembering line numbers and bad UTF-8."""

    def __init__(self, chunks: Iterable[bytes], name: str) -> None:
        self._lines = self._iter(chunks, name)
        self._first: str | None = None
        self._first_bytes: bytes | None = None
        self.line_no = 0
        self._row: list[bytes] = []
        #: ``(line, byte offset)`` of the first invalid UTF-8 in the current row
        self.bad_utf8: tuple[int, int] | None = None

    def _iter(self, chunks: Iterable[bytes], name: str) -> Iterator[bytes]:
        for _, block in iter_blocks(chunks, name):
            yield from split_lines(block)

    def peek_first(self) -> bytes | None:
        """The header line's bytes (without consuming it), None for an empty feed."""
        self._first_bytes = next(self._lines, None)
        return self._first_bytes

    def start_row(self) -> None:
        """Forget the previous row's bytes and UTF-8 state."""
        self._row = []
        self.bad_utf8 = None

    def row_bytes(self) -> bytes:
        """The bytes of the lines read for the current row."""
        return b"\n".join(self._row)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self._first_bytes is not None:
            raw, self._first_bytes = self._first_bytes, None
        else:
            raw = next(self._lines)
        self.line_no += 1
        self._row.append(raw)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            if self.bad_utf8 is None:
                self.bad_utf8 = (self.line_no, exc.start)
            text = raw.decode("utf-8", "replace")
        return text + "\n"
