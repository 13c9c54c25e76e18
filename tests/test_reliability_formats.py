"""Reliability matrix, formats: a reader reads what it was told it reads, or says why not.

Every row runs the real ``psykhe`` as a subprocess; where sending matters, ``push`` against
the sandbox, which must receive nothing from a refused feed and exactly the records of a
read one.
"""

from __future__ import annotations

import csv
import gzip
import io
import shutil
from pathlib import Path
from typing import Any

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import psykhe

SAMPLES = Path(__file__).parent / "samples"
SHOPIFY = SAMPLES / "shopify_products.csv"
G = 'xmlns:g="http://base.google.com/ns/1.0"'
WOO_HEADER = ["ID", "Type", "SKU", "Name", "Published", "Regular price", "Parent"]


def woocommerce(*rows: dict[str, str]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, WOO_HEADER, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({"Published": "1", **row})
    return out.getvalue().encode()


def refused(
    sandbox: SandboxHandle, env: dict[str, str], *args: str
) -> tuple[str, list[dict[str, Any]]]:
    """Push; assert exit 3, no traceback and nothing created; the stderr."""
    out = psykhe("push", *args, "--mode", "soft_replace", "--yes", env=env)
    assert out.returncode == 3, out.stderr
    assert "Traceback" not in out.stderr
    assert sandbox.ingestions() == []
    return out.stderr, sandbox.requests()


def stored(sandbox: SandboxHandle) -> set[tuple[str, str]]:
    return {(p["product_identifier"], p["variant_identifier"]) for p in sandbox.products()}


# -- 2: a shop export read as another shop's ------------------------------------------------


def test_a_shopify_export_read_as_woocommerce_is_refused_naming_what_it_is(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "products.csv"
    shutil.copy(SHOPIFY, feed)
    stderr, requests = refused(sandbox, env, str(feed), "--format", "woocommerce")
    assert requests == []
    assert (
        f"psykhe: error: {feed}:1: the header has no 'SKU' or 'ID' column, which every "
        "WooCommerce products export has; it looks like a Shopify products export "
        "(--format shopify)"
    ) in stderr


def test_a_woocommerce_export_read_as_shopify_is_refused_naming_what_it_is(
    tmp_path: Path, env: dict[str, str]
) -> None:
    feed = tmp_path / "products.csv"
    feed.write_bytes(woocommerce({"ID": "1", "Type": "simple", "SKU": "a", "Name": "A"}))
    out = psykhe("validate", str(feed), "--format", "shopify", env=env)
    assert out.returncode == 3, out.stderr
    assert (
        f"{feed}:1: the header has no 'Handle' column, which every Shopify products export "
        "has; it looks like a WooCommerce products export (--format woocommerce)"
    ) in out.stderr


def test_a_shop_export_read_as_merchant_center_is_refused_naming_what_it_is(
    tmp_path: Path, env: dict[str, str]
) -> None:
    feed = tmp_path / "products.tsv"
    shutil.copy(SHOPIFY, feed)
    out = psykhe("validate", str(feed), "--format", "gmc", env=env)
    assert out.returncode == 3, out.stderr
    assert f"{feed}:1: the header has no id column" in out.stderr
    assert "it looks like a Shopify products export (--format shopify)" in out.stderr


def test_an_xml_feed_read_as_a_shop_export_is_refused_naming_what_it_is(
    tmp_path: Path, env: dict[str, str]
) -> None:
    feed = tmp_path / "products.xml"
    shutil.copy(SAMPLES / "gmc" / "products.xml", feed)
    out = psykhe("validate", str(feed), "--format", "woocommerce", env=env)
    assert out.returncode == 3, out.stderr
    assert (
        "which every WooCommerce products export has; it looks like a Google Merchant Center "
        "feed in XML (--format gmc)"
    ) in out.stderr


def test_woocommerce_rows_without_sku_or_id_are_errors_not_merged(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "wc.csv"
    feed.write_bytes(
        woocommerce(
            {"ID": "1", "Type": "simple", "SKU": "ok", "Name": "Fine", "Regular price": "5"},
            {"Type": "simple", "Name": "Nameless one", "Regular price": "5"},
            {"Type": "simple", "Name": "Nameless two", "Regular price": "6"},
            {"Type": "variable", "Name": "Nameless parent"},
            {"ID": "7", "Type": "variable", "SKU": "hood", "Name": "Hood"},
            {"Type": "variation", "Parent": "hood", "Regular price": "5"},
            {"Type": "variation", "Parent": "hood", "Regular price": "6"},
        )
    )
    stderr, _ = refused(sandbox, env, str(feed), "--format", "woocommerce")
    for line in (3, 4, 5):
        assert (
            f"{feed}:{line}: error[missing_product_identifier]: the row has neither a SKU nor "
            "an ID: nothing identifies its product"
        ) in stderr
    for line in (7, 8):  # they were both "hood/id:"
        assert (
            f"{feed}:{line}: error[variation_without_identifier]: the variation has no SKU, no ID "
            "and no attribute value: nothing tells it from its parent's other variations"
        ) in stderr


# -- 3: RSS and Atom mixed ------------------------------------------------------------------


def test_an_atom_entry_inside_an_rss_channel_is_an_error_naming_its_line(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "mix.xml"
    feed.write_text(
        f'<?xml version="1.0"?>\n<rss version="2.0" {G}><channel>\n'
        "<item><g:id>A</g:id><title>A</title></item>\n"
        '<entry xmlns="http://www.w3.org/2005/Atom"><g:id>B</g:id><title>B</title></entry>\n'
        "</channel></rss>\n"
    )
    out = psykhe("validate", str(feed), env=env)
    assert out.returncode == 3, out.stdout
    assert (
        f"{feed}:4: error[misplaced_item]: an Atom <entry> inside an RSS feed: an RSS feed's "
        "items are <item>"
    ) in out.stderr
    refused(sandbox, env, str(feed))


def test_an_rss_item_inside_an_atom_feed_is_an_error_naming_its_line(
    tmp_path: Path, env: dict[str, str]
) -> None:
    feed = tmp_path / "mix.atom"
    feed.write_text(
        f'<?xml version="1.0"?>\n<feed xmlns="http://www.w3.org/2005/Atom" {G}>\n'
        "<entry><g:id>A</g:id><title>A</title></entry>\n"
        "<item><g:id>B</g:id><title>B</title></item>\n"
        "</feed>\n"
    )
    out = psykhe("validate", str(feed), env=env)
    assert out.returncode == 3, out.stdout
    assert (
        f"{feed}:4: error[misplaced_item]: an RSS <item> inside an Atom feed: an Atom feed's "
        "items are <entry>"
    ) in out.stderr


# -- 4: a BOM opening a CSV data row ----------------------------------------------------------


def test_a_bom_opening_a_csv_data_row_is_refused_as_in_json_lines(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_bytes(
        b"\xef\xbb\xbfproduct_identifier,variant_identifier,title\n"
        b"A1,A1,One\n\xef\xbb\xbfA2,A2,Two\n"
    )
    stderr, requests = refused(sandbox, env, str(feed))
    assert requests == []
    assert (
        f"{feed}:3: error[csv_syntax]: a UTF-8 byte order mark (BOM) starts the row: it would "
        "become part of its first cell"
    ) in stderr


# -- 17: UTF-16 XML ---------------------------------------------------------------------------


def test_a_utf16_merchant_center_xml_feed_is_read(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    text = (
        '<?xml version="1.0" encoding="UTF-16"?>\n'
        f'<rss version="2.0" {G}><channel>\n'
        "<item><g:id>A-1</g:id><g:item_group_id>A</g:item_group_id><title>Été</title>"
        "<g:price>10.00 EUR</g:price></item>\n"
        "<item><g:id>B</g:id><title>Zürich</title></item>\n"
        "</channel></rss>\n"
    )
    for encoding in ("utf-16", "utf-16-be"):  # little-endian with a BOM; big-endian without
        feed = tmp_path / f"{encoding}.xml"
        data = text.encode(encoding)
        feed.write_bytes(data if encoding == "utf-16" else b"\xfe\xff" + data)
        out = psykhe("validate", str(feed), "--json", env=env)
        assert out.returncode == 0, out.stderr
        assert '"variants":2' in out.stdout
    out = psykhe("push", str(feed), env=env)
    assert out.returncode == 0, out.stderr
    titles = {p["variant_identifier"]: p["data"]["title"] for p in sandbox.products()}
    assert titles == {"A-1": "Été", "B": "Zürich"}


def test_a_utf16_csv_feed_is_refused_saying_how_to_convert_it(
    tmp_path: Path, env: dict[str, str]
) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_bytes("product_identifier,title\nA,Été\n".encode("utf-16"))
    out = psykhe("validate", str(feed), env=env)
    assert out.returncode == 3, out.stderr
    assert f"{feed}:1: the feed is UTF-16; psykhe reads UTF-8" in out.stderr
    assert f"iconv -f UTF-16 -t UTF-8 {feed} > " in out.stderr


def test_a_utf16_json_lines_feed_is_refused_once_saying_how_to_convert_it(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.jsonl.gz"
    feed.write_bytes(gzip.compress('{"product_identifier": "A"}\n'.encode("utf-16") * 3))
    stderr, requests = refused(sandbox, env, str(feed))
    assert requests == []
    assert f"psykhe: error: {feed}:1: the feed is UTF-16; psykhe reads UTF-8" in stderr
    assert f"gunzip -c {feed} | iconv -f UTF-16 -t UTF-8 > feed-utf8.jsonl" in stderr
    assert "invalid_utf8" not in stderr


# -- 18: a variation whose parent is a simple product ---------------------------------------


def test_woocommerce_a_variation_of_a_simple_product_names_both_lines(
    tmp_path: Path, env: dict[str, str]
) -> None:
    feed = tmp_path / "wc.csv"
    feed.write_bytes(
        woocommerce(
            {"ID": "1", "Type": "simple", "SKU": "mug", "Name": "Mug", "Regular price": "5"},
            {"ID": "2", "Type": "variation", "SKU": "mug-red", "Parent": "mug"},
            {"ID": "3", "Type": "variation", "SKU": "cup-red", "Parent": "id:4"},
            {"ID": "4", "Type": "simple", "SKU": "cup", "Name": "Cup", "Regular price": "5"},
        )
    )
    out = psykhe("validate", str(feed), "--format", "woocommerce", env=env)
    assert out.returncode == 3, out.stderr
    assert (
        f"{feed}:3: error[parent_not_variable]: the variation's parent 'mug' (line 2) is a "
        "simple product; variations need a variable parent"
    ) in out.stderr
    assert (
        f"{feed}:4: error[parent_not_variable]: the variation's parent 'id:4' (line 5) is a "
        "simple product; variations need a variable parent"
    ) in out.stderr


# -- 19: one column feeding two fields ------------------------------------------------------


def test_one_csv_column_may_feed_two_fields(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text("sku,title,price\nS-1,Shirt,10\nS-2,Scarf,12\n")
    args = ("--map", "sku=product_identifier", "--map", "sku=variant_identifier")
    out = psykhe("push", str(feed), *args, env=env)
    assert out.returncode == 0, out.stderr
    assert stored(sandbox) == {("S-1", "S-1"), ("S-2", "S-2")}


def test_a_merchant_center_column_mapped_twice_is_a_usage_error_saying_why(
    tmp_path: Path, env: dict[str, str]
) -> None:
    feed = tmp_path / "feed.tsv"
    feed.write_text("sku\ttitle\tlink\timage_link\nS-1\tShirt\thttps://a\thttps://a/1.jpg\n")
    args = ("--format", "gmc", "--map", "sku=id", "--map", "sku=item_group_id")
    out = psykhe("validate", str(feed), *args, env=env)
    assert out.returncode == 2, out.stderr
    assert "--map sku=id: 'sku' is mapped twice; in a Merchant Center feed a column is" in (
        out.stderr
    )
