"""Google Merchant Center feeds -> product records, one per item.

Two shapes of the same attributes (Merchant Center's product data specification):

- delimited (TSV, or CSV): a header row of attribute names — ``image_link``, ``image link``,
  ``g:image_link`` or a display name with the name in brackets, ``Image link [image_link]`` —
  then one item per row; repeated attributes (``additional_image_link``) comma-separated;
- XML: RSS 2.0 (``<rss><channel><item>``) or Atom (``<feed><entry>``), attributes as elements
  in the ``g:`` namespace (``http://base.google.com/ns/1.0``), repeated ones repeated. Read by
  ``gmc_xml.py``, streaming.

How an item becomes a record (``to_record``; docs/feeds.md has the table):

    product_identifier  item_group_id, else id       variant_identifier  id
    title               title                        designer            brand
    images              image_link, then every additional_image_link
    color               color                        sizes               [size]
    price               the number of price; its currency in ``currency``
    sale_price          the number of sale_price (in the same currency)
    categories          each product_type path "A > B > C" -> "A", "A: B", "A: B: C"
                        (several comma-separated, or repeated in XML)
    anything else       under its own name, as a string (gtin keeps its leading zeros)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from psykhe_cli.errors import InputError, UsageError
from psykhe_cli.feeds.blocks import utf16_xml
from psykhe_cli.feeds.delimited import CsvTable, Row, check_map
from psykhe_cli.feeds.exports import decoded
from psykhe_cli.feeds.formats import RowReader, looks_like
from psykhe_cli.feeds.sources import FeedSource

#: an item's attributes as read, in order: (name, value); a repeated attribute comes again
Attributes = list[tuple[str, str]]

#: attributes that only Merchant Center feeds name this way; two of them (with ``id``) tell
#: a Merchant Center header from a generic CSV one
_TELLING = frozenset(
    {
        "image_link",
        "additional_image_link",
        "link",
        "availability",
        "condition",
        "item_group_id",
        "google_product_category",
        "product_type",
        "gtin",
        "mpn",
    }
)
#: attributes the mapping consumes; every other one is passed through under its own name
_MAPPED = frozenset(
    {
        "id",
        "item_group_id",
        "title",
        "image_link",
        "additional_image_link",
        "brand",
        "color",
        "size",
        "price",
        "sale_price",
        "product_type",
    }
)
#: attributes a delimited feed's cells are taken from as written: identifiers (matched as
#: written, run after run) and URLs; the others are text, HTML entities decoded (``&amp;``)
#: as the XML reader's parser decodes them
_AS_WRITTEN = frozenset({"id", "item_group_id", "gtin", "mpn"})
_BRACKETED = re.compile(r"\[([^\[\]]+)\]\s*$")
#: "15.00 USD" (the specification's form), also "USD 15.00"; ASCII digits only
_PRICE = re.compile(
    r"(?P<number>[0-9]+(?:\.[0-9]+)?)(?:\s*(?P<currency>[A-Za-z]{3}))?"
    r"|(?P<currency2>[A-Za-z]{3})\s*(?P<number2>[0-9]+(?:\.[0-9]+)?)"
)


def attribute_name(cell: str) -> str:
    """The attribute a header cell names: ``Image link [image_link]``, ``image link``,
    ``g:image_link`` and ``IMAGE_LINK`` all name ``image_link``."""
    text = cell.strip()
    bracketed = _BRACKETED.search(text)
    if bracketed:
        text = bracketed.group(1).strip()
    text = text.lower()
    text = text.removeprefix("g:")
    return re.sub(r"\s+", "_", text)


def is_gmc_header(cells: list[str]) -> bool:
    """True when a delimited header names Merchant Center attributes."""
    names = {attribute_name(cell) for cell in cells}
    # a header naming product fields is a generic CSV, whatever else it holds
    return "id" in names and len(names & _TELLING) >= 2 and "product_identifier" not in names


def reader(chunks: Iterable[bytes], source: FeedSource) -> RowReader:
    """The ``ReaderFactory`` of Merchant Center feeds: XML or delimited, told by content."""
    from psykhe_cli.feeds.sources import read_head

    head, rest = read_head(iter(chunks), 64)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    chunks = _chain(head, rest)
    utf16 = None if text.startswith(b"<") else utf16_xml(head)
    if text.startswith(b"<") or utf16:
        from psykhe_cli.feeds.gmc_xml import XmlReader

        if source.column_map:
            source_column, target = source.column_map[0]
            raise UsageError(
                f"--map {source_column}={target}: {source.name} is an XML feed, which has no "
                "columns to rename",
                hint="its attributes are read by their Merchant Center names; see docs/feeds.md",
            )
        return XmlReader(chunks, source.name, utf16=utf16)
    renamed = [column for column, _ in source.column_map]
    for column, target in source.column_map:
        if renamed.count(column) > 1:  # a dict would keep the last without a word
            raise UsageError(
                f"--map {column}={target}: {column!r} is mapped twice; in a Merchant Center "
                "feed a column is one attribute, and item_group_id already falls back to id"
            )
    return DelimitedReader(chunks, source.name, source.delimiter, dict(source.column_map))


def _chain(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if head:
        yield head
    yield from rest


class DelimitedReader:
    """The items of a delimited (TSV/CSV) Merchant Center feed."""

    def __init__(
        self,
        chunks: Iterable[bytes],
        name: str,
        delimiter: str | None,
        column_map: dict[str, str],
    ) -> None:
        self._table = CsvTable(chunks, name, delimiter=delimiter)
        self._name = name
        self._column_map = column_map

    @property
    def lines_read(self) -> int:
        """Physical lines read so far, the header not counted."""
        return self._table.lines_read

    def __iter__(self) -> Iterator[Row]:
        cells = self._table.header()
        if cells is None:
            return
        names = self._names(cells)
        text = [not _is_written_as_is(name) for name in names]
        for data in self._table:
            if data.error is not None:
                yield data.row()
                continue
            attributes: Attributes = []
            for name, is_text, cell in zip(names, text, data.cells, strict=True):
                cell = cell.strip()
                if not cell:
                    continue
                if is_text:
                    cell = decoded(cell)
                if name == "additional_image_link":
                    attributes += [(name, url.strip()) for url in cell.split(",") if url.strip()]
                else:
                    attributes.append((name, cell))
            try:
                yield data.row(to_record(attributes))
            except ValueError as exc:
                yield data.failed("invalid_cell", str(exc))

    def _names(self, cells: list[str]) -> list[str]:
        where = f"{self._name}:{self._table.header_lines}"
        check_map(self._column_map.items(), cells, self._name)
        for source in self._column_map:
            if "+" in source:
                raise UsageError(
                    f"--map {source}=…: a Merchant Center feed's columns are not joined; "
                    "additional_image_link already adds to the images"
                )
        names: list[str] = []
        seen: dict[str, str] = {}
        for column, cell in enumerate(cells, start=1):
            renamed = self._column_map.get(cell, cell)
            name = attribute_name(renamed)
            if not name:
                raise InputError(f"{where}: column {column} of the header has no name")
            if name in seen:
                raise InputError(
                    f"{where}: columns {seen[name]!r} and {cell!r} both name the attribute "
                    f"{name!r}",
                    hint="remove one of them from the feed",
                )
            seen[name] = cell
            names.append(name)
        if "id" not in seen:
            raise InputError(
                f"{where}: the header has no id column{looks_like(cells, 'gmc')} "
                f"(its columns: {', '.join(cells)})",
                hint="every Merchant Center item has an id; name its column id",
            )
        return names


def _is_written_as_is(name: str) -> bool:
    return name in _AS_WRITTEN or name.endswith("link") or "url" in name


def to_record(attributes: Attributes) -> dict[str, object]:
    """One item's attributes, in the feed's order -> its product record; raises
    ``ValueError`` for a bad price."""
    first = dict(reversed(attributes))  # the first value of each attribute
    record: dict[str, object] = {}
    get = first.get
    item_id, group = get("id"), get("item_group_id")
    if group or item_id:
        record["product_identifier"] = group or item_id
    if item_id:
        record["variant_identifier"] = item_id
    if "title" in first:
        record["title"] = first["title"]
    repeated = len(first) != len(attributes)
    extra = [url for name, url in attributes if name == "additional_image_link"]
    images = ([first["image_link"]] if "image_link" in first else []) + extra
    if images:
        record["images"] = images
    if "brand" in first:
        record["designer"] = first["brand"]
    if "color" in first:
        record["color"] = first["color"]
    if "size" in first:
        record["sizes"] = [first["size"]]
    _prices(first, record)
    if "product_type" in first:
        types = (
            [v for n, v in attributes if n == "product_type"]
            if repeated
            else [first["product_type"]]
        )
        record["categories"] = category_paths(types)
    if repeated:
        for name, value in attributes:
            if name not in _MAPPED:
                record[name] = f"{record[name]},{value}" if name in record else value
    else:
        for name, value in attributes:
            if name not in _MAPPED:
                record[name] = value
    return record


def _prices(first: dict[str, str], record: dict[str, object]) -> None:
    currency: str | None = None
    if "price" in first:
        record["price"], currency = parse_price("price", first["price"])
        if currency is not None:
            record["currency"] = currency
    if "sale_price" in first:
        record["sale_price"], sale_currency = parse_price("sale_price", first["sale_price"])
        if sale_currency is not None and currency is not None and sale_currency != currency:
            raise ValueError(
                f"sale_price is in {sale_currency} but price is in {currency}: "
                "one item has one currency"
            )
        if sale_currency is not None and currency is None:
            record["currency"] = sale_currency


def parse_price(name: str, text: str) -> tuple[float, str | None]:
    """``"15.00 USD"`` -> ``(15.0, "USD")``; raises ``ValueError`` for anything else."""
    match = _PRICE.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"{name}: {text!r} is not a price such as '15.00 USD' (a number with a dot for "
            "decimals, then the ISO 4217 currency code)"
        )
    number = match.group("number") or match.group("number2")
    currency = match.group("currency") or match.group("currency2")
    return float(number), currency.upper() if currency else None


def category_paths(product_types: list[str]) -> list[str]:
    """``["A > B > C"]`` -> ``["A", "A: B", "A: B: C"]``: every path with its ancestors, once.

    A comma separates product types, in text and XML feeds alike: the specification says
    Merchant Center reads ``"House, Garden"`` as two of them.
    """
    paths: dict[str, None] = {}
    for value in product_types:
        for product_type in value.split(","):
            parts = [part.strip() for part in product_type.split(">") if part.strip()]
            for depth in range(1, len(parts) + 1):
                paths[": ".join(parts[:depth])] = None
    return list(paths)
