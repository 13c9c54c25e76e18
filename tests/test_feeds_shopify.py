"""Shopify products export -> variant records: grouping by handle, each field's rule, inactive."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from psykhe_cli.errors import InputError
from psykhe_cli.feeds import shopify
from psykhe_cli.feeds.delimited import Row
from psykhe_cli.feeds.shopify import ShopifyReader

SAMPLE = Path(__file__).parent / "samples" / "shopify_products.csv"
HEADER = [
    "Handle",
    "Title",
    "Body (HTML)",
    "Vendor",
    "Product Category",
    "Type",
    "Tags",
    "Published",
    "Option1 Name",
    "Option1 Value",
    "Option2 Name",
    "Option2 Value",
    "Option3 Name",
    "Option3 Value",
    "Variant SKU",
    "Variant Price",
    "Variant Compare At Price",
    "Image Src",
    "Image Position",
    "Variant Image",
    "Status",
]
IMG = "https://cdn.example.com/"


def export(*rows: dict[str, str], header: list[str] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def first(handle: str, **cells: str) -> dict[str, str]:
    """A handle's first row: the product's cells and its first variant."""
    row = {"Handle": handle, "Title": handle.title(), "Vendor": "Nord", "Status": "active"}
    row.update({"Option1 Name": "Title", "Option1 Value": "Default Title", "Variant Price": "10"})
    row.update(cells)
    return row


def read(data: bytes, **options: Any) -> tuple[list[Row], ShopifyReader]:
    chunks = [data[i : i + 7] for i in range(0, len(data), 7)]
    reader = ShopifyReader(chunks, "products.csv", **options)
    return list(reader), reader


def records(data: bytes, **options: Any) -> list[dict[str, Any]]:
    rows, _ = read(data, **options)
    assert [row.error for row in rows] == [None] * len(rows)
    return [row.record for row in rows if row.record is not None]


def test_shopify_sample_image_only_rows_never_become_records() -> None:
    rows, reader = read(SAMPLE.read_bytes())
    assert [row.error for row in rows] == [None] * 15
    found = [row.record for row in rows if row.record is not None]
    # 22 data rows: 15 variants of active products, 4 image-only rows, 3 of inactive products
    assert len(found) == 15
    assert all(record["variant_identifier"] for record in found)
    assert reader.left_out == 2
    assert reader.lines_read == 26  # the HTML bodies' newlines counted, the header not


def test_shopify_variants_carry_the_first_rows_product_cells() -> None:
    data = export(
        first("tee", **{"Option1 Name": "Size", "Option1 Value": "S", "Type": "Tees"}),
        {"Handle": "tee", "Option1 Value": "M", "Variant Price": "12"},
        {"Handle": "tee", "Option1 Value": "L", "Variant Price": "12"},
    )
    found = records(data)
    assert [(r["title"], r["designer"], r["categories"]) for r in found] == [
        ("Tee", "Nord", ["Tees"])
    ] * 3


def test_shopify_sizes_and_color_come_from_the_named_options_in_any_order_and_case() -> None:
    data = export(
        first(
            "dress",
            **{
                "Option1 Name": "Material",
                "Option1 Value": "Silk",
                "Option2 Name": "COLOUR",
                "Option2 Value": "Red",
                "Option3 Name": "size",
                "Option3 Value": "36",
            },
        ),
        first(
            "coat",
            **{
                "Option1 Name": "Color",
                "Option1 Value": "Navy",
                "Option2 Name": "Size",
                "Option2 Value": "M",
            },
        ),
    )
    assert [(r["color"], r["sizes"]) for r in records(data)] == [("Red", ["36"]), ("Navy", ["M"])]


def test_shopify_a_product_without_options_has_neither_sizes_nor_color() -> None:
    (record,) = records(export(first("mug")))
    assert "sizes" not in record and "color" not in record
    assert record["variant_identifier"] == "mug"


def test_shopify_variant_without_sku_is_told_apart_by_its_option_values() -> None:
    data = export(
        first("hat", **{"Option1 Name": "Size", "Option1 Value": "S/M", "Option2 Name": "Color"})
        | {"Option2 Value": "Grey"},
        {"Handle": "hat", "Option1 Value": "S/M", "Option2 Value": "Black", "Variant Price": "9"},
        {"Handle": "hat", "Option1 Value": "L", "Option2 Value": "Grey", "Variant SKU": "HAT-L"},
    )
    assert [r["variant_identifier"] for r in records(data)] == [
        "hat/S/M / Grey",
        "hat/S/M / Black",
        "HAT-L",
    ]


def test_shopify_images_by_position_with_the_variants_own_image_first() -> None:
    data = export(
        first("bag", **{"Image Src": IMG + "2.jpg", "Image Position": "2", "Variant SKU": "B1"}),
        {"Handle": "bag", "Variant SKU": "B2", "Variant Image": IMG + "3.jpg"},
        {"Handle": "bag", "Image Src": IMG + "3.jpg", "Image Position": "3"},
        {"Handle": "bag", "Image Src": IMG + "1.jpg", "Image Position": "1"},
    )
    assert [r["images"] for r in records(data)] == [
        [IMG + "1.jpg", IMG + "2.jpg", IMG + "3.jpg"],
        [IMG + "3.jpg", IMG + "1.jpg", IMG + "2.jpg"],
    ]


def test_shopify_categories_are_the_category_path_with_ancestors_then_the_type() -> None:
    cells = {"Product Category": "Apparel & Accessories > Clothing > Shirts", "Type": "Shirts"}
    (record,) = records(export(first("shirt", **cells)))
    assert record["categories"] == [
        "Apparel & Accessories",
        "Apparel & Accessories: Clothing",
        "Apparel & Accessories: Clothing: Shirts",
        "Shirts",
    ]


def test_shopify_prices_are_numbers_and_tags_a_list() -> None:
    cells = {"Variant Price": "29.90", "Variant Compare At Price": "35", "Tags": "a, b ,a"}
    (record,) = records(export(first("cap", **cells)))
    assert (record["price"], record["compare_at_price"], record["tags"]) == (29.9, 35, ["a", "b"])


@pytest.mark.parametrize("price", ["29,90", "1_000", "١٢", "12 USD", "nan"])
def test_shopify_a_price_that_is_not_a_plain_number_is_an_error_at_its_row(price: str) -> None:
    rows, _ = read(export(first("cap"), first("hat", **{"Variant Price": price})))
    assert [(row.line, row.error and row.error[0]) for row in rows] == [
        (2, None),
        (3, "invalid_price"),
    ]


@pytest.mark.parametrize("status", ["archived", "draft", ""])
def test_shopify_products_not_active_are_left_out_and_counted(status: str) -> None:
    data = export(
        first("old", Status=status),
        {"Handle": "old", "Option1 Value": "x", "Variant Price": "1"},
        first("new"),
    )
    rows, reader = read(data)
    assert [row.record and row.record["product_identifier"] for row in rows] == ["new"]
    assert reader.left_out == 1
    rows, reader = read(data, include_inactive=True)
    assert [row.line for row in rows] == [2, 3, 4]
    assert reader.left_out == 0


def test_shopify_without_status_published_false_is_left_out() -> None:
    header = [name for name in HEADER if name != "Status"]
    rows = [first("a", Published="false"), first("b", Published="true"), first("c")]
    for row in rows:
        del row["Status"]
    found = records(export(*rows, header=header))
    assert [r["product_identifier"] for r in found] == ["b", "c"]


def test_shopify_line_numbers_count_the_newlines_in_html_bodies_and_skip_a_bom() -> None:
    body = "<p>one</p>\n<p>two</p>\n"
    data = b"\xef\xbb\xbf" + export(first("a", **{"Body (HTML)": body}), first("b"))
    rows, reader = read(data)
    assert [row.line for row in rows] == [2, 5]
    assert reader.lines_read == 4


def test_shopify_a_malformed_row_is_an_error_in_line_order() -> None:
    data = export(first("a")) + b"a,too,few\n" + export(first("b")).split(b"\n", 1)[1]
    rows, _ = read(data)
    assert [(row.line, row.error and row.error[0]) for row in rows] == [
        (2, None),
        (3, "row_width"),
        (4, None),
    ]


def test_shopify_a_header_without_handle_is_refused() -> None:
    with pytest.raises(InputError, match="no 'Handle' column"):
        read(b"Title,Variant Price\nA,1\n")


def test_shopify_a_handle_longer_than_the_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shopify, "MAX_HANDLE_ROWS", 2)
    more = {"Handle": "a", "Option1 Value": "x", "Variant Price": "1"}
    with pytest.raises(InputError, match="handle 'a' has more than 2 rows"):
        read(export(first("a"), more, more))


def test_shopify_rows_of_a_handle_apart_from_its_first_are_errors_not_left_out() -> None:
    data = export(
        first("a"),
        first("b"),
        {"Handle": "a", "Option1 Value": "x", "Variant Price": "1"},
    )
    rows, reader = read(data)
    assert [(row.line, row.error and row.error[0]) for row in rows] == [
        (2, None),
        (3, None),
        (4, "handle_rows_apart"),
    ]
    assert reader.left_out == 0


def test_shopify_a_row_without_handle_is_an_error() -> None:
    rows, _ = read(export(first("a"), first("")))
    assert [(row.line, row.error and row.error[0]) for row in rows] == [
        (2, None),
        (3, "missing_handle"),
    ]
