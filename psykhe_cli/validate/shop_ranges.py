"""Shop exports read in parts by the workers, as a big plain JSON Lines file is read.

A Merchant Center XML file is cut at item starts (``feeds.xml_split``), a Shopify export at
the first row of a handle, a delimited Merchant Center feed and a WooCommerce export at any
row (``feeds.csv_split``): each says why a part read on its own reads
as the whole file reads it, and what proves it. Each worker reads and checks the records
that start in its byte range; this process renumbers their lines and merges the results in
order, a Shopify part once the next one is known to start a new handle, a WooCommerce part
with the variations whose parent was in a part before settled here (``woo_parts``). A part
not proved (an element between items, a cut inside a comment or a quoted cell, malformed
input), or a WooCommerce part with a product that a variation before it waits for, is not
trusted: from it on, the file is read as before, in this process, from its first byte, the
rows already checked skipped, so that what is found, and any error that ends the run, is
exactly what the one-process reader finds.
"""

from __future__ import annotations

import gc
import itertools
import os
from collections import deque
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, NamedTuple

from psykhe_cli.errors import InputError
from psykhe_cli.feeds import STDIN, OpenFeed, csv_split, xml_split
from psykhe_cli.feeds.delimited import Row
from psykhe_cli.feeds.formats import RowReader, left_out, row_reader
from psykhe_cli.feeds.ranges import feed_changed
from psykhe_cli.feeds.shopify import ShopifyReader
from psykhe_cli.feeds.woocommerce import WooCommerceReader, WooJoin, WooPart
from psykhe_cli.validate import woo_parts
from psykhe_cli.validate.blocks import BlockParams, BlockResult, rebase
from psykhe_cli.validate.fast import Decoders
from psykhe_cli.validate.merge import Merger
from psykhe_cli.validate.report import ValidationOptions
from psykhe_cli.validate.rows import ALL, check_rows
from psykhe_cli.validate.workers import Workers


class PartResult(NamedTuple):
    """A worker's answer: the part's result (lines numbered from its first) and where it was."""

    result: BlockResult
    #: file offset and length of the part; rows read in it
    start: int
    length: int
    rows: int = 0
    #: why the part is not trusted (then nothing of it counts), None when it is
    unusual: str | None = None
    #: the path named another file than the one opened: nothing was read
    changed: bool = False
    #: products left out as not active
    left_out: int = 0
    #: Shopify: the handle of the first row (None: it has an error) and of the last rows
    first_handle: str | None = None
    last_handle: str | None = None
    #: WooCommerce: what the part's reader left to the join
    woo: WooPart | None = None


def check_xml_part(
    path: str,
    start: int,
    end: int,
    xml: xml_split.XmlPlan,
    params: BlockParams,
    same: tuple[int, int] | None = None,
    decoders: Decoders | None = None,
    numpy: Any = None,
) -> PartResult:
    """Read and check the items of the XML file ``path`` that start in ``[start, end)``
    (``decoders``, ``numpy``: what every worker task is given; unused)."""
    part = xml_split.read_part(path, start, end, xml, same)
    if part.changed or part.too_long or not part.data:
        return _nothing(part.start, part.changed, part.too_long)
    reader = xml_split.part_reader(part, xml, path)
    checked, _ = _checked(reader, params, part.start, part.data)
    if checked.unusual is not None or reader.unusual is not None:
        return PartResult(BlockResult(), part.start, 0, unusual=checked.unusual or reader.unusual)
    checked.result.lines = reader.lines_read if part.last else xml_split.line_breaks(part.data)
    return checked


def check_csv_part(
    path: str,
    start: int,
    end: int,
    shop: csv_split.CsvPlan,
    params: BlockParams,
    same: tuple[int, int] | None = None,
    decoders: Decoders | None = None,
    numpy: Any = None,
) -> PartResult:
    """Read and check the handles of the Shopify export (or the rows of the delimited
    Merchant Center feed) ``path`` that start in ``[start, end)`` (``decoders``, ``numpy``:
    unused)."""
    part = csv_split.read_part(path, start, end, shop, same)
    if part.changed or part.too_long or not part.data:
        return _nothing(part.start, part.changed, part.too_long)
    reader = csv_split.part_reader(part, shop, path)
    checked, last = _checked(reader, params, part.start, part.data)
    if checked.unusual is not None:
        return checked
    if not part.last and last is not None and last.error is not None and _RUNS_ON in last.error[1]:
        return PartResult(BlockResult(), part.start, 0, unusual="a quoted cell runs on")
    checked.result.lines = reader.lines_read if part.last else part.data.count(b"\n")
    if isinstance(reader, WooCommerceReader):
        return checked._replace(left_out=reader.left_out, woo=reader.part)
    if not isinstance(reader, ShopifyReader):
        return checked
    return checked._replace(
        left_out=reader.left_out,
        first_handle=reader.first_handle,
        last_handle=reader.last_handle,
    )


def _nothing(start: int, changed: bool, too_long: bool) -> PartResult:
    unusual = "a record over the line cap" if too_long else None
    return PartResult(BlockResult(), start, 0, unusual=unusual, changed=changed)


def _checked(
    reader: RowReader, params: BlockParams, start: int, data: bytes
) -> tuple[PartResult, Row | None]:
    """The part's rows checked, and its last row."""
    rows = _Last(reader)
    collecting = gc.isenabled()
    gc.disable()  # a part's records are acyclic and freed with it (as in check_block)
    try:
        (result,) = check_rows(rows, params, ALL)
    except InputError as exc:
        return PartResult(BlockResult(), start, 0, unusual=str(exc)), None
    finally:
        if collecting:
            gc.enable()
    rows_read = result.variants + result.rejected_lines
    return PartResult(result, start, len(data), rows_read), rows.last


#: ``csv``'s error (strict) when the data ends inside a quoted cell
_RUNS_ON = "unexpected end of data"


class _Last:
    """A row reader that remembers its last row."""

    def __init__(self, reader: RowReader) -> None:
        self._reader = reader
        self.last: Row | None = None

    @property
    def lines_read(self) -> int:
        """The reader's: source lines read so far."""
        return self._reader.lines_read

    def __iter__(self) -> Iterator[Row]:
        for row in self._reader:
            self.last = row
            yield row


class Parts(NamedTuple):
    """How a feed is cut for the workers: the task that checks a range, and its arguments."""

    check: Callable[..., PartResult]
    #: the arguments after the range's offsets
    args: tuple[Any, ...]
    #: where the first part starts; the lines before it (counted as the reader counts them)
    first: int
    lines_before: int
    size: int
    #: each part must start a new handle (Shopify)
    by_handle: bool
    #: WooCommerce: the variations of each part settled with the parts before
    join: WooJoin | None = None


def shop_parts(feed: OpenFeed, workers: Workers, options: ValidationOptions) -> Parts | None:
    """How to cut ``feed`` for the workers (started here), or None: read it in this process.

    Only a big plain Merchant Center feed or shop export is cut, when workers run."""
    identity = feed.identity
    source = feed.source
    if (
        feed.format not in ("gmc", "shopify", "woocommerce")
        or source.path == STDIN
        or feed.bytes_source.compressed
        or identity is None
        or source.column_map  # refused for XML, not read by shop exports: the reader says so
        or identity.size < options.parallel_after
        or not workers.count
    ):
        return None
    path, same = os.path.abspath(source.path), (identity.device, identity.inode)
    parts: Parts | None = None
    xml = xml_split.plan(path, same) if feed.format == "gmc" else None
    if xml is not None:
        breaks = xml_split.line_breaks(xml.prologue)
        parts = Parts(check_xml_part, (xml,), len(xml.prologue), breaks, xml.size, False)
    else:
        parts = _csv_parts(path, same, feed)
    if parts is None or not workers.start(identity.size, ranges=True):
        if parts is not None and parts.join is not None:
            parts.join.close()
        return None
    return parts


def _csv_parts(path: str, same: tuple[int, int], feed: OpenFeed) -> Parts | None:
    source = feed.source
    shopify, woo = feed.format == "shopify", feed.format == "woocommerce"
    include = source.include_inactive
    shop = csv_split.plan(
        path, source.delimiter, same, by_handle=shopify, include_inactive=include, woocommerce=woo
    )
    if shop is None:
        return None
    join = None
    if woo:
        try:
            join = WooJoin(
                shop.header, source.name, delimiter=shop.delimiter, include_inactive=include
            )
        except InputError:  # the reader says why
            return None
    return Parts(check_csv_part, (shop,), len(shop.header), 0, shop.size, shopify, join)


def check_parts(
    feed: OpenFeed,
    parts: Parts,
    merger: Merger,
    workers: Workers,
    on_progress: Callable[[int, int], None],
) -> Iterator[None]:
    """Check ``feed`` a part per worker task, merged in order; yields after each step so the
    caller can pass on what was found."""
    try:
        yield from _check_parts(feed, parts, merger, workers, on_progress)
    finally:
        if parts.join is not None:
            parts.join.close()


def _check_parts(
    feed: OpenFeed,
    parts: Parts,
    merger: Merger,
    workers: Workers,
    on_progress: Callable[[int, int], None],
) -> Iterator[None]:
    name, path = feed.source.name, os.path.abspath(feed.source.path)
    assert feed.identity is not None
    same = (feed.identity.device, feed.identity.inode)
    lines, rows, left = parts.lines_before, 0, 0  # of this file, merged so far
    merger.merge(name, BlockResult(lines=lines), 0, None)
    inflight: deque[Any] = deque()
    #: a Shopify part and its range, until the next one starts a handle
    held: tuple[PartResult, tuple[int, int]] | None = None

    def merge(part: PartResult, submitted: tuple[int, int], rebased: bool = False) -> None:
        nonlocal lines, rows, left
        if not rebased:
            rebase(part.result, lines)
        again = None
        if part.result.encoded is not None or part.result.kept is not None:  # sifted there
            again = partial(_records_again, parts, path, *submitted, merger.params, same)
        merger.merge(name, part.result, 0, None, records_again=again)
        lines, rows, left = lines + part.result.lines, rows + part.rows, left + part.left_out
        on_progress(merger.report.lines, part.start + part.length)

    def take_next() -> bool:
        """Merge what the next part proves; False when it is not trusted."""
        nonlocal held
        pending, submitted = inflight.popleft()
        part: PartResult = pending.result()
        if part.changed:
            raise feed_changed(name)
        if part.unusual is not None:
            return False
        if not part.length:
            return True  # no record starts in the range
        if parts.join is not None:
            assert part.woo is not None
            joined = woo_parts.join_part(parts.join, part.woo, part.result, lines, merger.params)
            if joined is None:
                return False
            merged = part._replace(result=joined[0], rows=part.rows + joined[1])
            merge(merged, submitted, rebased=True)
            return True
        if not parts.by_handle:
            merge(part, submitted)
            return True
        if held is not None:
            if part.first_handle is None or part.first_handle == held[0].last_handle:
                return False  # the held part's last product may go on here
            merge(*held)
        held = part, submitted
        return True

    trusted = True
    step = merger.options.block_size
    for offset in range(parts.first, parts.size, step):
        end = min(offset + step, parts.size)
        # the encoder of each part, asked in order: its records are encoded where it is read
        # (but a WooCommerce part's, which the variations settled here are woven into)
        params = merger.params if parts.join is not None else merger.next_params()
        args = (*parts.args, params, same)
        inflight.append((workers.submit(parts.check, path, offset, end, *args), (offset, end)))
        yield
        while trusted and len(inflight) > 4 * workers.count:
            trusted = take_next()
            yield
        if not trusted:
            break
    while trusted and inflight:
        trusted = take_next()
        yield
    if trusted:
        if held is not None:
            merge(*held)
        if parts.join is not None:  # the variations still waiting: one reader's last rows
            for result in woo_parts.rest(parts.join, merger.params):
                merger.merge(name, result, 0, None)
            left += parts.join.left_out
        merger.report.left_out += left
        return
    for pending, _ in inflight:  # a worker's results are taken in order
        pending.result()
    reader = row_reader(feed.format, feed.chunks, feed.source)
    for result in check_rows(_After(reader, rows), merger.params, lines_before=lines):
        merger.merge(name, result, 0, None)
        on_progress(merger.report.lines, feed.bytes_read)
        yield
    merger.report.left_out += left_out(reader)


def _records_again(
    parts: Parts, path: str, start: int, end: int, params: BlockParams, same: tuple[int, int]
) -> list[bytes]:
    """The records of every row a part accepted, read again here: a part's were encoded
    where it was read, and duplicates found on merging must leave one out (rare)."""
    return parts.check(path, start, end, *parts.args, params, same).result.records


class _After:
    """A row reader's rows after its first ``count``."""

    def __init__(self, reader: RowReader, count: int) -> None:
        self._reader, self._count = reader, count

    @property
    def lines_read(self) -> int:
        """The reader's: source lines read so far."""
        return self._reader.lines_read

    def __iter__(self) -> Iterator[Row]:
        return itertools.islice(iter(self._reader), self._count, None)
