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
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from psykhe_cli.feeds.delimited import Cells, CsvTable, Row
from psykhe_cli.feeds.exports import (
    COLOR_NAMES,
    SIZE_NAMES,
    VALUE_JOIN,
    Cell,
    Columns,
    category_paths,
    decoded,
    identifier_missing,
    is_absolute_url,
    number,
    put,
    read_header,
    unique,
)
from psykhe_cli.feeds.sources import FeedSource
from psykhe_cli.feeds.spilled import RECENT, SpilledMap

#: variations waiting for a parent that has not come, held to name its line when it does
MAX_WAITING = 10_000
#: WooCommerce joins list cells with ", " and escapes a comma inside a value as "\,"
_LIST_SPLIT = re.compile(r"(?<!\\),")
_IMAGE_SEPARATOR = ", "
_UNPUBLISHED = frozenset({"0", "-1"})
#: the columns a header must have: a product's type, and what identifies it (either will do)
_REQUIRED = [("Type",), ("SKU", "ID")]


def split_list(cell: str) -> list[str]:
    """A WooCommerce list cell (``"A, B\\, C"``) -> its values (``["A", "B, C"]``)."""
    return unique(part.replace("\\,", ",").strip() for part in _LIST_SPLIT.split(cell))


def reader(chunks: Iterable[bytes], source: FeedSource) -> WooCommerceReader:
    """The reader of ``source`` (its delimiter, ``include_inactive``) over its chunks."""
    return WooCommerceReader(
        chunks,
        source.name,
        delimiter=source.delimiter,
        include_inactive=source.include_inactive,
    )


class WooCommerceReader:
    """The variant records of one WooCommerce product export; raises ``InputError`` for an
    unusable header (one without ``Type``)."""

    def __init__(
        self,
        chunks: Iterable[bytes],
        name: str,
        *,
        delimiter: str | None = None,
        include_inactive: bool = False,
        parents_in_memory: int = RECENT,
    ) -> None:
        self._table = CsvTable(chunks, name, delimiter=delimiter)
        self._include_inactive = include_inactive
        #: products (and variations of kept products) left out because they are not published
        self.left_out = 0
        self._parents: SpilledMap[_Parent] = SpilledMap(
            _Parent.encode, _Parent.decode, recent=parents_in_memory
        )
        #: parent reference -> variations that came before it
        self._waiting: dict[str, list[Cells]] = {}
        self._waiting_count = 0
        #: each simple product's references, as (hash, line) pairs: named as a parent, it
        #: is told apart from one missing (a rare error, so a scan finds it)
        self._simples = array("q")

    @property
    def lines_read(self) -> int:
        """Physical lines read so far, the header not counted."""
        return self._table.lines_read

    def __iter__(self) -> Iterator[Row]:
        try:
            yield from self._rows()
        finally:
            self._parents.close()

    def _rows(self) -> Iterator[Row]:
        columns = read_header(self._table, _REQUIRED, "woocommerce")
        if columns is None:
            return
        cells = _WooCells(columns)
        for data in self._table:
            if data.error is not None:
                yield data.row()
                continue
            types = {kind.strip().lower() for kind in cells.type(data.cells).split(",")}
            if "variation" in types:
                yield from self._variation(data, cells)
            elif "variable" in types:
                yield from self._parent(data, cells)
            elif "grouped" not in types:
                yield from self._simple(data, cells)
        simple_at = self._simple_lines(set(self._waiting))
        for ref, rows in self._waiting.items():
            for data in rows:
                if ref in simple_at:
                    yield _not_variable(data, ref, simple_at[ref])
                    continue
                yield data.failed(
                    "missing_parent",
                    f"variation's parent {ref!r} is not in the feed "
                    f"(line {data.line} names it; no row up to the end has that SKU or ID)",
                )

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

    def _kept(self, cells: _WooCells, row: list[str]) -> bool:
        if self._include_inactive or cells.published(row):
            return True
        self.left_out += 1
        return False

    def _simple(self, data: Cells, cells: _WooCells) -> Iterator[Row]:
        product = cells.product(data.cells)
        for ref in product.refs:
            self._simples.extend((hash(ref), data.line))
            for early in self._waiting.pop(ref, []):
                self._waiting_count -= 1
                yield _not_variable(early, ref, data.line)
        if not self._kept(cells, data.cells):
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
        yield _priced(data, record, cells)

    def _parent(self, data: Cells, cells: _WooCells) -> Iterator[Row]:
        parent = cells.product(data.cells)
        parent.kept = self._kept(cells, data.cells)
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
        for ref in parent.refs:
            self._parents[ref] = parent
            for early in self._waiting.pop(ref, []):
                self._waiting_count -= 1
                yield early.failed(
                    "variation_before_parent",
                    f"variation comes before its parent {ref!r} (line {data.line}); "
                    "a WooCommerce export writes a parent before its variations",
                )

    def _variation(self, data: Cells, cells: _WooCells) -> Iterator[Row]:
        ref = cells.parent(data.cells)
        parent = self._parents.get(ref)
        if parent is None:
            if not ref:
                yield data.failed("missing_parent", "variation has no Parent")
            elif self._waiting_count >= MAX_WAITING:
                yield data.failed(
                    "variation_before_parent",
                    f"variation's parent {ref!r} has not come before it "
                    f"(more than {MAX_WAITING} variations are waiting for theirs)",
                )
            else:
                self._waiting.setdefault(ref, []).append(data)
                self._waiting_count += 1
            return
        if not parent.kept or not self._kept(cells, data.cells):
            return
        record = _variation_record(data, parent, cells)
        if record is None:
            yield data.failed(
                "variation_without_identifier",
                "the variation has no SKU, no ID and no attribute value: nothing tells it "
                "from its parent's other variations",
            )
            return
        yield _priced(data, record, cells)


def _variation_record(data: Cells, parent: _Parent, cells: _WooCells) -> dict[str, Any] | None:
    """The variation's record; None when nothing identifies it."""
    attributes = cells.attributes(data.cells)
    sku, number_id = cells.sku(data.cells), cells.id(data.cells)
    if not (sku or number_id or attributes.values):
        return None
    suffix = (attributes.values or [f"id:{number_id}"]) if not sku else []
    record: dict[str, Any] = {"product_identifier": parent.identifier}
    record["variant_identifier"] = sku or f"{parent.identifier}/{VALUE_JOIN.join(suffix)}"
    record.update(parent.fields)
    put(record, "images", unique([*split_images(cells.images(data.cells)), *parent.images]))
    put(record, "sizes", attributes.sizes or parent.sizes)
    put(record, "color", ", ".join(attributes.colors))
    return record


def _not_variable(data: Cells, ref: str, line: int) -> Row:
    return data.failed(
        "parent_not_variable",
        f"the variation's parent {ref!r} (line {line}) is a simple product; variations need "
        "a variable parent",
    )


def _priced(data: Cells, record: dict[str, Any], cells: _WooCells) -> Row:
    try:
        for key, column, text in (
            ("price", "Regular price", cells.price(data.cells)),
            ("sale_price", "Sale price", cells.sale_price(data.cells)),
        ):
            if text:
                record[key] = number(key, column, text)
    except ValueError as exc:
        return data.failed("invalid_price", str(exc))
    return data.row(record)


def split_images(cell: str) -> list[str]:
    """The Images cell: URLs joined with ", " (a URL may hold a bare comma)."""
    return unique(url.strip() for url in cell.split(_IMAGE_SEPARATOR))


@dataclass
class _Parent:
    """What a product row lends its variations (and what a simple row is made of)."""

    identifier: str
    refs: list[str]
    fields: dict[str, Any]
    images: list[str]
    kept: bool = True
    sizes: list[str] = field(default_factory=list)

    def encode(self) -> bytes:
        """This parent as bytes that ``decode`` turns back into an equal one."""
        fields = (self.identifier, self.refs, self.fields, self.images, self.kept, self.sizes)
        return orjson.dumps(fields)

    @staticmethod
    def decode(blob: bytes) -> _Parent:
        """The parent ``encode`` gave ``blob`` for."""
        return _Parent(*orjson.loads(blob))


@dataclass
class _Attributes:
    values: list[str]
    sizes: list[str]
    colors: list[str]
    brand: str


class _WooCells:
    """Where each cell of a WooCommerce row is, by column name."""

    def __init__(self, columns: Columns) -> None:
        self.type = Cell(columns, "Type")
        self.id = Cell(columns, "ID")
        self.sku = Cell(columns, "SKU")
        self._name = Cell(columns, "Name")
        self._published = Cell(columns, "Published")
        self._visibility = Cell(columns, "Visibility in catalog")
        self.price = Cell(columns, "Regular price")
        self.sale_price = Cell(columns, "Sale price")
        self._categories = Cell(columns, "Categories")
        self._tags = Cell(columns, "Tags")
        self.images = Cell(columns, "Images")
        self.parent = Cell(columns, "Parent")
        self._brands = Cell(columns, "Brands")
        numbers = sorted(
            {int(n) for n in (re.sub(r"\D", "", c) for c in columns.names(r"attribute \d+ name"))}
        )
        self._attributes = [
            (Cell(columns, f"Attribute {n} name"), Cell(columns, f"Attribute {n} value(s)"))
            for n in numbers
        ]

    def published(self, cells: list[str]) -> bool:
        """Neither private, nor a draft, nor hidden from the catalog."""
        return (
            self._published(cells) not in _UNPUBLISHED
            and self._visibility(cells).lower() != "hidden"
        )

    def product(self, cells: list[str]) -> _Parent:
        """The product-level fields of a simple or variable row."""
        sku, number_id = self.sku(cells), self.id(cells)
        identifier = sku or (f"id:{number_id}" if number_id else "")
        refs = unique([sku, f"id:{number_id}" if number_id else ""])
        fields: dict[str, Any] = {}
        put(fields, "title", decoded(self._name(cells)))
        brand = decoded(self._brands(cells)) or self.attributes(cells).brand
        put(fields, "designer", brand)
        put(fields, "categories", category_paths(split_list(self._categories(cells))))
        put(fields, "tags", unique(map(decoded, split_list(self._tags(cells)))))
        return _Parent(identifier, refs, fields, split_images(self.images(cells)))

    def attributes(self, cells: list[str]) -> _Attributes:
        """The values of the row's attributes, and those named Size, Color and Brand."""
        found = _Attributes([], [], [], "")
        for name_cell, value_cell in self._attributes:
            name, values = name_cell(cells).lower(), split_list(value_cell(cells))
            # as written for a variation's identifier; decoded where they are text to show
            found.values.extend(values)
            if name in SIZE_NAMES:
                found.sizes.extend(map(decoded, values))
            elif name in COLOR_NAMES:
                found.colors.extend(map(decoded, values))
            elif name == "brand" and values:
                found.brand = decoded(values[0])
        return found
