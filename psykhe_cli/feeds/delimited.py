"""CSV and TSV feeds -> product records, one per row, with the row's first line number kept.

The header row names the product fields (after ``--map`` renames). List fields (``images``,
``categories``, ``sizes``) come from ``|``-separated cells or a cell holding a JSON array;
number fields (``price``) become numbers; empty cells are omitted. Rules about values are not
checked here: that is ``validate.py``'s job.
"""

from __future__ import annotations

import csv
import difflib
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psykhe_cli.errors import InputError, UsageError
from psykhe_cli.feeds.blocks import (
    BOM,
    LINE_CAP,
    UTF16_BOMS,
    iter_blocks,
    split_lines,
    utf16_refused,
)
from psykhe_cli.feeds.sources import FeedSource
from psykhe_cli.schema import (
    CSV_LIST_SEPARATOR,
    LIST_FIELDS,
    NUMBER_FIELDS,
    PRODUCT_KEY,
    URL_LIST_FIELDS,
)

DELIMITERS = (",", ";", "\t")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: "295.00 USD", "USD 295", "€12", "12 €": a number with a currency code or sign
_WITH_CURRENCY = re.compile(
    r"(?:[A-Za-z]{3}|[$€£¥₹₩₽¢])\s*[0-9][0-9.,' ]*|[0-9][0-9.,' ]*\s*(?:[A-Za-z]{3}|[$€£¥₹₩₽¢])"
)
#: a number written with a decimal comma, as European spreadsheets do: "89,00"
_DECIMAL_COMMA = re.compile(r"[+-]?[0-9]+,[0-9]+")
_BOM_IN_ROW = "a UTF-8 byte order mark (BOM) starts the row: it would become part of its first cell"
#: whitespace, or a comma before another scheme: an image cell holding several URLs
_SEVERAL_URLS = re.compile(r"\s|,\s*https?://", re.IGNORECASE)


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


class CsvTable:
    """The rows of one CSV/TSV table as strings, the header first: the layer every delimited
    format (generic CSV, Merchant Center, shop exports) reads through.

    ``header()`` reads and returns the header row (None for an empty feed) and raises
    ``InputError`` when it is unusable; iterating then yields one ``Cells`` per data row.
    """

    def __init__(self, chunks: Iterable[bytes], name: str, *, delimiter: str | None) -> None:
        self._lines = _Lines(chunks, name)
        self.name = name
        self._delimiter = delimiter
        self._reader: Iterator[list[str]] | None = None
        #: physical lines the header took (a quoted header cell may span lines)
        self.header_lines = 0
        self._width = 0

    @property
    def lines_read(self) -> int:
        """Physical lines read so far after the header."""
        return self._lines.line_no - self.header_lines

    def header(self) -> list[str] | None:
        """The header row's cells, stripped (a leading BOM is already gone)."""
        first = self._lines.peek_first()
        if first is None:
            return None
        if first.startswith(UTF16_BOMS):
            raise utf16_refused(self.name)
        delimiter = self._delimiter or sniff_delimiter(first)
        csv.field_size_limit(LINE_CAP)
        self._reader = csv.reader(self._lines, delimiter=delimiter, strict=True)
        try:
            cells = next(self._reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            raise InputError(f"{self.name}:1: malformed CSV header: {exc}") from None
        if self._lines.bad_utf8 is not None:
            raise InputError(f"{self.name}:{self._lines.bad_utf8[0]}: header is not valid UTF-8")
        self.header_lines = self._lines.line_no
        self._width = len(cells)
        return [cell.strip() for cell in cells]

    def __iter__(self) -> Iterator[Cells]:
        lines, reader = self._lines, self._reader
        if reader is None:
            return
        while True:
            start = lines.line_no + 1
            lines.start_row()
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Cells(start, lines.row_bytes(), [], ("csv_syntax", f"malformed CSV: {exc}"))
                continue
            if not cells or cells == [""]:
                continue  # blank line
            yield self._cells(start, cells)

    def _cells(self, start: int, cells: list[str]) -> Cells:
        raw = self._lines.row_bytes()
        if raw.startswith(BOM):  # refused, as JSON Lines refuses it, not read into a cell
            error = ("csv_syntax", _BOM_IN_ROW)
            return Cells(start, raw, [], error)
        if self._lines.bad_utf8 is not None:
            line, offset = self._lines.bad_utf8
            error = ("invalid_utf8", f"invalid UTF-8 at line {line} byte offset {offset}")
            return Cells(start, raw, [], error)
        if len(cells) != self._width:
            error = ("row_width", f"row has {len(cells)} cells, the header has {self._width}")
            return Cells(start, raw, [], error)
        return Cells(start, raw, cells)


@dataclass(frozen=True)
class Cells:
    """One data row of a ``CsvTable``: its cells (as wide as the header), or why it has none."""

    line: int
    raw: bytes
    cells: list[str]
    error: tuple[str, str] | None = None

    def row(self, record: dict[str, Any] | None = None) -> Row:
        """The ``Row`` of this line holding ``record`` (or this row's own error)."""
        if self.error is not None:
            return Row(self.line, self.raw, None, self.error)
        return Row(self.line, self.raw, record)

    def failed(self, code: str, message: str) -> Row:
        """The ``Row`` of this line with an error."""
        return Row(self.line, self.raw, None, (code, message))


class CsvReader:
    """The product records of one generic CSV/TSV feed.

    Raises ``InputError`` for an unusable header (a column without a name, two with one,
    no ``product_identifier``) and ``UsageError`` for a ``--map`` naming a column the header
    lacks.
    """

    def __init__(
        self,
        chunks: Iterable[bytes],
        name: str,
        *,
        delimiter: str | None,
        column_map: Mapping[str, str] | Sequence[tuple[str, str]],
        list_separator: str = CSV_LIST_SEPARATOR,
    ) -> None:
        self._table = CsvTable(chunks, name, delimiter=delimiter)
        self._name = name
        #: ``(source, field)`` pairs: one source column may feed several fields
        self._column_map = tuple(
            column_map.items() if isinstance(column_map, Mapping) else column_map
        )
        self._separator = list_separator

    @property
    def lines_read(self) -> int:
        """Physical lines read so far, the header not counted."""
        return self._table.lines_read

    def __iter__(self) -> Iterator[Row]:
        cells = self._table.header()
        if cells is None:
            return
        fields = _fields(cells, self._table, self._column_map)
        separator = self._separator
        for data in self._table:
            yield _row(data, fields, separator, cells)


#: a product field and the header's columns (indexes) its value comes from, in order
_Field = tuple[str, tuple[int, ...]]


def check_map(column_map: Iterable[tuple[str, str]], header: list[str], name: str) -> None:
    """Raise ``UsageError`` when a ``--map`` source names a column ``header`` lacks."""
    for source, target in column_map:
        for column in source.split("+"):
            if column not in header:
                close = difflib.get_close_matches(column, header, n=1)
                maybe = f" (did you mean {close[0]!r}?)" if close else ""
                raise UsageError(
                    f"--map {source}={target}: {name} has no column {column!r}{maybe}",
                    hint=f"its columns: {', '.join(header)}",
                )


def _fields(
    cells: list[str], table: CsvTable, column_map: Sequence[tuple[str, str]]
) -> list[_Field]:
    check_map(column_map, cells, table.name)
    where = f"{table.name}:{table.header_lines}"
    joins = list(dict.fromkeys(pair for pair in column_map if "+" in pair[0]))
    joined = {column for source, _ in joins for column in source.split("+")}
    #: each renamed column's fields, in the order given: ``sku`` may be both identifiers
    renames: dict[str, dict[str, None]] = {}
    for source, target in column_map:
        if "+" not in source:
            renames.setdefault(source, {})[target] = None
    fields: list[_Field] = []
    for column, cell in enumerate(cells, start=1):
        if not cell:
            raise InputError(f"{where}: column {column} of the header has no name")
        if cell in renames:
            fields += [(target, (column - 1,)) for target in renames[cell]]
        elif cell not in joined:
            fields.append((cell, (column - 1,)))
    for source, target in joins:
        fields.append((target, tuple(cells.index(c) for c in source.split("+"))))
    seen: set[str] = set()
    for field, _ in fields:
        if field in seen:
            raise InputError(
                f"{where}: two columns are named {field!r}",
                hint="rename one in the file, or with --map SRC=DST",
            )
        seen.add(field)
    if PRODUCT_KEY not in seen:
        raise InputError(
            f"{where}: the header has no {PRODUCT_KEY} column (its columns: {', '.join(cells)})",
            hint=f"name the column that identifies a product: --map COLUMN={PRODUCT_KEY}",
        )
    return fields


def _row(data: Cells, fields: list[_Field], separator: str, header: list[str]) -> Row:
    if data.error is not None:
        return data.row()
    record: dict[str, Any] = {}
    cells = data.cells
    for field, columns in fields:
        try:
            if len(columns) == 1:
                cell = cells[columns[0]]
                if cell != "":
                    record[field] = cell_value(field, cell, separator)
                continue
            items = [
                item
                for column in columns
                if cells[column] != ""
                for item in cell_value(field, cells[column], separator)
            ]
        except ValueError as exc:
            if field in NUMBER_FIELDS:  # the code a JSON Lines feed gets for the same mistake
                column = "+".join(header[index] for index in columns)
                return data.failed(f"invalid_{field}", f"{field} (column {column!r}): {exc}")
            return data.failed("invalid_cell", f"{field}: {exc}")
        if items:
            record[field] = items
    return data.row(record)


def cell_value(field: str, cell: str, separator: str = CSV_LIST_SEPARATOR) -> Any:
    """A cell's value: a list for list fields, a number for number fields, else the string.

    Raises ``ValueError`` for a cell that would otherwise be read wrong without a word: an
    image cell holding several URLs, a price in other digits than 0-9, with ``_``, with a
    decimal comma or with a currency.
    """
    if field in LIST_FIELDS:
        if cell.lstrip().startswith("["):
            try:
                value = json.loads(cell)
            except ValueError:
                raise ValueError("cell starts with '[' but is not a JSON array") from None
            if isinstance(value, list):
                return value
        items = [item.strip() for item in cell.split(separator) if item.strip()]
        if field in URL_LIST_FIELDS:
            _one_url_each(items, separator)
        return items
    if field in NUMBER_FIELDS:
        return _number(cell.strip())
    return cell


def _one_url_each(items: list[str], separator: str) -> None:
    for item in items:
        if _SEVERAL_URLS.search(item):
            raise ValueError(
                f"{item!r} holds several URLs: separate them with {separator!r} "
                "(or name the separator the feed uses with --list-separator)"
            )


def _number(text: str) -> Any:
    if _INTEGER.fullmatch(text):
        integer = int(text)
        if not -(2**63) <= integer < 2**63:
            raise ValueError(f"{text} is outside signed 64-bit range")
        return integer
    if _DECIMAL.fullmatch(text):
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(f"{text!r} is not a finite number")
        return number
    try:
        number = float(text)  # what Python alone would read: "1_000", "١٢", "nan", "inf"
    except ValueError:
        pass
    else:
        if not math.isfinite(number):
            raise ValueError(f"{text!r} is not a finite number")
        raise ValueError(
            f"{text!r} is not a plain number: write it with the digits 0-9 and a dot only"
        )
    if _WITH_CURRENCY.fullmatch(text):
        raise ValueError(
            f"{text!r} has a currency: a price is a number; put the currency in a column of "
            "its own (a Google Merchant Center feed is read with --format gmc)"
        )
    if _DECIMAL_COMMA.fullmatch(text):
        dotted = text.replace(",", ".")
        raise ValueError(f"{text!r} is not a number: use a dot for decimals: {dotted}")
    return text  # left for validation to call a wrong type


def csv_reader(chunks: Iterable[bytes], source: FeedSource) -> CsvReader:
    """The ``ReaderFactory`` of generic CSV and TSV feeds (``formats.py``)."""
    delimiter = source.delimiter or ("\t" if source.format == "tsv" else None)
    return CsvReader(
        chunks,
        source.name,
        delimiter=delimiter,
        column_map=source.column_map,
        list_separator=source.list_separator,
    )


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
