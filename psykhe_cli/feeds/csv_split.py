"""A Shopify products export cut into parts at the first row of a handle, a delimited
Merchant Center feed or a WooCommerce export at any row (each part read by a worker).

A part starts on a line that begins a row (outside quotes) and a new handle, so that each
part holds whole products: a product's rows are together in an export. Whether a line
begins a row cannot be told from the line alone (a quoted cell, Body (HTML) most often,
spans lines), so a boundary is a guess, and the guess is proved afterwards:

- a *candidate* is a line whose first cell is an unquoted, non-empty handle, after a line
  that parses on its own as a whole row of the header's width with another handle: a line
  inside a quoted cell is rarely that;
- a part is parsed from its first byte as the start of a row; it *ends cleanly* when its
  last row ends at its last byte (``csv`` in strict mode refuses a quoted cell the data
  ends in). The first part starts right after the header, where a row starts; a part that
  starts where a row starts and ends cleanly is parsed as the whole file parses it, so the
  next part starts where a row starts too: by induction, the parts are the file's rows;
- Shopify: the caller checks that each part's first row is a handle's first row: a row
  without an error whose handle is not the previous part's last. A Merchant Center feed's
  rows are items each, read alone: any row starts a part (no handle asked of a candidate).
  Nor are a WooCommerce export's: each row is one product or variation, read alone but for
  what the reader remembers of the rows before (``woocommerce.py``: ``WooPart``, ``WooJoin``).

A part that fails either proof is not trusted, and the file is read whole from there on.
Parts are numbered from their first line (``\\n``-separated lines, as ``CsvTable`` counts).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from typing import NamedTuple

from psykhe_cli.feeds.blocks import LINE_CAP, utf16_xml
from psykhe_cli.feeds.delimited import CsvTable, sniff_delimiter
from psykhe_cli.feeds.gmc import DelimitedReader
from psykhe_cli.feeds.ranges import FilePart
from psykhe_cli.feeds.shopify import ShopifyReader
from psykhe_cli.feeds.woocommerce import WooCommerceReader

#: bytes read past a range's end while looking for the next boundary
_LOOK = 1 << 16
#: the longest line before a boundary: longer ones are read on, not cut after
_BACK = 1 << 16


class CsvPlan(NamedTuple):
    """How a Shopify export is cut into parts (``plan``)."""

    #: the header line, its newline included
    header: bytes
    delimiter: str
    #: cells in the header
    width: int
    #: the file's size when planned
    size: int
    #: a Shopify export, cut where a handle starts; else a Merchant Center feed, whose rows
    #: are items each, cut at any row
    by_handle: bool = True
    #: the reader's options: Shopify's and WooCommerce's ``include_inactive``
    include_inactive: bool = False
    #: a WooCommerce export (``by_handle`` False): its parts read by a part's reader
    woocommerce: bool = False


def plan(
    path: str,
    delimiter: str | None,
    same: tuple[int, int] | None = None,
    *,
    by_handle: bool = True,
    include_inactive: bool = False,
    woocommerce: bool = False,
) -> CsvPlan | None:
    """How to cut the Shopify export (``by_handle``) or delimited Merchant Center feed
    ``path``; None when it is read whole instead: a header that is not one line (with
    ``Handle`` first, for Shopify), or XML (the reader then says what it says)."""
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        if same is not None and (info.st_dev, info.st_ino) != same:
            return None
        head = handle.read(1 << 20)
    newline = head.find(b"\n")
    if newline < 0 or head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") or utf16_xml(head):
        return None
    table = CsvTable([head[: newline + 1]], path, delimiter=delimiter)
    try:
        cells = table.header()
    except Exception:  # an unusable header: the reader says why
        return None
    if not cells or table.header_lines != 1:
        return None
    if by_handle and cells[0].lower() != "handle":
        return None
    chosen = delimiter or sniff_delimiter(head[:newline])
    header = head[: newline + 1]
    width, size = len(cells), info.st_size
    return CsvPlan(header, chosen, width, size, by_handle, include_inactive, woocommerce)


def read_part(
    path: str, start: int, end: int, plan: CsvPlan, same: tuple[int, int] | None = None
) -> FilePart:
    """The bytes from the first boundary at or after ``start`` (the header's end is one) to
    the first at or after ``end`` (or the end of the file).

    Whether a line start is a boundary depends on it and the line before it (at most
    ``_BACK`` long), so the bytes before ``start`` are read too: every worker then finds the
    same boundaries, whichever range it reads."""
    header = len(plan.header)
    origin = max(header, start - _BACK - 1)
    with open(path, "rb") as handle:
        if same is not None:
            info = os.fstat(handle.fileno())
            if (info.st_dev, info.st_ino) != same:
                return FilePart(b"", start, changed=True)
        handle.seek(origin)
        data = handle.read(end - origin + _LOOK)
        at_end = len(data) < end - origin + _LOOK
        found = [start - origin if start == header else -1, -1]
        for which, position in enumerate((start, end)):
            while found[which] < 0:
                found[which] = _boundary(data, position - origin, origin == header, plan, at_end)
                if found[which] >= 0 or at_end:
                    break
                if len(data) > LINE_CAP + end - origin:
                    return FilePart(b"", start, too_long=True)
                more = handle.read(_LOOK)
                at_end = not more
                data += more
            if which == 0 and not start <= origin + found[0] < end:
                return FilePart(b"", end)  # no boundary in the range
        first, stop = found
        if stop < 0:
            return FilePart(data[first:], origin + first, last=True)
        return FilePart(data[first:stop], origin + first)


def _boundary(data: bytes, position: int, from_a_row: bool, plan: CsvPlan, at_end: bool) -> int:
    """The first boundary at or after ``position`` in ``data`` (which starts at a row when
    ``from_a_row``), -1 when ``data`` does not hold one (yet)."""
    line = data.find(b"\n", max(position - 1, 0)) + 1
    while line:
        following = data.find(b"\n", line)
        if following < 0 and not at_end:
            return -1  # the line may not be whole yet
        previous = data.rfind(b"\n", 0, line - 1) + 1
        if (previous or from_a_row) and line - previous <= _BACK:
            first, found, _ = data[line : len(data) if following < 0 else following].partition(
                plan.delimiter.encode()
            )
            handle = first.strip() if plan.by_handle else None
            simple = not plan.by_handle or (found and handle and b'"' not in first)
            if simple and _other_row(data[previous : line - 1], handle, plan):
                return line
        line = following + 1
    return -1


def _other_row(line: bytes, handle: bytes | None, plan: CsvPlan) -> bool:
    """``line`` parses alone as a row of the header's width (whose handle is not ``handle``)."""
    try:
        cells = next(csv.reader([line.decode()], delimiter=plan.delimiter, strict=True))
    except (csv.Error, UnicodeDecodeError, StopIteration):
        return False
    return len(cells) == plan.width and cells[0].strip().encode() != handle


def part_reader(
    part: FilePart, plan: CsvPlan, name: str
) -> ShopifyReader | DelimitedReader | WooCommerceReader:
    """The records of ``part``'s rows, read under the header (lines numbered as the header
    and the part alone number them)."""
    chunks: Iterable[bytes] = [plan.header, part.data]
    if plan.woocommerce:
        return WooCommerceReader(
            chunks,
            name,
            delimiter=plan.delimiter,
            include_inactive=plan.include_inactive,
            part=True,
        )
    if not plan.by_handle:
        return DelimitedReader(chunks, name, plan.delimiter, {})
    return ShopifyReader(
        chunks, name, delimiter=plan.delimiter, include_inactive=plan.include_inactive
    )
