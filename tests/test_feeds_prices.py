"""One code for one mistake, whatever the format: a price written with a decimal comma is
``invalid_price`` in a Shopify, WooCommerce, Merchant Center, CSV and JSON Lines feed alike,
and each message names where the price came from and how to write it. The CLI runs as a
subprocess."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.helpers import psykhe

SHOPIFY = (
    "Handle,Title,Vendor,Option1 Name,Option1 Value,Variant SKU,Variant Price,Image Src,Status\n"
    'hat,Hat,Nord,Title,Default Title,H-1,"89,00",https://a.example/h.jpg,active\n'
)
WOO = (
    "ID,Type,SKU,Name,Published,Visibility in catalog,Regular price,Images\n"
    '10,simple,cap,Cap,1,visible,"89,00",https://a.example/c.jpg\n'
)
GMC = (
    "id\ttitle\tlink\timage_link\tprice\nA\tT\thttps://a.example\thttps://a.example/a.jpg\t89,00\n"
)
CSV = (
    "product_identifier,variant_identifier,title,images,Preis\n"
    'A,A-1,Coat,https://a.example/a.jpg,"89,00"\n'
)
JSONL = (
    '{"product_identifier":"A","variant_identifier":"A-1","title":"Coat",'
    '"images":["https://a.example/a.jpg"],"price":"89,00"}\n'
)


def problems(feed: Path, env: dict[str, str], *options: str) -> list[tuple[int, str, str]]:
    out = psykhe("validate", str(feed), *options, "--json", env=env)
    assert out.returncode == 3, out.stderr
    return [(p["line"], p["code"], p["message"]) for p in orjson.loads(out.stdout)["problems"]]


def test_a_decimal_comma_price_is_invalid_price_in_every_format(
    tmp_path: Path, env: dict[str, str]
) -> None:
    found = {}
    for name, text, options in (
        ("shopify.csv", SHOPIFY, ("--format", "shopify")),
        ("woo.csv", WOO, ("--format", "woocommerce")),
        ("gmc.tsv", GMC, ("--format", "gmc")),
        ("feed.csv", CSV, ("--map", "Preis=price")),
        ("feed.jsonl", JSONL, ()),
    ):
        feed = tmp_path / name
        feed.write_text(text)
        found[name] = problems(feed, env, *options)
    assert found == {
        "shopify.csv": [
            (
                2,
                "invalid_price",
                "price (column 'Variant Price'): '89,00' is not a number: use a dot for "
                "decimals: 89.00",
            )
        ],
        "woo.csv": [
            (
                2,
                "invalid_price",
                "price (column 'Regular price'): '89,00' is not a number: use a dot for "
                "decimals: 89.00",
            )
        ],
        "gmc.tsv": [
            (
                2,
                "invalid_price",
                "price: '89,00' is not a price such as '15.00 USD' (a number with a dot for "
                "decimals, then the ISO 4217 currency code)",
            )
        ],
        "feed.csv": [
            (
                2,
                "invalid_price",
                "price (column 'Preis'): '89,00' is not a number: use a dot for decimals: 89.00",
            )
        ],
        "feed.jsonl": [
            (
                1,
                "invalid_price",
                'price must be a finite number >= 0, got "89,00": write it as a JSON number '
                "with a dot for decimals: 89.00",
            )
        ],
    }
