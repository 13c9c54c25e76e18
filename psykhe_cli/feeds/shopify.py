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
    decoded,
    getter,
    is_absolute_url,
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
#: a product's cells, on its handle's first row
_PRODUCT_CELLS = (
    "Title",
    "Vendor",
    "Product Category",
    "Type",
    "Tags",
    "Status",
    "Published",
    *(f"Option{n} Name" for n in _OPTIONS),
)
#: a variant's own cells: a row without a SKU, a price or an option value only adds an image
_VARIANT_CELLS = (
    "Variant SKU",
    "Variant Price",
    "Variant Compare At Price",
    "Variant Image",
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
        #: the handle of the first data row, None while none was read or when it has an
        #: error; the handle of the rows read last ("" for none): where a part of an export
        #: meets the next (``csv_split.py``)
        self.first_handle: str | None = None
        self.last_handle = ""

    @property
    def lines_read(self) -> int:
        """Physical lines read so far, the header not counted."""
        return self._table.lines_read

    def __iter__(self) -> Iterator[Row]:
        columns = read_header(self._table, [("Handle",)], "shopify")
        if columns is None:
            return
        cells = _ShopifyCells(columns)
        group: list[Cells] = []
        handle = ""
        first = True
        for data in self._table:
            if data.error is None:  # a malformed row stays in the group it interrupts
                row_handle = cells.handle(data.cells)
                if row_handle != handle and group:
                    yield from self._product(handle, group, cells)
                    group = []
                handle = self.last_handle = row_handle
                if first:
                    self.first_handle = handle
            first = False
            group.append(data)
            if len(group) > MAX_HANDLE_ROWS:
                raise InputError(
                    f"{self._table.name}:{data.line}: handle {handle!r} has more than "
                    f"{MAX_HANDLE_ROWS} rows (from line {group[0].line})",
                    hint="a Shopify export keeps a product's rows together; sort it by Handle",
                )
        if group:
            yield from self._product(handle, group, cells)

    def _product(self, handle: str, group: list[Cells], cells: _ShopifyCells) -> list[Row]:
        """The rows of one handle: its variants' records, and the errors of its rows."""
        rows = [data for data in group if data.error is None]
        if not rows:
            return [data.row() for data in group]
        if not handle:
            return _failed(group, "missing_handle", "row has no Handle")
        if not cells.starts_product(rows[0].cells):
            # rows of a handle apart from its first: their product's cells are elsewhere
            return _failed(
                group,
                "handle_rows_apart",
                f"the first row of handle {handle!r} here has no Title: a Shopify export "
                "writes a product's cells on its first row, and all its rows together",
            )
        product = cells.product(rows[0].cells)
        if not product.active and not self._include_inactive:
            self.left_out += 1
            return [data.row() for data in group if data.error is not None]
        images, bad_images = cells.images(rows)
        #: a variant's images by its Variant Image: the variants of a colour share one
        by_image = {"": images}
        found: list[Row] = []  # a list, not a generator: this runs once a product
        for data in group:
            if data.error is not None:
                found.append(data.row())
                continue
            if data.line in bad_images:
                found.append(_bad_image(data, bad_images[data.line]))
                continue
            sku, price, compare_at, image, *values = cells.variant(data.cells)
            if not (sku or price or compare_at or any(values)):
                continue  # an image-only row
            shown = by_image.get(image)
            if shown is None:
                shown = by_image[image] = unique([image, *images])
            record = _variant(handle, product, shown, sku, values)
            try:
                _prices(record, price, compare_at)
            except ValueError as exc:
                found.append(data.failed("invalid_price", str(exc)))
            else:
                found.append(data.row(record))
        return found


@dataclass(frozen=True)
class _Product:
    """The product-level cells of a handle's first row, as fields."""

    fields: dict[str, Any]
    #: the positions (0-2) of the options named Color/Colour and Size, if any
    color_at: int | None
    size_at: int | None
    active: bool


class _ShopifyCells:
    """Where each cell of a Shopify row is, by column name."""

    def __init__(self, columns: Columns) -> None:
        self.handle = Cell(columns, "Handle")
        self._title_at = columns.index("Title")
        self._has_status = "Status" in columns
        self._product = getter(columns, _PRODUCT_CELLS)
        #: (sku, price, compare-at price, variant image, value 1, value 2, value 3)
        self.variant = getter(columns, _VARIANT_CELLS)
        self._image = Cell(columns, "Image Src")
        self._position = Cell(columns, "Image Position")

    def starts_product(self, cells: list[str]) -> bool:
        """A handle's first row has the product's Title (when the export has the column)."""
        return self._title_at is None or bool(cells[self._title_at].strip())

    def product(self, cells: list[str]) -> _Product:
        """The product-level fields of a handle's first row."""
        title, vendor, category, kind, tags, status, published, *options = self._product(cells)
        fields: dict[str, Any] = {}
        put(fields, "title", decoded(title))
        put(fields, "designer", decoded(vendor))
        put(fields, "categories", unique([*category_paths([category]), decoded(kind)]))
        put(fields, "tags", unique(tag.strip() for tag in decoded(tags).split(",")))
        names = [option.lower() for option in options]
        color_at = next((n for n, name in enumerate(names) if name in COLOR_NAMES), None)
        size_at = next((n for n, name in enumerate(names) if name in SIZE_NAMES), None)
        # older exports have no Status column: Published says it
        active = status.lower() == "active" if self._has_status else published.lower() != "false"
        return _Product(fields, color_at, size_at, active)

    def images(self, rows: list[Cells]) -> tuple[list[str], dict[int, str]]:
        """The handle's images by Image Position (those without one after, in file order),
        and by line the Image Src that is not an absolute URL: an error of the row it is on,
        left out of the product's images, so an image-only row's mistake is named at it."""
        found: list[tuple[float, int, str]] = []
        bad: dict[int, str] = {}
        for order, data in enumerate(rows):
            src = self._image(data.cells)
            if src and not is_absolute_url(src):
                bad[data.line] = src
            elif src:
                position = self._position(data.cells)
                key = float(position) if position.isdigit() else float("inf")
                found.append((key, order, src))
        return unique(src for _, _, src in sorted(found)), bad


def _bad_image(data: Cells, src: str) -> Row:
    return data.failed(
        "invalid_images",
        f"images must be a list of absolute http(s) URL strings, got {src!r} (column 'Image Src')",
    )


def _failed(group: list[Cells], code: str, message: str) -> list[Row]:
    """Every row of ``group`` as an error: its own, else ``message``."""
    return [data.row() if data.error is not None else data.failed(code, message) for data in group]


def _variant(
    handle: str, product: _Product, images: list[str], sku: str, values: list[str]
) -> dict[str, Any]:
    record: dict[str, Any] = {"product_identifier": handle}
    chosen = [value for value in values if value]
    if chosen == [_DEFAULT_VARIANT]:
        chosen = []
    record["variant_identifier"] = sku or (
        f"{handle}/{VALUE_JOIN.join(chosen)}" if chosen else handle
    )
    record.update(product.fields)
    if images:
        record["images"] = images
    # option values are text to show, decoded; the identifier above keeps them as written
    if product.color_at is not None and values[product.color_at]:
        color = values[product.color_at]
        record["color"] = color if "&" not in color else decoded(color)
    if product.size_at is not None and values[product.size_at]:
        size = values[product.size_at]
        record["sizes"] = [size if "&" not in size else decoded(size)]
    return record


def _prices(record: dict[str, Any], price: str, compare_at: str) -> None:
    """Variant Price and Variant Compare At Price as numbers; raises ``ValueError``."""
    if price:
        record["price"] = number("price", "Variant Price", price)
    if compare_at:
        record["compare_at_price"] = number(
            "compare_at_price", "Variant Compare At Price", compare_at
        )
