"""Google Merchant Center feeds pushed end to end: the CLI as a subprocess, into the sandbox.

The samples in tests/samples/gmc/ are written from Merchant Center's product data
specification; each stored record is checked field by field against what the mapping says.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import FAST, psykhe

SAMPLES = Path(__file__).parent / "samples" / "gmc"

DRESS = {
    "product_identifier": "DR-1",
    "title": "Silk Wrap Dress",
    "images": [
        "https://cdn.example.com/dr-1/front.jpg",
        "https://cdn.example.com/dr-1/back.jpg",
        "https://cdn.example.com/dr-1/side.jpg",
    ],
    "designer": "Maison Alba",
    "color": "Ivory",
    "price": 295.0,
    "currency": "USD",
    "categories": ["Women", "Women: Clothing", "Women: Clothing: Dresses"],
    "description": "Bias-cut silk, with a tie waist. Dry clean only.",
    "condition": "new",
    "google_product_category": "Apparel & Accessories > Clothing > Dresses",
    "gender": "female",
    "age_group": "adult",
}
TSV = {
    ("DR-1", "DR-1-S"): DRESS
    | {
        "variant_identifier": "DR-1-S",
        "sizes": ["S"],
        "sale_price": 236.0,
        "link": "https://shop.example.com/p/dr-1?size=S",
        "availability": "in stock",
        "gtin": "00400123456784",
        "mpn": "DR1-S",
    },
    ("DR-1", "DR-1-M"): DRESS
    | {
        "variant_identifier": "DR-1-M",
        "sizes": ["M"],
        "link": "https://shop.example.com/p/dr-1?size=M",
        "availability": "out of stock",
        "gtin": "00400123456791",
        "mpn": "DR1-M",
    },
    # stand-alone items: no item_group_id, so the id is the product too
    ("BELT-9", "BELT-9"): {
        "product_identifier": "BELT-9",
        "variant_identifier": "BELT-9",
        "title": "Leather Belt",
        "images": ["https://cdn.example.de/belt-9.jpg"],
        "designer": "Gürtlerei Berg",
        "color": "Braun",
        "price": 49.9,
        "currency": "EUR",
        "categories": ["Accessoires", "Accessoires: Gürtel"],
        "description": "Vegetable-tanned leather, brass buckle.",
        "link": "https://shop.example.de/p/belt-9",
        "availability": "in stock",
        "gtin": "4006381333931",
        "condition": "new",
        "google_product_category": "Apparel & Accessories > Clothing Accessories > Belts",
        "gender": "unisex",
        "age_group": "adult",
    },
    ("SCARF-2", "SCARF-2"): {
        "product_identifier": "SCARF-2",
        "variant_identifier": "SCARF-2",
        "title": "Cashmere Scarf",
        "images": [
            "https://cdn.example.co.uk/scarf-2.jpg",
            "https://cdn.example.co.uk/scarf-2-detail.jpg",
        ],
        "designer": "Loch & Loom",
        "color": "Heather Grey",
        "sizes": ["One Size"],
        "price": 1200.0,
        "currency": "GBP",
        "sale_price": 999.99,
        "categories": ["Accessories", "Accessories: Scarves"],
        "description": "Hand-finished edges.",
        "link": "https://shop.example.co.uk/p/scarf-2",
        "availability": "preorder",
        "mpn": "LL-SC2",
        "condition": "new",
        "google_product_category": (
            "Apparel & Accessories > Clothing Accessories > Scarves & Shawls"
        ),
        "gender": "unisex",
        "age_group": "adult",
    },
}
TEMPLATE_CSV = {
    ("TEE-1", "TEE-1-L"): {
        "product_identifier": "TEE-1",
        "variant_identifier": "TEE-1-L",
        "title": "Organic Tee",
        "images": [
            "https://cdn.example.com/tee-1.jpg",
            "https://cdn.example.com/tee-1-b.jpg",
            "https://cdn.example.com/tee-1-c.jpg",
        ],
        "designer": "Alpen Cotton",
        "color": "Navy",
        "sizes": ["L"],
        "price": 25.0,
        "currency": "CHF",
        "categories": ["Men", "Men: Tops", "Men: Tops: T-Shirts"],
        "availability": "in stock",
        "gtin": "07612345678900",
        "shipping(country:service:price)": "CH:Standard:7.00 CHF",
    },
    ("MUG-3", "MUG-3"): {
        "product_identifier": "MUG-3",
        "variant_identifier": "MUG-3",
        "title": "Enamel Mug, blue rim",
        "images": ["https://cdn.example.com/mug-3.jpg"],
        "designer": "Alpen Cotton",
        "color": "Blue",
        "price": 12.0,
        "currency": "CHF",
        "categories": ["Home", "Home: Kitchen"],
        "availability": "in stock",
    },
}
BOWLS = [
    "Home & Garden",
    "Home & Garden: Kitchen & Dining",
    "Home & Garden: Kitchen & Dining: Bowls",
]
RSS = {
    ("BOWL-7", "BOWL-7-SM"): {
        "product_identifier": "BOWL-7",
        "variant_identifier": "BOWL-7-SM",
        "title": "Glazed Bowl",
        "images": [
            "https://cdn.kobo.example.jp/bowl-7.jpg",
            "https://cdn.kobo.example.jp/bowl-7-top.jpg",
            "https://cdn.kobo.example.jp/bowl-7-side.jpg",
        ],
        "designer": "Kobo",
        "color": "Celadon",
        "sizes": ["Small"],
        "price": 4800.0,
        "currency": "JPY",
        "sale_price": 3900.0,
        "categories": BOWLS,
        "link": "https://kobo.example.jp/bowl-7?size=sm",
        "description": "<p>Hand-thrown stoneware.</p>\n<p>Dishwasher safe.</p>",
        "availability": "in stock",
        "gtin": "04901234567894",
        "condition": "new",
        "shipping(country:service:price)": "JP:Standard:600 JPY",
    },
    ("BOWL-7", "BOWL-7-LG"): {
        "product_identifier": "BOWL-7",
        "variant_identifier": "BOWL-7-LG",
        "title": "Glazed Bowl",
        "images": ["https://cdn.kobo.example.jp/bowl-7.jpg"],
        "designer": "Kobo",
        "color": "Celadon",
        "sizes": ["Large"],
        "price": 6200.0,
        "currency": "JPY",
        "categories": BOWLS,
        "link": "https://kobo.example.jp/bowl-7?size=lg",
        "availability": "backorder",
    },
    ("VASE-2", "VASE-2"): {
        "product_identifier": "VASE-2",
        "variant_identifier": "VASE-2",
        "title": "Bud Vase",
        "images": ["https://cdn.kobo.example.jp/vase-2.jpg"],
        "designer": "Kobo",
        "price": 35.0,
        "currency": "USD",
        "categories": ["Home & Garden", "Home & Garden: Decor", "Home & Garden: Decor: Vases"],
        "link": "https://kobo.example.jp/vase-2",
        "availability": "in stock",
        "identifier_exists": "no",
    },
}
ATOM = {
    ("JKT-4", "JKT-4-BLUE-M"): {
        "product_identifier": "JKT-4",
        "variant_identifier": "JKT-4-BLUE-M",
        "title": "Shell Jacket",
        "images": [
            "https://cdn.nordlys.example.no/jkt-4-blue.jpg",
            "https://cdn.nordlys.example.no/jkt-4-blue-back.jpg",
        ],
        "designer": "Nordlys",
        "color": "Fjord Blue",
        "sizes": ["M"],
        "price": 2499.0,
        "currency": "NOK",
        "sale_price": 1999.0,
        "categories": ["Outdoor", "Outdoor: Jackets"],
        "link": "https://nordlys.example.no/jkt-4?c=blue&s=m",
        "description": "Three-layer shell, taped seams.",
        "availability": "in stock",
        "gtin": "07070000000013",
    },
    ("CAP-1", "CAP-1"): {
        "product_identifier": "CAP-1",
        "variant_identifier": "CAP-1",
        "title": "Wool Cap",
        "images": ["https://cdn.nordlys.example.no/cap-1.jpg"],
        "designer": "Nordlys",
        "price": 299.0,
        "currency": "NOK",
        "link": "https://nordlys.example.no/cap-1",
        "availability": "out of stock",
    },
}


def stored(sandbox: SandboxHandle) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (p["product_identifier"], p["variant_identifier"]): p["data"]
        for p in sandbox.products(active=True)
    }


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("products.tsv", TSV),
        ("template.csv", TEMPLATE_CSV),
        ("products.xml", RSS),
        ("products.atom", ATOM),
    ],
)
def test_push_gmc_sample_stores_every_field(
    sandbox: SandboxHandle,
    env: dict[str, str],
    sample: str,
    expected: dict[tuple[str, str], dict[str, Any]],
) -> None:
    feed = SAMPLES / sample
    out = psykhe("push", str(feed), *FAST, env=env)
    assert out.returncode == 0, out.stderr
    assert f"psykhe: reading {feed} as a Google Merchant Center feed\n" in out.stderr
    assert f"upserted: {len(expected)}\n" in out.stdout
    assert stored(sandbox) == expected


def test_push_gmc_tsv_from_stdin_gzipped_is_told_by_its_header(
    sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    data = gzip.compress((SAMPLES / "products.tsv").read_bytes())
    out = psykhe("push", "-", *FAST, env=env, input=data)
    assert out.returncode == 0, out.stderr
    assert "psykhe: reading <stdin> as a Google Merchant Center feed\n" in out.stderr
    assert stored(sandbox) == TSV


@pytest.mark.parametrize("sample", ["entities.xml", "external.xml"])
def test_push_gmc_xml_with_a_doctype_sends_nothing(
    sandbox: SandboxHandle, env: dict[str, str], sample: str
) -> None:
    out = psykhe("push", str(SAMPLES / sample), *FAST, env=env)
    assert out.returncode == 3
    assert f"{sample}:2: the XML feed has a DOCTYPE, refused" in out.stderr
    assert "aaaaaaaa" not in out.stderr + out.stdout
    assert sandbox.requests() == []
    assert sandbox.products() == []


def test_push_gmc_skip_invalid_writes_the_item_to_rejects(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    bad = "<item><g:id>B</g:id><g:price>12,50 EUR</g:price></item>"
    feed = tmp_path / "feed.xml"
    feed.write_text(
        '<rss xmlns:g="http://base.google.com/ns/1.0" version="2.0"><channel>\n'
        "<item><g:id>A</g:id><g:price>12.50 EUR</g:price></item>\n"
        f"{bad}\n</channel></rss>\n"
    )
    rejects = tmp_path / "rejects.jsonl"
    out = psykhe("push", str(feed), *FAST, "--skip-invalid", "--rejects", str(rejects), env=env)
    assert out.returncode == 0, out.stderr
    assert f"{feed}:3: error[invalid_price]: price: '12,50 EUR' is not a price" in out.stderr
    assert list(stored(sandbox)) == [("A", "A")]
    assert stored(sandbox)[("A", "A")]["currency"] == "EUR"
    (row,) = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert (row["line"], row["input"]) == (3, bad)
