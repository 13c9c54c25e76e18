"""Shop exports pushed end to end: the CLI as a subprocess, the stored records checked field by
field in the sandbox — each failure the Shopify and WooCommerce samples used to show."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import FAST, psykhe

SAMPLES = Path(__file__).parent / "samples"
SHOPIFY = SAMPLES / "shopify_products.csv"
WOOCOMMERCE = SAMPLES / "woocommerce_products.csv"
CDN = "https://cdn.shopify.com/s/files/1/0601/2222/files/"
WP = "https://shop.example.com/wp-content/uploads/2026/03/"


def stored(sandbox: SandboxHandle) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (p["product_identifier"], p["variant_identifier"]): p["data"]
        for p in sandbox.products(active=True)
    }


def push(feed: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    out = psykhe("push", str(feed), *FAST, "--json", *args, env=env)
    assert out.returncode == 0, out.stderr
    report: dict[str, Any] = orjson.loads(out.stdout)
    return report


def shirt(sku: str, color: str, size: str) -> dict[str, Any]:
    return {
        "product_identifier": "linen-shirt",
        "variant_identifier": sku,
        "title": "Linen Shirt",
        "designer": "Atelier Nord",
        "categories": [
            "Apparel & Accessories",
            "Apparel & Accessories: Clothing",
            "Apparel & Accessories: Clothing: Shirts & Tops",
            "Shirts",
        ],
        "tags": ["linen", "summer", "bestseller"],
        "images": [
            f"{CDN}linen-shirt-{color.lower()}.jpg",
            f"{CDN}linen-shirt-front.jpg",
            f"{CDN}linen-shirt-back.jpg",
            f"{CDN}linen-shirt-detail.jpg",
        ],
        "color": color,
        "sizes": [size],
        "price": 89.0,
    }


def beanie(size: str, colour: str) -> dict[str, Any]:
    return {
        "product_identifier": "wool-beanie",
        "variant_identifier": f"wool-beanie/{size} / {colour}",
        "title": "Merino Beanie",
        "designer": "Atelier Nord",
        "categories": [
            "Apparel & Accessories",
            "Apparel & Accessories: Clothing Accessories",
            "Apparel & Accessories: Clothing Accessories: Hats",
            "Hats",
        ],
        "tags": ["winter"],
        "images": [f"{CDN}beanie-1.jpg", f"{CDN}beanie-2.jpg", f"{CDN}beanie-3.jpg"],
        "sizes": [size],
        "color": colour,
        "price": 35.5,
        "compare_at_price": 45.0,
    }


def dress(sku: str, color: str, size: str) -> dict[str, Any]:
    other = "black" if color == "Red" else "red"
    return {
        "product_identifier": "silk-dress",
        "variant_identifier": sku,
        "title": "Silk Slip Dress",
        "designer": "Maison Ourse",
        "categories": [
            "Apparel & Accessories",
            "Apparel & Accessories: Clothing",
            "Apparel & Accessories: Clothing: Dresses",
            "Dresses",
        ],
        "images": [f"{CDN}silk-dress-{color.lower()}.jpg", f"{CDN}silk-dress-{other}.jpg"],
        "color": color,
        "sizes": [size],
        "price": 310.0,
    }


CANDLE = {
    "product_identifier": "soy-candle",
    "variant_identifier": "CANDLE-FIG",
    "title": "Soy Candle — Fig",
    "designer": "Maison Ourse",
    "categories": [
        "Home & Garden",
        "Home & Garden: Decor",
        "Home & Garden: Decor: Candles",
        "Candles",
    ],
    "tags": ["home"],
    "images": [f"{CDN}candle.jpg"],
    "price": 24,
    "compare_at_price": 30.0,
}
SHOPIFY_RECORDS = [
    *(shirt(f"LS-{c[:3].upper()}-{s}", c, s) for c in ("Ecru", "Navy") for s in "SML"),
    *(beanie(s, c) for s in ("S/M", "L/XL") for c in ("Grey", "Black")),
    CANDLE,
    *(dress(f"SD-{c[0]}{s}", c, s) for c in ("Red", "Black") for s in ("36", "38")),
]


def test_push_shopify_export_stores_one_whole_record_per_variant(
    sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    report = push(SHOPIFY, env, "--format", "shopify")
    # image-only rows are no records; every variant has the product's title, designer,
    # categories and all its images; sizes are sizes even when Size is the first option;
    # SKU-less variants are told apart; archived and draft products are left out
    expected = {(r["product_identifier"], r["variant_identifier"]): r for r in SHOPIFY_RECORDS}
    assert stored(sandbox) == expected
    assert (report["products"], report["variants"], report["left_out"]) == (4, 15, 2)


def test_push_shopify_export_is_detected_from_its_header(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = tmp_path / "products_export_1.csv"
    shutil.copy(SHOPIFY, feed)
    out = psykhe("push", str(feed), *FAST, env=env)
    assert out.returncode == 0, out.stderr
    assert "left out (inactive)" in out.stdout
    assert len(stored(sandbox)) == 15


def test_push_shopify_include_inactive_sends_archived_and_draft_products(
    sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    report = push(SHOPIFY, env, "--format", "shopify", "--include-inactive")
    keys = set(stored(sandbox))
    assert {("archived-tote", "TOTE-SAND"), ("archived-tote", "TOTE-OLIVE")} <= keys
    assert ("draft-scarf", "SCARF-1") in keys
    assert (report["variants"], report["left_out"]) == (18, 0)


HOODIE = {
    "product_identifier": "woo-hoodie",
    "title": "Hoodie",
    "designer": "Woo",
    "categories": ["Clothing", "Clothing: Hoodies", "Sale"],
    "tags": ["fleece"],
    "price": 45,
}
HOODIE_IMAGES = [f"{WP}hoodie-blue-1.jpg", f"{WP}hoodie-2.jpg", f"{WP}hoodie-green-1.jpg"]
VNECK = {
    "product_identifier": "id:20",
    "title": "V-Neck T-Shirt",
    "designer": "Woo",
    "categories": ["Clothing", "Clothing: Tshirts"],
}
WOOCOMMERCE_RECORDS = [
    {
        "product_identifier": "woo-beanie",
        "variant_identifier": "woo-beanie",
        "title": "Beanie",
        "designer": "Woo",
        "categories": ["Clothing", "Clothing: Accessories"],
        "tags": ["knit", "winter"],
        "images": [f"{WP}beanie-2.jpg"],
        "color": "Red",
        "price": 20,
        "sale_price": 18,
    },
    HOODIE
    | {
        "variant_identifier": "woo-hoodie-blue-s",
        "images": HOODIE_IMAGES,
        "sizes": ["S"],
        "color": "Blue",
    },
    HOODIE
    | {
        "variant_identifier": "woo-hoodie/Green / S",
        "images": [f"{WP}hoodie-green-1.jpg", f"{WP}hoodie-2.jpg", f"{WP}hoodie-blue-1.jpg"],
        "sizes": ["S"],
        "color": "Green",
        "sale_price": 40,
    },
    HOODIE
    | {
        "variant_identifier": "woo-hoodie/Green / M",
        "images": [f"{WP}hoodie-green-1.jpg", f"{WP}hoodie-2.jpg", f"{WP}hoodie-blue-1.jpg"],
        "sizes": ["M"],
        "color": "Green",
    },
    VNECK
    | {
        "variant_identifier": "id:20/M / Blue",
        "images": [f"{WP}vnech-tee-blue-1.jpg", f"{WP}vneck-tee-2.jpg"],
        "sizes": ["M"],
        "color": "Blue",
        "price": 15,
    },
    VNECK
    | {
        "variant_identifier": "woo-vneck-tee-red-l",
        "images": [f"{WP}vneck-tee-2.jpg"],
        "sizes": ["L"],
        "color": "Red",
        "price": 20,
    },
    {
        "product_identifier": "wp-pennant",
        "variant_identifier": "wp-pennant",
        "title": "WordPress Pennant",
        "categories": ["Decor"],
        "images": [f"{WP}pennant-1.jpg"],
        "price": 11.05,
    },
]


def test_push_woocommerce_export_stores_variations_with_their_parents_fields(
    sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    report = push(WOOCOMMERCE, env, "--format", "woocommerce")
    # simple and variable products in one file; SKU-less variations do not collapse; every
    # variation has its parent's images and categories; private/draft/hidden left out
    expected = {(r["product_identifier"], r["variant_identifier"]): r for r in WOOCOMMERCE_RECORDS}
    assert stored(sandbox) == expected
    assert (report["products"], report["variants"], report["left_out"]) == (4, 7, 3)


def test_push_woocommerce_export_is_detected_and_include_inactive_keeps_all(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = tmp_path / "wc-product-export-29-11-2026.csv"
    shutil.copy(WOOCOMMERCE, feed)
    report = push(feed, env, "--include-inactive")
    keys = set(stored(sandbox))
    assert {("woo-hoodie", "woo-hoodie-red-s"), ("woo-album", "woo-album")} <= keys
    assert ("woo-polo", "woo-polo") in keys
    assert (report["variants"], report["left_out"]) == (10, 0)


def test_validate_woocommerce_variation_before_its_parent_names_both_lines(
    tmp_path: Path, env: dict[str, str]
) -> None:
    header, *lines = WOOCOMMERCE.read_bytes().split(b"\n")
    # the first hoodie variation (one physical line) moved above the beanie
    (moved,) = [line for line in lines if line.startswith(b"12,variation,woo-hoodie-blue-s,")]
    feed = tmp_path / "wc.csv"
    feed.write_bytes(b"\n".join([header, moved, *(line for line in lines if line != moved)]))
    out = psykhe("validate", str(feed), "--format", "woocommerce", env=env)
    assert out.returncode == 3
    assert (
        f"{feed}:2: error[variation_before_parent]: variation comes before its parent "
        "'woo-hoodie' (line 5)"
    ) in out.stderr


def test_validate_shop_exports_count_the_products_left_out(env: dict[str, str]) -> None:
    for feed, counts in ((SHOPIFY, (26, 15, 2)), (WOOCOMMERCE, (16, 7, 3))):
        out = psykhe("validate", str(feed), "--json", env=env)
        assert out.returncode == 0, out.stderr
        report = orjson.loads(out.stdout)
        assert (report["lines"], report["variants"], report["left_out"]) == counts
    out = psykhe("validate", str(SHOPIFY), env=env)
    assert "left out (inactive): 2\n" in out.stdout
