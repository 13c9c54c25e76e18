"""The Merchant Center field table: how an item's attributes become a product record, and how
a delimited header is told to be Merchant Center's. Shared by both readers (``gmc.py`` for
delimited feeds, ``gmc_xml.py`` for XML) and by format detection (``formats.py``).

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
