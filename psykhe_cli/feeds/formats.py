"""The feed formats: the one place a format name maps to its reader and is told from content.

Every format but JSON Lines is read by a *row reader*: an iterable of ``Row`` (see
``delimited.py``) — one product record per source row, or the error that row has, with the
source line it starts on — that also says how many source lines it has read (``lines_read``,
a header not counted). ``validate.rows.check_rows`` checks those rows exactly as it checks
CSV rows, so validation, the plan, the guard and push do not know which format a record came
from.

    FORMATS              every name ``--format`` accepts, in the order help lists them
    describe(fmt)        how a message names the format: "a Google Merchant Center feed"
    detect(head, guess)  the format of a feed from its first bytes (and its extension's guess)
    row_reader(fmt, chunks, source)
                         the row reader of a format (not JSON Lines, which has its own engine)
    left_out(reader)     the products a shop export's reader left out as not active
    looks_like(cells, told)
                         "; it looks like …": what a header refused as ``told`` names instead

A new format is a ``FormatSpec`` in ``_SPECS``: its description, a reader factory (imported
when first used, so ``psykhe --help`` and the validation workers stay light), and, if it can be
told from a delimited header, a predicate on the header's cells.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from psykhe_cli.feeds.blocks import utf16_xml
from psykhe_cli.feeds.sources import FORMATS, FeedSource, Format

if TYPE_CHECKING:
    from psykhe_cli.feeds.delimited import Row

__all__ = [
    "FORMATS",
    "FormatSpec",
    "LeavesOut",
    "RowReader",
    "describe",
    "detect",
    "left_out",
    "looks_like",
    "row_reader",
]


class RowReader(Protocol):
    """What every format but JSON Lines yields: ``Row`` objects, in source order."""

    @property
    def lines_read(self) -> int:
        """Source lines read so far, a header row not counted."""
        ...

    def __iter__(self) -> Iterator[Row]: ...


@runtime_checkable
class LeavesOut(Protocol):
    """A row reader that leaves products out as not active (the shop exports), counting them."""

    #: products left out so far
    left_out: int


def left_out(reader: RowReader) -> int:
    """How many products ``reader`` left out as not active (0 for formats that leave none out)."""
    return reader.left_out if isinstance(reader, LeavesOut) else 0


#: ``(decompressed chunks, the feed) -> RowReader``; raises ``InputError`` for a bad header.
#: ``source.format`` is always set: to the format given or detected.
ReaderFactory = Callable[[Iterable[bytes], FeedSource], RowReader]


@dataclass(frozen=True)
class FormatSpec:
    """One format: how messages name it, where its reader is, how its header is told."""

    description: str
    #: ``"module:function"`` of its ``ReaderFactory`` (empty for JSON Lines)
    reader: str
    #: true when a delimited header (its cells, stripped, BOM removed) is this format's
    header_matches: Callable[[list[str]], bool] | None = None


def _gmc_header(cells: list[str]) -> bool:
    from psykhe_cli.feeds.gmc_fields import is_gmc_header

    return is_gmc_header(cells)


def _shopify_header(cells: list[str]) -> bool:
    names = {cell.lower() for cell in cells}
    return "handle" in names and ("variant sku" in names or "variant price" in names)


def _woocommerce_header(cells: list[str]) -> bool:
    names = {cell.lower() for cell in cells}
    return {"type", "sku", "parent"} <= names and "regular price" in names


_SPECS: dict[Format, FormatSpec] = {
    "jsonl": FormatSpec("a JSON Lines feed", ""),
    "csv": FormatSpec("a CSV feed", "psykhe_cli.feeds.delimited:csv_reader"),
    "tsv": FormatSpec("a TSV feed", "psykhe_cli.feeds.delimited:csv_reader"),
    "gmc": FormatSpec("a Google Merchant Center feed", "psykhe_cli.feeds.gmc:reader", _gmc_header),
    "shopify": FormatSpec(
        "a Shopify products export", "psykhe_cli.feeds.shopify:reader", _shopify_header
    ),
    "woocommerce": FormatSpec(
        "a WooCommerce products export",
        "psykhe_cli.feeds.woocommerce:reader",
        _woocommerce_header,
    ),
}
assert tuple(_SPECS) == FORMATS, "every format has a spec"

#: formats read as delimited text when no vendor header is recognised
_PLAIN: tuple[Format, ...] = ("csv", "tsv")


def describe(fmt: Format) -> str:
    """How messages name ``fmt``: ``"a Google Merchant Center feed"``."""
    return _SPECS[fmt].description


def detect(head: bytes, guess: Format | None) -> Format:
    """The format of a feed starting with ``head``; ``guess`` is its extension's say, if any.

    XML is a Merchant Center feed (RSS 2.0 or Atom); a delimited header naming a vendor's
    columns is that vendor's export; otherwise the extension decides, else the first line:
    a header row has delimiters, anything else reads best as JSON Lines.
    """
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if guess == "jsonl":
        return guess
    if text.startswith(b"<") or utf16_xml(head):
        return "gmc"
    first_line = text.split(b"\n", 1)[0].rstrip(b"\r")
    if guess is None and (
        text[:1] in (b"{", b"[") or not any(d in first_line for d in (b",", b";", b"\t"))
    ):
        return "jsonl"
    cells = _header_cells(first_line)
    for fmt, spec in _SPECS.items():
        if spec.header_matches is not None and spec.header_matches(cells):
            return fmt
    if guess is not None:
        return guess
    return "tsv" if b"\t" in first_line and b"," not in first_line else "csv"


def looks_like(cells: list[str], told: Format) -> str:
    """``"; it looks like a Shopify products export (--format shopify)"`` when a header that
    is not ``told``'s names another format's columns, else ``""``: for the reader's error."""
    names = [cell.strip().removeprefix("\ufeff") for cell in cells]
    if told != "gmc" and names and names[0].startswith("<"):  # XML: only gmc reads it
        return f"; it looks like {_SPECS['gmc'].description} in XML (--format gmc)"
    for fmt, spec in _SPECS.items():
        if fmt != told and spec.header_matches is not None and spec.header_matches(names):
            return f"; it looks like {spec.description} (--format {fmt})"
    return ""


def _header_cells(first_line: bytes) -> list[str]:
    from psykhe_cli.feeds.delimited import sniff_delimiter

    text = first_line.decode("utf-8", "replace")
    delimiter = sniff_delimiter(first_line)
    try:
        cells = next(csv.reader([text], delimiter=delimiter), [])
    except csv.Error:  # a header cell spanning lines: no vendor writes one
        return []
    return [cell.strip() for cell in cells]


def row_reader(fmt: Format, chunks: Iterable[bytes], source: FeedSource) -> RowReader:
    """The row reader of ``fmt`` over ``chunks`` (JSON Lines has none: it is read in blocks)."""
    spec = _SPECS[fmt]
    if not spec.reader:
        raise ValueError(f"{fmt} feeds are not read row by row")
    module, _, function = spec.reader.partition(":")
    factory: ReaderFactory = getattr(importlib.import_module(module), function)
    return factory(chunks, dataclasses.replace(source, format=fmt))
