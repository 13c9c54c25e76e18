"""Shopify products export (Products > Export, CSV) -> one product record per variant.

Shopify writes a product as consecutive rows sharing a ``Handle``: the first row carries the
product's own cells (Title, Vendor, Type, options' names, Status…), every variant has a row
with its option values, SKU and price, and images past the variants' rows come on rows that
hold nothing but an image. The reader holds one handle's rows at a time (at most
``MAX_HANDLE_ROWS``), so memory stays bounded whatever the export's size.

| field                | from                                                            |
|----------------------|-----------------------------------------------------------------|
| product_identifier   | Handle                                                          |
| variant_identifier   | Variant SKU, else ``handle/value1 / value2``         |
| title                | Title (the handle's first row)                                  |
| images               | the variant's Variant Image, then the handle's Image Src by     |
|                      | Image Position                                                  |
| designer             | Vendor                                                          |
| categories           | Product Category's path (ancestors included), then Type         |
| color / sizes        | the value of the option named Color/Colour / Size (any position)|
| price                | Variant Price                                                   |
| compare_at_price     | Variant Compare At Price                                        |
| tags                 | Tags, split on commas                                           |

Products whose Status is not ``active`` (or, in exports without Status, whose Published is
``false``) are left out and counted in ``left_out``, unless ``include_inactive``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from psykhe_cli.errors import InputError
from psykhe_cli.feeds.delimited import Cells, CsvTable, Row
from psykhe_cli.feeds.exports import (
    COLOR_NAMES,
    SIZE_NAMES,
    VALUE_JOIN,
    Cell,
    Columns,
    category_paths,
    number,
    put,
    read_header,
    unique,
)
from psykhe_cli.feeds.sources import FeedSource

#: rows one handle may span before the export is taken as unordered (Shopify allows 2,048
#: variants and 250 images a product)
MAX_HANDLE_ROWS = 10_000
_OPTIONS = (1, 2, 3)
#: Shopify's single variant of a product without options: Option1 "Title" = "Default Title"
_DEFAULT_VARIANT = "Default Title"
_VARIANT_CELLS = (
    "Variant SKU",
    "Variant Price",
    "Variant Compare At Price",
    *(f"Option{n} Value" for n in _OPTIONS),
)


def reader(chunks: Iterable[bytes], source: FeedSource) -> ShopifyReader:
    """The reader of ``source`` (its delimiter, ``include_inactive``) over its chunks."""
    return ShopifyReader(
        chunks,
        source.name,
        delimiter=source.delimiter,
        include_inactive=source.include_inactive,
    )


class ShopifyReader:
    """The variant records of one Shopify products export; raises ``InputError`` for an
    unusable header (one without ``Handle``) or a handle over ``MAX_HANDLE_ROWS`` rows."""

    def __init__(
        self,
        chunks: Iterable[bytes],
        name: str,
        *,
        delimiter: str | None = None,
        include_inactive: bool = False,
    ) -> None:
        self._table = CsvTable(chunks, name, delimiter=delimiter)
        self._include_inactive = include_inactive
        #: products left out because they are not active
        self.left_out = 0

    @property
    def lines_read(self) -> int:
        """Physical lines read so far, the header not counted."""
        return self._table.lines_read

    def __iter__(self) -> Iterator[Row]:
        columns = read_header(self._table, "Handle", "Shopify products export")
        if columns is None:
            return
        cells = _ShopifyCells(columns)
        group: list[Cells] = []
        handle = ""
        for data in self._table:
            if data.error is not None:
                group.append(data)
                continue
            row_handle = cells.handle(data.cells)
            if row_handle != handle and group:
                yield from self._product(handle, group, cells)
                group = []
            handle = row_handle
            group.append(data)
            if len(group) > MAX_HANDLE_ROWS:
                raise InputError(
                    f"{self._table.name}:{data.line}: handle {handle!r} has more than "
                    f"{MAX_HANDLE_ROWS} rows (from line {group[0].line})",
                    hint="a Shopify export keeps a product's rows together; sort it by Handle",
                )
        if group:
            yield from self._product(handle, group, cells)

    def _product(self, handle: str, group: list[Cells], cells: _ShopifyCells) -> Iterator[Row]:
        rows = [data for data in group if data.error is None]
        if not rows:
            yield from (data.row() for data in group)
            return
        if not handle:
            yield from (data.failed("missing_handle", "row has no Handle") for data in rows)
            return
        product = cells.product(rows[0].cells)
        if not product.active and not self._include_inactive:
            self.left_out += 1
            yield from (data.row() for data in group if data.error is not None)
            return
        images = cells.images(rows)
        for data in group:
            if data.error is not None:
                yield data.row()
            elif cells.is_variant(data.cells):
                yield _variant(data, handle, product, images, cells)


@dataclass(frozen=True)
class _Product:
    """The product-level cells of a handle's first row, as fields."""

    fields: dict[str, Any]
    #: lower-cased option names by position (1-3)
    options: dict[int, str]
    active: bool


class _ShopifyCells:
    """Where each cell of a Shopify row is, by column name."""

    def __init__(self, columns: Columns) -> None:
        self.handle = Cell(columns, "Handle")
        self._title = Cell(columns, "Title")
        self._vendor = Cell(columns, "Vendor")
        self._category = Cell(columns, "Product Category")
        self._type = Cell(columns, "Type")
        self._tags = Cell(columns, "Tags")
        self._published = Cell(columns, "Published")
        self._status = Cell(columns, "Status") if "Status" in columns else None
        self._option_names = {n: Cell(columns, f"Option{n} Name") for n in _OPTIONS}
        self.option_values = {n: Cell(columns, f"Option{n} Value") for n in _OPTIONS}
        self.sku = Cell(columns, "Variant SKU")
        self.price = Cell(columns, "Variant Price")
        self.compare_at = Cell(columns, "Variant Compare At Price")
        self.variant_image = Cell(columns, "Variant Image")
        self._image = Cell(columns, "Image Src")
        self._position = Cell(columns, "Image Position")
        self._variant_cells = [Cell(columns, name) for name in _VARIANT_CELLS]

    def product(self, cells: list[str]) -> _Product:
        """The product-level fields of a handle's first row."""
        fields: dict[str, Any] = {}
        put(fields, "title", self._title(cells))
        put(fields, "designer", self._vendor(cells))
        category = self._category(cells)
        put(
            fields,
            "categories",
            unique([*category_paths([category] if category else []), self._type(cells)]),
        )
        put(fields, "tags", unique(tag.strip() for tag in self._tags(cells).split(",")))
        options = {n: cell(cells).lower() for n, cell in self._option_names.items()}
        if self._status is not None:
            active = self._status(cells).lower() == "active"
        else:
            active = self._published(cells).lower() != "false"
        return _Product(fields, options, active)

    def is_variant(self, cells: list[str]) -> bool:
        """A row with a variant's cells, not one that only adds an image."""
        return any(cell(cells) for cell in self._variant_cells)

    def images(self, rows: list[Cells]) -> list[str]:
        """The handle's images by Image Position; those without one after, in file order."""
        found: list[tuple[float, int, str]] = []
        for order, data in enumerate(rows):
            src = self._image(data.cells)
            if src:
                position = self._position(data.cells)
                key = float(position) if position.isdigit() else float("inf")
                found.append((key, order, src))
        return unique(src for _, _, src in sorted(found))


def _variant(
    data: Cells, handle: str, product: _Product, images: list[str], cells: _ShopifyCells
) -> Row:
    values = {n: cell(data.cells) for n, cell in cells.option_values.items()}
    record: dict[str, Any] = {"product_identifier": handle}
    chosen = [value for value in values.values() if value]
    if chosen == [_DEFAULT_VARIANT]:
        chosen = []
    derived = f"{handle}/{VALUE_JOIN.join(chosen)}" if chosen else handle
    put(record, "variant_identifier", cells.sku(data.cells) or derived)
    record.update(product.fields)
    put(record, "images", unique([cells.variant_image(data.cells), *images]))
    for n, option in product.options.items():
        if option in COLOR_NAMES:
            put(record, "color", values[n])
        elif option in SIZE_NAMES and values[n]:
            record["sizes"] = [values[n]]
    try:
        for field, text in (
            ("price", cells.price(data.cells)),
            ("compare_at_price", cells.compare_at(data.cells)),
        ):
            if text:
                record[field] = number(field, text)
    except ValueError as exc:
        return data.failed("invalid_cell", str(exc))
    return data.row(record)
