"""WooCommerce product export -> variant records: parents, variations, each field's rule."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from psykhe_cli.errors import InputError
from psykhe_cli.feeds import woocommerce
from psykhe_cli.feeds.delimited import Row
from psykhe_cli.feeds.woocommerce import WooCommerceReader, split_list

SAMPLE = Path(__file__).parent / "samples" / "woocommerce_products.csv"
HEADER = [
    "ID",
    "Type",
    "SKU",
    "Name",
    "Published",
    "Visibility in catalog",
    "Sale price",
    "Regular price",
    "Categories",
    "Tags",
    "Images",
    "Parent",
    "Brands",
    "Attribute 1 name",
    "Attribute 1 value(s)",
    "Attribute 2 name",
    "Attribute 2 value(s)",
]
IMG = "https://shop.example.com/"


def export(*rows: dict[str, str]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, HEADER, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({"Published": "1", "Visibility in catalog": "visible", **row})
    return out.getvalue().encode()


def hoodie(**cells: str) -> dict[str, str]:
    """A variable parent with two attributes."""
    row = {"ID": "11", "Type": "variable", "SKU": "hoodie", "Name": "Hoodie", "Brands": "Woo"}
    row.update({"Categories": "Clothing > Hoodies", "Images": f"{IMG}h1.jpg, {IMG}h2.jpg"})
    row.update({"Attribute 1 name": "Color", "Attribute 1 value(s)": "Blue, Green"})
    row.update({"Attribute 2 name": "Size", "Attribute 2 value(s)": "S, M"})
    row.update(cells)
    return row


def variation(vid: str, color: str, size: str, **cells: str) -> dict[str, str]:
    row = {"ID": vid, "Type": "variation", "Name": f"Hoodie - {color}, {size}", "Parent": "hoodie"}
    row.update({"Regular price": "45", "Attribute 1 name": "Color", "Attribute 1 value(s)": color})
    row.update({"Attribute 2 name": "Size", "Attribute 2 value(s)": size})
    row.update(cells)
    return row


def simple(sku: str, **cells: str) -> dict[str, str]:
    row = {"ID": "1", "Type": "simple", "SKU": sku, "Name": sku.title(), "Regular price": "20"}
    return row | cells


def read(data: bytes, **options: Any) -> tuple[list[Row], WooCommerceReader]:
    chunks = [data[i : i + 7] for i in range(0, len(data), 7)]
    reader = WooCommerceReader(chunks, "wc.csv", **options)
    return list(reader), reader


def records(data: bytes, **options: Any) -> list[dict[str, Any]]:
    rows, _ = read(data, **options)
    assert [row.error for row in rows] == [None] * len(rows)
    return [row.record for row in rows if row.record is not None]


def test_woocommerce_sample_reads_to_its_records() -> None:
    rows, reader = read(SAMPLE.read_bytes())
    assert [(row.line, row.error) for row in rows] == [
        (2, None),
        (7, None),
        (8, None),
        (9, None),
        (12, None),
        (13, None),
        (17, None),
    ]
    assert reader.left_out == 3  # a disabled variation, a draft, a hidden product


def test_woocommerce_a_simple_row_is_one_record() -> None:
    row = simple("cap", Images=f"{IMG}c.jpg", Categories="Hats", Tags="wool, winter")
    row |= {"Sale price": "18.5", "Attribute 1 name": "Size", "Attribute 1 value(s)": "S, M"}
    assert records(export(row)) == [
        {
            "product_identifier": "cap",
            "variant_identifier": "cap",
            "title": "Cap",
            "categories": ["Hats"],
            "tags": ["wool", "winter"],
            "images": [f"{IMG}c.jpg"],
            "sizes": ["S", "M"],
            "price": 20,
            "sale_price": 18.5,
        }
    ]


def test_woocommerce_variations_take_the_parents_name_images_categories_and_brand() -> None:
    data = export(hoodie(), variation("12", "Blue", "S", SKU="h-b-s", Images=f"{IMG}b.jpg"))
    assert records(data) == [
        {
            "product_identifier": "hoodie",
            "variant_identifier": "h-b-s",
            "title": "Hoodie",
            "designer": "Woo",
            "categories": ["Clothing", "Clothing: Hoodies"],
            "images": [f"{IMG}b.jpg", f"{IMG}h1.jpg", f"{IMG}h2.jpg"],
            "sizes": ["S"],
            "color": "Blue",
            "price": 45,
        }
    ]


def test_woocommerce_sku_less_variations_never_collapse() -> None:
    data = export(
        hoodie(),
        variation("12", "Green", "S"),
        variation("13", "Green", "M"),
        variation("14", "", ""),
    )
    assert [r["variant_identifier"] for r in records(data)] == [
        "hoodie/Green / S",
        "hoodie/Green / M",
        "hoodie/id:14",
    ]


def test_woocommerce_a_parent_named_by_id() -> None:
    data = export(hoodie(SKU=""), variation("12", "Blue", "S", Parent="id:11"))
    (record,) = records(data)
    assert (record["product_identifier"], record["variant_identifier"]) == (
        "id:11",
        "id:11/Blue / S",
    )


def test_woocommerce_a_variation_before_its_parent_is_an_error_naming_both_lines() -> None:
    rows, _ = read(export(variation("12", "Blue", "S"), simple("cap"), hoodie()))
    assert [(row.line, row.error) for row in rows] == [
        (3, None),
        (
            2,
            (
                "variation_before_parent",
                "variation comes before its parent 'hoodie' (line 4); "
                "a WooCommerce export writes a parent before its variations",
            ),
        ),
    ]


def test_woocommerce_a_parent_that_never_comes_is_an_error() -> None:
    rows, _ = read(export(simple("cap"), variation("12", "Blue", "S", Parent="id:99")))
    assert [(row.line, row.error and row.error[0]) for row in rows] == [
        (2, None),
        (3, "missing_parent"),
    ]
    assert rows[1].error is not None and "'id:99' is not in the feed" in rows[1].error[1]


def test_woocommerce_variations_waiting_for_parents_are_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(woocommerce, "MAX_WAITING", 1)
    rows, _ = read(export(variation("12", "Blue", "S"), variation("13", "Blue", "M"), hoodie()))
    assert [(row.line, row.error and row.error[1][:40]) for row in rows] == [
        (3, "variation's parent 'hoodie' has not come"),
        (2, "variation comes before its parent 'hoodi"),
    ]


@pytest.mark.parametrize(
    "cells", [{"Published": "0"}, {"Published": "-1"}, {"Visibility in catalog": "hidden"}]
)
def test_woocommerce_unpublished_or_hidden_products_are_left_out_and_counted(
    cells: dict[str, str],
) -> None:
    data = export(simple("cap", **cells), hoodie(**cells), variation("12", "Blue", "S"))
    rows, reader = read(data)
    assert (rows, reader.left_out) == ([], 2)  # the parent's variations go with it
    rows, reader = read(data, include_inactive=True)
    assert ([row.line for row in rows], reader.left_out) == ([2, 4], 0)


def test_woocommerce_a_disabled_variation_is_left_out_and_counted() -> None:
    data = export(hoodie(), variation("12", "Blue", "S", Published="0"), variation("13", "B", "M"))
    rows, reader = read(data)
    assert ([row.line for row in rows], reader.left_out) == ([4], 1)


def test_woocommerce_categories_and_lists_honour_escaped_commas() -> None:
    row = simple("cap", Categories="Clothing > Hats\\, caps, Sale > Winter, Clothing")
    (record,) = records(export(row))
    assert record["categories"] == [
        "Clothing",
        "Clothing: Hats, caps",
        "Sale",
        "Sale: Winter",
    ]
    assert split_list("a, b\\, c,, a") == ["a", "b, c"]


def test_woocommerce_images_split_on_comma_space_only() -> None:
    row = simple("cap", Images=f"{IMG}w_100,h_100/a.jpg, {IMG}b.jpg")
    assert records(export(row))[0]["images"] == [f"{IMG}w_100,h_100/a.jpg", f"{IMG}b.jpg"]


def test_woocommerce_grouped_products_are_not_records() -> None:
    data = export({"ID": "5", "Type": "grouped", "SKU": "set", "Name": "Set"}, simple("cap"))
    assert [r["product_identifier"] for r in records(data)] == ["cap"]


def test_woocommerce_a_bad_price_is_an_error_at_its_row() -> None:
    rows, _ = read(export(simple("cap", **{"Regular price": "20,00"})))
    assert [(row.line, row.error and row.error[0]) for row in rows] == [(2, "invalid_price")]


def test_woocommerce_a_header_without_type_is_refused() -> None:
    with pytest.raises(InputError, match="no 'Type' column"):
        read(b"SKU,Name\na,b\n")
