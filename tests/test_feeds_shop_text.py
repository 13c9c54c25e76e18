"""What shop exports say in their cells, read as the shop meant it, and their mistakes shown
at their cell: HTML entities decoded in text (never in identifiers or URLs), the bad URL of a
list shown whole at the right line, a price's column and how to write it. The CLI runs as a
subprocess; what was stored is read back from the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from psykhe_cli.feeds.exports import ABSOLUTE_URL, is_absolute_url
from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import FAST, psykhe

WP = "https://shop.example.com/wp-content/uploads/"
CDN = "https://cdn.example.com/"

WOO_HEADER = (
    "ID,Type,SKU,Name,Published,Visibility in catalog,Regular price,Categories,Tags,Images,"
    "Parent,Brands,Attribute 1 name,Attribute 1 value(s)\n"
)
SHOPIFY_HEADER = (
    "Handle,Title,Vendor,Product Category,Type,Tags,Option1 Name,Option1 Value,Variant SKU,"
    "Variant Price,Image Src,Image Position,Status\n"
)


def stored(sandbox: SandboxHandle) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (p["product_identifier"], p["variant_identifier"]): p["data"]
        for p in sandbox.products(active=True)
    }


def push(feed: Path, env: dict[str, str], fmt: str) -> None:
    out = psykhe("push", str(feed), "--format", fmt, *FAST, "--json", env=env)
    assert out.returncode == 0, out.stderr


def problems(feed: Path, env: dict[str, str], fmt: str) -> list[tuple[int, str, str]]:
    out = psykhe("validate", str(feed), "--format", fmt, "--json", env=env)
    assert out.returncode == 3, out.stderr
    report = orjson.loads(out.stdout)
    return [(p["line"], p["code"], p["message"]) for p in report["problems"]]


def test_woocommerce_text_cells_are_decoded_and_identifiers_kept_as_written(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = tmp_path / "woo.csv"
    feed.write_text(
        WOO_HEADER
        + f"10,simple,B&amp;S-1,Beanie &amp; Scarf Set,1,visible,20,Hats &amp; Caps > Knit,"
        f'"knit, warm &amp; soft",{WP}a.jpg?w=1&amp;h=2,,Nord &amp; Co,Color,Red &amp; Blue\n'
        + '11,variable,tee,Tee &#8211; Basic,1,visible,,Tops,,,,,Size,"S, M &amp; L"\n'
        + "12,variation,,,1,visible,9,,,,tee,,Size,M &amp; L\n"
    )
    push(feed, env, "woocommerce")
    assert stored(sandbox) == {
        ("B&amp;S-1", "B&amp;S-1"): {
            "product_identifier": "B&amp;S-1",
            "variant_identifier": "B&amp;S-1",
            "title": "Beanie & Scarf Set",
            "designer": "Nord & Co",
            "categories": ["Hats & Caps", "Hats & Caps: Knit"],
            "tags": ["knit", "warm & soft"],
            "images": [f"{WP}a.jpg?w=1&amp;h=2"],
            "color": "Red & Blue",
            "price": 20,
        },
        # the variation's identifier is built from the attribute value as written
        ("tee", "tee/M &amp; L"): {
            "product_identifier": "tee",
            "variant_identifier": "tee/M &amp; L",
            "title": "Tee \u2013 Basic",
            "categories": ["Tops"],
            "sizes": ["M & L"],
            "price": 9,
        },
    }


def test_shopify_text_cells_are_decoded_and_identifiers_kept_as_written(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = tmp_path / "products.csv"
    feed.write_text(
        SHOPIFY_HEADER + "tote,Canvas Tote &amp; Carry Bag,Nord &amp; Co,Bags &gt; Totes > Canvas,"
        f"Bags &amp; Totes,a &amp; b,Color,Sand &amp; Ink,,89.00,{CDN}t.jpg?a=1&amp;b=2,1,active\n"
    )
    push(feed, env, "shopify")
    assert stored(sandbox) == {
        ("tote", "tote/Sand &amp; Ink"): {
            "product_identifier": "tote",
            "variant_identifier": "tote/Sand &amp; Ink",
            "title": "Canvas Tote & Carry Bag",
            "designer": "Nord & Co",
            # decoded after the path is split: an escaped ">" stays inside its name
            "categories": ["Bags > Totes", "Bags > Totes: Canvas", "Bags & Totes"],
            "tags": ["a & b"],
            "images": [f"{CDN}t.jpg?a=1&amp;b=2"],
            "color": "Sand & Ink",
            "price": 89.0,
        }
    }


def test_merchant_center_tsv_text_is_decoded_as_the_xml_reader_decodes_it(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = tmp_path / "feed.tsv"
    feed.write_text(
        "id\tgtin\ttitle\tdescription\tlink\timage_link\tprice\tbrand\tproduct_type\n"
        f"A&amp;1\t0036&amp;\tThing &amp; Other\tSoft &lt;3\t{CDN}p?a=1&amp;b=2\t{CDN}i.jpg\t"
        "1.00 EUR\tB &amp; C\tHome &amp; Garden > Decor\n"
    )
    push(feed, env, "gmc")
    assert stored(sandbox) == {
        ("A&amp;1", "A&amp;1"): {
            "product_identifier": "A&amp;1",
            "variant_identifier": "A&amp;1",
            "title": "Thing & Other",
            "description": "Soft <3",
            "gtin": "0036&amp;",
            "link": f"{CDN}p?a=1&amp;b=2",
            "images": [f"{CDN}i.jpg"],
            "price": 1.0,
            "currency": "EUR",
            "designer": "B & C",
            "categories": ["Home & Garden", "Home & Garden: Decor"],
        }
    }


def test_a_bad_url_in_a_list_is_shown_whole_with_its_place(
    tmp_path: Path, env: dict[str, str]
) -> None:
    feed = tmp_path / "woo.csv"
    feed.write_text(
        WOO_HEADER
        + f'10,simple,snk,Sneaker,1,visible,20,,,"{WP}2026/03/sneaker-with-a-long-name.jpg, '
        '/wp-content/uploads/sneaker-side.jpg",,,,\n'
    )
    assert problems(feed, env, "woocommerce") == [
        (
            2,
            "invalid_images",
            "images must be a list of absolute http(s) URL strings, got "
            '"/wp-content/uploads/sneaker-side.jpg" (item 2 of 2)',
        )
    ]


def test_shopify_bad_image_on_an_image_only_row_is_named_at_that_row(
    tmp_path: Path, env: dict[str, str]
) -> None:
    feed = tmp_path / "products.csv"
    feed.write_text(
        SHOPIFY_HEADER
        + f"tote,Tote,Nord,,Bags,,Size,S,T-S,10,{CDN}a.jpg,1,active\n"
        + "tote,,,,,,,M,T-M,10,,,\n"
        + "tote,,,,,,,,,,images/tote-side.jpg,2,\n"
    )
    assert problems(feed, env, "shopify") == [
        (
            4,
            "invalid_images",
            "images must be a list of absolute http(s) URL strings, got 'images/tote-side.jpg' "
            "(column 'Image Src')",
        )
    ]


def test_shop_price_errors_name_the_column_and_how_to_write_the_number(
    tmp_path: Path, env: dict[str, str]
) -> None:
    shopify = tmp_path / "products.csv"
    shopify.write_text(
        SHOPIFY_HEADER + 'hat,Hat,Nord,,Hats,,Title,Default Title,H-1,"89,00",,,active\n'
    )
    woo = tmp_path / "woo.csv"
    woo.write_text(WOO_HEADER + "10,simple,cap,Cap,1,visible,1_000,,,,,,,\n")
    assert problems(shopify, env, "shopify") == [
        (
            2,
            "invalid_price",
            "price (column 'Variant Price'): '89,00' is not a number: use a dot for decimals: "
            "89.00",
        )
    ]
    assert problems(woo, env, "woocommerce") == [
        (
            2,
            "invalid_price",
            "price (column 'Regular price'): '1_000' is not a number: write it with the digits "
            "0-9 and a dot for decimals",
        )
    ]


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        st.sampled_from([*"htpsHS:/?#a.", " ", "\u2003", "\n"]),
        max_size=14,
    )
)
def test_is_absolute_url_answers_as_the_rule_does(text: str) -> None:
    assert is_absolute_url(text) == (ABSOLUTE_URL.fullmatch(text) is not None)
    url = "https://" + text
    assert is_absolute_url(url) == (ABSOLUTE_URL.fullmatch(url) is not None)


def test_woocommerce_bad_image_of_a_variable_parent_is_named_at_the_parent(
    tmp_path: Path, env: dict[str, str]
) -> None:
    feed = tmp_path / "woo.csv"
    feed.write_text(
        WOO_HEADER
        + f'11,variable,tee,Tee,1,visible,,,,"{WP}tee.jpg, tee-back.jpg",,,Size,"S, M"\n'
        + "12,variation,tee-s,,1,visible,9,,,,tee,,Size,S\n"
        + "13,variation,tee-m,,1,visible,9,,,,tee,,Size,M\n"
    )
    assert problems(feed, env, "woocommerce") == [
        (
            2,
            "invalid_images",
            "images must be a list of absolute http(s) URL strings, got 'tee-back.jpg' "
            "(column 'Images', lent to the product's variations)",
        )
    ]
