"""WooCommerce product export (Products > Export, CSV) -> one product record per variant.

A ``simple`` (or ``external``) row is one record. A ``variable`` row is a parent: not a record
itself, it lends its name, images, categories, brand and tags to its ``variation`` rows, whose
``Parent`` names it by SKU or as ``id:N``. ``grouped`` rows only list other products (each has
its own row) and are not records.

| field                | from                                                             |
|----------------------|------------------------------------------------------------------|
| product_identifier   | SKU, else ``id:ID``; a variation's: its parent's                  |
| variant_identifier   | SKU, else (variations) the parent's identifier with the          |
|                      | attribute values, ``parent/Red / M``; with no value, ``parent/id:ID``|
| title                | Name (a variation's: its parent's)                               |
| images               | Images split on ", " (a variation's own first, then its parent's)|
| designer             | Brands, else the attribute named Brand                           |
| categories           | Categories: "A > B, C" -> "A", "A: B", "C"                       |
| color / sizes        | the attributes named Color/Colour and Size                       |
| price / sale_price   | Regular price / Sale price                                       |
| tags                 | Tags                                                             |

Rows whose Published is ``0`` (private) or ``-1`` (draft), or whose Visibility in catalog is
``hidden``, are left out and counted in ``left_out`` unless ``include_inactive`` (a variable
parent's variations go with it).

A row with neither a SKU nor an ID is an error: nothing would tell its product from another.
A variation whose parent is a simple product is an error naming both lines: variations need a
variable parent.

Memory: the fields every variable parent lends are kept until the end (a variation may come
long after its parent: the export is ordered by ID): the latest parents' in memory, older
ones' in a temporary file (``spilled.py``), so memory stays bounded; of a simple product, 16
bytes a reference (a hash and a line), to name it as the parent a variation gives.
A variation whose parent has not come yet is an error; to name the parent's line when it does
come, up to ``MAX_WAITING`` such rows are held; past that they are reported at once.

Read in parts (``validate/shop_ranges.py``): any row may start a part, as every row is read
alone but for what the reader remembers (above). A part's reader (``part=True``) starts with
nothing remembered: it settles the variations whose parent came earlier in the part, and
leaves the others pending, with its parents (encoded) and simple products' references, in a
``WooPart``; ``WooJoin`` settles them in order with what the parts before kept, as one reader
would. A part with a product that a variation before it waits for is not joined (``join``
says None): where that variation's error goes is then the one reader's to say.
"""

from __future__ import annotations

import dataclasses
import itertools
from array import array
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from psykhe_cli.errors import InputError
from psykhe_cli.feeds.delimited import Cells, CsvTable, Row
from psykhe_cli.feeds.exports import identifier_missing, is_absolute_url, put, read_header
from psykhe_cli.feeds.sources import FeedSource
from psykhe_cli.feeds.spilled import RECENT, SpilledMap
from psykhe_cli.feeds.woo_rows import (
    Parent,
    WooCells,
    not_variable,
    priced,
    variation_record,
)
from psykhe_cli.feeds.woo_rows import split_list as split_list

#: variations waiting for a parent that has not come, held to name its line when it does
MAX_WAITING = 10_000
#: the columns a header must have: a product's type, and what identifies it (either will do)
_REQUIRED = [("Type",), ("SKU", "ID")]


def reader(chunks: Iterable[bytes], source: FeedSource) -> WooCommerceReader:
    """The reader of ``source`` (its delimiter, ``include_inactive``) over its chunks."""
    return WooCommerceReader(
        chunks,
        source.name,
        delimiter=source.delimiter,
        include_inactive=source.include_inactive,
    )


class WooPart(NamedTuple):
    """What a part's reader leaves to the join (lines numbered as the part's reader numbers
    them)."""

    #: the variations whose parent did not come earlier in the part, in order
    pending: list[Cells]
    #: each variable parent's references, line and fields (``Parent.encode``), in order
    parents: list[tuple[list[str], int, bytes]]
    #: each simple product's references and line, in order
    simples: list[tuple[str, int]]


class WooCommerceReader:
    """The variant records of one WooCommerce product export; raises ``InputError`` for an
    unusable header (one without ``Type``). ``part``: the reader of a part (``WooPart``)."""

    def __init__(
        self,
        chunks: Iterable[bytes],
        name: str,
        *,
        delimiter: str | None = None,
        include_inactive: bool = False,
        parents_in_memory: int = RECENT,
        part: bool = False,
    ) -> None:
        self._table = CsvTable(chunks, name, delimiter=delimiter)
        self._include_inactive = include_inactive
        self._parents_in_memory = parents_in_memory
        self._catalog: _Catalog | None = None
        #: what a part's reader leaves to the join, filled as it reads
        self.part: WooPart | None = WooPart([], [], []) if part else None

    @property
    def lines_read(self) -> int:
        """Physical lines read so far, the header not counted."""
        return self._table.lines_read

    @property
    def left_out(self) -> int:
        """Products (and variations of kept products) left out as not published."""
        return self._catalog.left_out if self._catalog is not None else 0

    def __iter__(self) -> Iterator[Row]:
        columns = read_header(self._table, _REQUIRED, "woocommerce")
        if columns is None:
            return
        catalog = _Catalog(
            WooCells(columns), self._include_inactive, self._parents_in_memory, self.part
        )
        self._catalog = catalog
        try:
            for data in self._table:
                yield from catalog.read(data)
            yield from catalog.rest()
        finally:
            catalog.parents.close()


class WooJoin:
    """The parts of one export, each read alone (``WooPart``), joined in order: their pending
    variations settled with the parents of the parts before, as one reader settles them."""

    def __init__(self, header: bytes, name: str, *, delimiter: str, include_inactive: bool):
        """Raises ``InputError`` for an unusable header (``header``: its line)."""
        table = CsvTable([header], name, delimiter=delimiter)
        columns = read_header(table, _REQUIRED, "woocommerce")
        if columns is None:
            raise InputError(f"{name}: the export has no header")
        self._catalog = _Catalog(WooCells(columns), include_inactive, RECENT, None)

    @property
    def left_out(self) -> int:
        """The pending variations left out (not published)."""
        return self._catalog.left_out

    def join(self, part: WooPart, offset: int) -> list[Row] | None:
        """The rows of ``part``'s pending variations, lines ``offset`` on from the part's;
        None when a product of ``part`` is one a variation waits for (the join is then of
        no further use)."""
        catalog = self._catalog
        rows: list[Row] = []
        for data in part.pending:
            rows.extend(catalog.variation(dataclasses.replace(data, line=data.line + offset)))
        if catalog.waiting and catalog.takes(part, offset):
            return None
        catalog.add(part, offset)
        return rows

    def rest(self) -> Iterator[Row]:
        """The variations still waiting once every part is joined: errors, as one reader's."""
        return self._catalog.rest()

    def close(self) -> None:
        """Forget the parents kept (on disk too)."""
        self._catalog.parents.close()


class _Catalog:
    """What a reader remembers across rows: every variable parent (in bounded memory), the
    variations waiting for theirs, each simple product's references, what it left out."""

    def __init__(
        self, cells: WooCells, include_inactive: bool, recent: int, part: WooPart | None
    ) -> None:
        self.cells = cells
        self._include_inactive = include_inactive
        self._part = part
        self.left_out = 0
        self.parents: SpilledMap[Parent] = SpilledMap(Parent.encode, Parent.decode, recent=recent)
        #: parent reference -> variations that came before it
        self.waiting: dict[str, list[Cells]] = {}
        self._waiting_count = 0
        #: each simple product's references, as (hash, line) pairs: named as a parent, it
        #: is told apart from one missing (a rare error, so a scan finds it)
        self._simples = array("q")

    def read(self, data: Cells) -> Iterator[Row]:
        """The rows one data row makes (none, or a variation held, or waiting ones it ends)."""
        if data.error is not None:
            yield data.row()
            return
        cells = self.cells
        types = {kind.strip().lower() for kind in cells.type(data.cells).split(",")}
        if "variation" in types:
            yield from self.variation(data)
        elif "variable" in types:
            yield from self._parent(data)
        elif "grouped" not in types:
            yield from self._simple(data)

    def rest(self) -> Iterator[Row]:
        """The variations still waiting, once every row is read."""
        simple_at = self._simple_lines(set(self.waiting))
        for ref, rows in self.waiting.items():
            for data in rows:
                if ref in simple_at:
                    yield not_variable(data, ref, simple_at[ref])
                    continue
                yield data.failed(
                    "missing_parent",
                    f"variation's parent {ref!r} is not in the feed "
                    f"(line {data.line} names it; no row up to the end has that SKU or ID)",
                )

    def takes(self, part: WooPart, offset: int) -> bool:
        """A product of ``part`` would end the wait of a variation before it."""
        waiting = self.waiting
        parents = ((ref, line) for refs, line, _ in part.parents for ref in refs)
        return any(
            ref in waiting and waiting[ref][0].line < line + offset
            for ref, line in itertools.chain(parents, part.simples)
        )

    def add(self, part: WooPart, offset: int) -> None:
        """Remember ``part``'s parents and simple products, as reading its rows would."""
        parents = self.parents
        for refs, _, blob in part.parents:
            parents.set_encoded(refs, blob)
        simples = self._simples
        for ref, line in part.simples:
            simples.extend((hash(ref), line + offset))

    def _simple_lines(self, refs: set[str]) -> dict[str, int]:
        """The line of each of ``refs`` that a simple product had."""
        if not refs:
            return {}
        by_hash = {hash(ref): ref for ref in refs}
        found: dict[str, int] = {}
        simples = self._simples
        for index in range(0, len(simples), 2):
            ref = by_hash.get(simples[index])
            if ref is not None:
                found.setdefault(ref, simples[index + 1])
        return found

    def _kept(self, row: list[str]) -> bool:
        if self._include_inactive or self.cells.published(row):
            return True
        self.left_out += 1
        return False

    def _simple(self, data: Cells) -> Iterator[Row]:
        cells = self.cells
        product = cells.product(data.cells)
        for ref in product.refs:
            if self._part is not None:
                self._part.simples.append((ref, data.line))
            else:
                self._simples.extend((hash(ref), data.line))
            for early in self.waiting.pop(ref, []):
                self._waiting_count -= 1
                yield not_variable(early, ref, data.line)
        if not self._kept(data.cells):
            return
        if not product.identifier:
            yield identifier_missing(data)
            return
        record: dict[str, Any] = {"product_identifier": product.identifier}
        record["variant_identifier"] = product.identifier
        record.update(product.fields)
        put(record, "images", product.images)
        attributes = cells.attributes(data.cells)
        put(record, "sizes", attributes.sizes)
        put(record, "color", ", ".join(attributes.colors))
        yield priced(data, record, cells)

    def _parent(self, data: Cells) -> Iterator[Row]:
        cells = self.cells
        parent = cells.product(data.cells)
        parent.kept = self._kept(data.cells)
        if parent.kept and not parent.identifier:
            yield identifier_missing(data)
        elif parent.kept and not all(map(is_absolute_url, parent.images)):
            # an error of the row it is written on, not of each variation it is lent to
            bad = next(url for url in parent.images if not is_absolute_url(url))
            parent.images = [url for url in parent.images if is_absolute_url(url)]
            yield data.failed(
                "invalid_images",
                f"images must be a list of absolute http(s) URL strings, got {bad!r} "
                "(column 'Images', lent to the product's variations)",
            )
        parent.sizes = cells.attributes(data.cells).sizes
        if self._part is not None and parent.refs:
            self._part.parents.append((parent.refs, data.line, parent.encode()))
        for ref in parent.refs:
            self.parents[ref] = parent
            for early in self.waiting.pop(ref, []):
                self._waiting_count -= 1
                yield early.failed(
                    "variation_before_parent",
                    f"variation comes before its parent {ref!r} (line {data.line}); "
                    "a WooCommerce export writes a parent before its variations",
                )

    def variation(self, data: Cells) -> Iterator[Row]:
        """The row of a variation: its record, an error, held to wait, or left out."""
        cells = self.cells
        ref = cells.parent(data.cells)
        parent = self.parents.get(ref)
        if parent is None:
            if not ref:
                yield data.failed("missing_parent", "variation has no Parent")
            elif self._part is not None:
                self._part.pending.append(data)  # its parent may be in a part before
            elif self._waiting_count >= MAX_WAITING:
                yield data.failed(
                    "variation_before_parent",
                    f"variation's parent {ref!r} has not come before it "
                    f"(more than {MAX_WAITING} variations are waiting for theirs)",
                )
            else:
                self.waiting.setdefault(ref, []).append(data)
                self._waiting_count += 1
            return
        if not parent.kept or not self._kept(data.cells):
            return
        record = variation_record(data, parent, cells)
        if record is None:
            yield data.failed(
                "variation_without_identifier",
                "the variation has no SKU, no ID and no attribute value: nothing tells it "
                "from its parent's other variations",
            )
            return
        yield priced(data, record, cells)
