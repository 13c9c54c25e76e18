"""The format registry: names, detection from content, and the one dispatch to row readers."""

from __future__ import annotations

from pathlib import Path

import pytest

from psykhe_cli.cli import run
from psykhe_cli.feeds import FORMATS, FeedSource, detect_format
from psykhe_cli.feeds.formats import describe, detect, row_reader

GMC_TSV = (
    b"id\ttitle\tprice\timage_link\tavailability\nA1\tDress\t10.00 USD\thttps://a/1.jpg\tin stock\n"
)
SHOPIFY = b"Handle,Title,Vendor,Variant SKU,Variant Price\nshirt,Shirt,Acme,S-1,10\n"
WOOCOMMERCE = b"ID,Type,SKU,Name,Parent,Regular price\n1,simple,W-1,Mug,,4\n"


def test_detect_formats_from_the_content() -> None:
    assert detect(GMC_TSV, None) == "gmc"
    assert detect(b"\xef\xbb\xbf" + GMC_TSV, "tsv") == "gmc"
    assert detect(GMC_TSV.replace(b"\t", b","), "csv") == "gmc"
    assert detect(b"ID [id]\tTitle [title]\tImage link [image_link]\tLink [link]\n", None) == (
        "gmc"
    )
    assert detect(b'<?xml version="1.0"?>\n<rss version="2.0">', None) == "gmc"
    assert detect(b"<feed xmlns='http://www.w3.org/2005/Atom'>", None) == "gmc"
    assert detect(SHOPIFY, "csv") == "shopify"
    assert detect(WOOCOMMERCE, None) == "woocommerce"


def test_detect_keeps_plain_feeds_as_before() -> None:
    assert detect(b"product_identifier,title,price\n", None) == "csv"
    assert detect(b"product_identifier\ttitle\n", None) == "tsv"
    assert detect(b'{"product_identifier": "A"}\n', None) == "jsonl"
    # a generic CSV with an id column is not taken for a Merchant Center feed
    assert detect(b"id,title,price,product_identifier\n", "csv") == "csv"
    # the extension says JSON Lines: the content is not second-guessed
    assert detect(GMC_TSV, "jsonl") == "jsonl"


def test_detect_format_prefers_the_flag(tmp_path: Path) -> None:
    assert detect_format(FeedSource("x.tsv", "csv"), GMC_TSV) == "csv"
    assert detect_format(FeedSource("feed.xml"), b"") == "gmc"


def test_every_format_has_a_description() -> None:
    assert [describe(fmt) for fmt in FORMATS][3:] == [
        "a Google Merchant Center feed",
        "a Shopify products export",
        "a WooCommerce products export",
    ]


def test_row_reader_is_refused_for_json_lines() -> None:
    with pytest.raises(ValueError):
        row_reader("jsonl", [b""], FeedSource("x.jsonl"))


def test_row_reader_gives_the_format_to_its_factory() -> None:
    # a .txt file read as tsv: the tab comes from the format, not the extension
    reader = row_reader("tsv", [b"product_identifier\ttitle\nA\tx,y\n"], FeedSource("f.txt"))
    rows = list(reader)
    assert [row.record for row in rows] == [{"product_identifier": "A", "title": "x,y"}]
    assert (rows[0].line, reader.lines_read) == (2, 1)


def test_validate_says_which_format_it_detected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = tmp_path / "feed.tsv"
    feed.write_bytes(GMC_TSV)
    assert run(["validate", str(feed)]) == 0
    out, err = capsys.readouterr()
    assert err == f"psykhe: reading {feed} as a Google Merchant Center feed\n"
    assert "lines: 1\nproducts: 1\nvariants: 1\n" in out


def test_validate_says_nothing_when_the_format_was_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = tmp_path / "feed.tsv"
    feed.write_bytes(GMC_TSV)
    assert run(["validate", "--format", "gmc", str(feed)]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(("content", "name"), [(SHOPIFY, "Shopify"), (WOOCOMMERCE, "WooCommerce")])
def test_shop_exports_are_read_by_their_readers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, name: str
) -> None:
    feed = tmp_path / "export.csv"
    feed.write_bytes(content)
    assert run(["validate", str(feed)]) == 0
    out, err = capsys.readouterr()
    assert err.startswith(f"psykhe: reading {feed} as a {name} products export\n")
    assert "lines: 1\nproducts: 1\nvariants: 1\n" in out


def test_detect_utf16_xml_with_or_without_a_bom() -> None:
    text = '<?xml version="1.0" encoding="UTF-16"?>\n<rss version="2.0">'
    for data in (text.encode("utf-16"), text.encode("utf-16-le"), text.encode("utf-16-be")):
        assert detect(data, None) == "gmc"
    assert detect('{"a": "<"}'.encode("utf-16"), None) != "gmc"
