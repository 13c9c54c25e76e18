"""The rows of a WooCommerce export read one at a time: where each cell is (``WooCells``),
what a product row lends its variations (``Parent``), and a simple product's or a variation's
record. What ties rows together (a variation to its parent) is ``woocommerce.py``'s."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from psykhe_cli.feeds.delimited import Cells, Row
from psykhe_cli.feeds.exports import (
    COLOR_NAMES,
    SIZE_NAMES,
    VALUE_JOIN,
    Cell,
    Columns,
    category_paths,
    decoded,
    number,
    put,
    unique,
)

#: WooCommerce joins list cells with ", " and escapes a comma inside a value as "\,"
_LIST_SPLIT = re.compile(r"(?<!\\),")
_IMAGE_SEPARATOR = ", "
_UNPUBLISHED = frozenset({"0", "-1"})


def split_list(cell: str) -> list[str]:
    """A WooCommerce list cell (``"A, B\\, C"``) -> its values (``["A", "B, C"]``)."""
    if "," not in cell:  # one value (most cells): what the split would leave of it
        value = cell.strip()
        return [value] if value else []
    return unique(part.replace("\\,", ",").strip() for part in _LIST_SPLIT.split(cell))


def variation_record(data: Cells, parent: Parent, cells: WooCells) -> dict[str, Any] | None:
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


def not_variable(data: Cells, ref: str, line: int) -> Row:
    return data.failed(
        "parent_not_variable",
        f"the variation's parent {ref!r} (line {line}) is a simple product; variations need "
        "a variable parent",
    )


def priced(data: Cells, record: dict[str, Any], cells: WooCells) -> Row:
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
    if _IMAGE_SEPARATOR not in cell:  # one URL, or none
        url = cell.strip()
        return [url] if url else []
    return unique(url.strip() for url in cell.split(_IMAGE_SEPARATOR))


@dataclass
class Parent:
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
    def decode(blob: bytes) -> Parent:
        """The parent ``encode`` gave ``blob`` for."""
        return Parent(*orjson.loads(blob))


@dataclass
class Attributes:
    values: list[str]
    sizes: list[str]
    colors: list[str]
    brand: str


class WooCells:
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

    def product(self, cells: list[str]) -> Parent:
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
        return Parent(identifier, refs, fields, split_images(self.images(cells)))

    def attributes(self, cells: list[str]) -> Attributes:
        """The values of the row's attributes, and those named Size, Color and Brand."""
        found = Attributes([], [], [], "")
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
