"""What the shop-export readers (Shopify, WooCommerce) share: columns by name, paths, numbers.

A shop export is read through ``delimited.CsvTable`` (one CSV tokeniser, one header and BOM
handling); these helpers turn its cells into product fields.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any

from psykhe_cli.errors import InputError
from psykhe_cli.feeds.delimited import Cells, CsvTable, Row
from psykhe_cli.feeds.formats import describe, looks_like
from psykhe_cli.feeds.sources import Format

#: option and attribute names that become ``color`` and ``sizes`` (compared lower-cased)
COLOR_NAMES = frozenset({"color", "colour"})
SIZE_NAMES = frozenset({"size"})
#: how the shops write a category's ancestry: "Apparel > Clothing > Shirts"
PATH_SEPARATOR = ">"
#: how the API's own example joins a category path: "Beauty: Skincare"
CATEGORY_JOIN = ": "

#: how a variant without a SKU is told apart: its product's identifier, "/", its option values
#: joined as Shopify titles a variant ("wool-beanie/S/M / Grey")
VALUE_JOIN = " / "

_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
#: a number written with a decimal comma, as European shops do: "89,00"
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")
#: one absolute http(s) URL: the rule for each item of ``images`` (``validate/rules.py``);
#: ``is_absolute_url`` checks it faster, and a test holds the two to the same answers
ABSOLUTE_URL = re.compile(r"https?://[^\s/?#]\S*", re.IGNORECASE)


class Columns:
    """A header's columns by name, compared case-insensitively (exports vary in case)."""

    def __init__(self, header: list[str]) -> None:
        self._index: dict[str, int] = {}
        for index, name in enumerate(header):
            self._index.setdefault(name.lower(), index)

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._index

    def index(self, name: str) -> int | None:
        """The position of column ``name``, None when the header lacks it."""
        return self._index.get(name.lower())

    def names(self, pattern: str) -> list[str]:
        """The lower-cased column names matching ``pattern`` (a regular expression), in order."""
        regex = re.compile(pattern, re.IGNORECASE)
        return [name for name in self._index if regex.fullmatch(name)]


class Cell:
    """Reads one column of a row by position; an absent column reads as ``""``."""

    __slots__ = ("_index",)

    def __init__(self, columns: Columns, name: str) -> None:
        self._index = columns.index(name)

    def __call__(self, cells: list[str]) -> str:
        return cells[self._index].strip() if self._index is not None else ""


def getter(columns: Columns, names: Iterable[str]) -> Callable[[list[str]], tuple[str, ...]]:
    """Reads several columns of a row at once, stripped; an absent column reads as ``""``."""
    indexes = [columns.index(name) for name in names]
    if len(indexes) > 1 and None not in indexes:
        pick = itemgetter(*indexes)  # one C call for the lot: this runs for every row
        return lambda cells: tuple(map(str.strip, pick(cells)))
    return lambda cells: tuple(cells[i].strip() if i is not None else "" for i in indexes)


def read_header(
    table: CsvTable, required: Iterable[tuple[str, ...]], fmt: Format
) -> Columns | None:
    """The header's columns (None for an empty feed); raises ``InputError`` when it lacks one
    of ``required``: each is a column's names, any of which will do (``("SKU", "ID")``)."""
    header = table.header()
    if header is None:
        return None
    columns = Columns(header)
    missing = [names for names in required if not any(name in columns for name in names)]
    if missing:
        lacks = ", ".join(" or ".join(repr(name) for name in names) for names in missing)
        plural = "s" if len(missing) > 1 else ""
        raise InputError(
            f"{table.name}:{table.header_lines}: the header has no {lacks} column{plural}, "
            f"which every {describe(fmt).removeprefix('a ')} has{looks_like(header, fmt)}",
            hint="export the file again from the shop, or choose another --format",
        )
    return columns


def identifier_missing(data: Cells) -> Row:
    """The error of a row with nothing to identify its product by."""
    return data.failed(
        "missing_product_identifier",
        "the row has neither a SKU nor an ID: nothing identifies its product",
    )


def category_paths(cells: Iterable[str]) -> list[str]:
    """``"A > B > C"`` -> ``["A", "A: B", "A: B: C"]`` for each cell: ancestors included, as
    the API reference's own example lists them; duplicates dropped, order kept. Each name is
    decoded after the split, so an escaped ``&gt;`` in a name does not split it."""
    paths: dict[str, None] = {}
    for cell in cells:
        parts = [part.strip() for part in cell.split(PATH_SEPARATOR)]
        if "&" in cell:
            parts = [decoded(part) for part in parts]
        if not all(parts):
            parts = [part for part in parts if part]
        for end in range(1, len(parts) + 1):
            paths[CATEGORY_JOIN.join(parts[:end])] = None
    return list(paths)


def number(field: str, column: str, text: str) -> int | float:
    """A plain decimal number as the shops export prices (``"29.00"``); raises ``ValueError``
    naming the product ``field`` and the export's ``column`` it came from.

    Stricter than Python's ``float``: no ``_``, no non-ASCII digits, no exponent, no currency.
    """
    if not text.isascii() or not _DECIMAL.fullmatch(text):
        wrong = f"{field} (column {column!r}): {text!r} is not a number"
        if _DECIMAL_COMMA.fullmatch(text):
            raise ValueError(f"{wrong}: use a dot for decimals: {text.replace(',', '.')}")
        raise ValueError(f"{wrong}: write it with the digits 0-9 and a dot for decimals")
    if "." not in text:
        value = int(text)
        if not -(2**63) <= value < 2**63:
            raise ValueError(f"{field} (column {column!r}): {text} is outside signed 64-bit range")
        return value
    result = float(text)
    if not math.isfinite(result):
        raise ValueError(f"{field} (column {column!r}): {text!r} is not a finite number")
    return result


def decoded(text: str) -> str:
    """``text`` with its HTML entities decoded (``&amp;`` -> ``&``): shops store and export
    their text fields HTML-escaped. Not for identifiers (a SKU is matched as written) or URLs."""
    return html.unescape(text) if "&" in text else text


def is_absolute_url(text: str) -> bool:
    """True when ``text`` is one absolute http(s) URL, as each item of ``images`` must be: the
    rule of ``_ABSOLUTE_URL``, checked with string methods (this runs for every image)."""
    scheme = text[:8].lower()
    if scheme == "https://":
        host = text[8:9]
    elif scheme[:7] == "http://":
        host = text[7:8]
    else:
        return False
    return host not in ("", "/", "?", "#") and text.split(None, 1) == [text]


def unique(values: Iterable[str]) -> list[str]:
    """Non-empty values, duplicates dropped, order kept."""
    return list(dict.fromkeys(value for value in values if value))


def put(record: dict[str, Any], field: str, value: Any) -> None:
    """Set ``field`` unless ``value`` is empty: an empty cell is a missing field, as in CSV."""
    if value not in ("", [], None):
        record[field] = value
