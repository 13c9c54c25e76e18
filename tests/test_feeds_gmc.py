"""Google Merchant Center feeds: attribute names, prices, categories, XML read streaming."""

from __future__ import annotations

import contextlib
import gc
from pathlib import Path
from xml.parsers import expat

import pytest

from psykhe_cli.errors import InputError, UsageError
from psykhe_cli.feeds import FeedSource
from psykhe_cli.feeds.delimited import Row
from psykhe_cli.feeds.formats import row_reader
from psykhe_cli.feeds.gmc_fields import attribute_name, category_paths, is_gmc_header, parse_price

SAMPLES = Path(__file__).parent / "samples" / "gmc"
G = 'xmlns:g="http://base.google.com/ns/1.0"'


def read(data: bytes, name: str = "feed.xml", chunk: int = 1 << 20) -> list[Row]:
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    return list(row_reader("gmc", chunks, FeedSource(name)))


def rss(*items: str) -> bytes:
    body = "".join(f"<item>{item}</item>\n" for item in items)
    head = f'<?xml version="1.0"?>\n<rss {G} version="2.0"><channel>\n'
    return f"{head}{body}</channel></rss>\n".encode()


@pytest.mark.parametrize(
    "cell",
    [
        "image_link",
        "image link",
        "Image Link",
        "g:image_link",
        "Image link [image_link]",
        " IMAGE_LINK ",
    ],
)
def test_attribute_name_accepts_the_spellings_merchant_center_accepts(cell: str) -> None:
    assert attribute_name(cell) == "image_link"


def test_is_gmc_header_needs_id_and_two_telling_attributes() -> None:
    assert is_gmc_header(["id", "title", "link", "image_link"])
    assert not is_gmc_header(["id", "title", "link", "price"])
    assert not is_gmc_header(["product_identifier", "image_link", "link"])
    assert not is_gmc_header(["product_identifier", "id", "image_link", "link"])


def test_parse_price_keeps_the_currency() -> None:
    assert parse_price("price", "295.00 USD") == (295.0, "USD")
    assert parse_price("price", "4800 JPY") == (4800.0, "JPY")
    assert parse_price("price", "EUR 9.5") == (9.5, "EUR")
    assert parse_price("price", "12") == (12.0, None)


@pytest.mark.parametrize(
    "text", ["1,000.00 USD", "1_000 USD", "١٢ USD", "12.00 US Dollars", "-1 USD"]
)
def test_parse_price_refuses_what_is_not_a_price(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a price such as '15\.00 USD'"):
        parse_price("price", text)


def test_category_paths_split_product_types_on_commas_as_merchant_center_does() -> None:
    assert category_paths(["Home > Women > Dresses, Sale > Dresses"]) == [
        "Home",
        "Home: Women",
        "Home: Women: Dresses",
        "Sale",
        "Sale: Dresses",
    ]


def test_category_paths_include_ancestors_once() -> None:
    assert category_paths(["A > B > C", "A > B > D", " X "]) == [
        "A",
        "A: B",
        "A: B: C",
        "A: B: D",
        "X",
    ]


def test_tsv_rows_keep_their_source_lines_and_bom_is_ignored() -> None:
    rows = read((SAMPLES / "products.tsv").read_bytes(), "products.tsv")
    assert [(row.line, row.error) for row in rows] == [(2, None), (3, None), (4, None), (5, None)]
    assert rows[0].raw.startswith(b"DR-1-S\tDR-1\t")


def test_tsv_two_columns_naming_one_attribute_is_an_input_error() -> None:
    with pytest.raises(InputError, match="columns 'image_link' and 'Image link' both name"):
        read(b"id\timage_link\tlink\tImage link\nA\thttps://a/1\thttps://a\thttps://a/2\n", "f.tsv")


def test_a_bad_price_is_an_error_on_its_row_only() -> None:
    data = b"id\tlink\timage_link\tprice\nA\tl\ti\t1,00 EUR\nB\tl\ti\t1.00 EUR\n"
    rows = read(data, "f.tsv")
    assert rows[0].error == (
        "invalid_price",
        "price: '1,00 EUR' is not a price such as '15.00 USD' (a number with a dot for "
        "decimals, then the ISO 4217 currency code)",
    )
    assert rows[1].record is not None and rows[1].record["price"] == 1.0


def test_sale_price_in_another_currency_is_an_error() -> None:
    (row,) = read(rss("<g:id>A</g:id><g:price>10 USD</g:price><g:sale_price>8 EUR</g:sale_price>"))
    assert row.error == (
        "invalid_price",
        "sale_price is in EUR but price is in USD: one item has one currency",
    )


def test_xml_read_byte_by_byte_gives_the_same_rows() -> None:
    data = (SAMPLES / "products.xml").read_bytes()
    whole = read(data)
    assert [row.line for row in whole] == [7, 32, 45]
    assert read(data, chunk=1) == whole
    assert whole[2].raw.startswith(b"<item>\n      <g:id>VASE-2</g:id>")
    assert whole[2].raw.endswith(b"</item>")


def test_xml_items_are_handed_on_as_they_end() -> None:
    # the second item is not closed: the first must come out before the parser fails
    data = rss("<g:id>A</g:id>").replace(b"</channel></rss>\n", b"<item><g:id>B</g:id>")
    rows: list[Row] = []
    with pytest.raises(InputError, match=r"feed\.xml:4: the XML feed ends before its root"):
        rows.extend(row_reader("gmc", [data], FeedSource("feed.xml")))
    assert [row.record for row in rows] == [{"product_identifier": "A", "variant_identifier": "A"}]


@pytest.mark.parametrize("ending", ["whole", "malformed"])
def test_a_finished_xml_reader_leaves_no_garbage_cycle(ending: str) -> None:
    # The workers read each part of a big feed with the collector off; a parser kept alive
    # by a cycle through its handlers held its buffers (~2 MB a part) until a collection.
    data = (SAMPLES / "products.xml").read_bytes()
    if ending == "malformed":
        data = data.replace(b"</channel>", b"<channel>")
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds is kept in gc.garbage
    try:
        with contextlib.suppress(InputError):
            read(data)
        gc.collect()
        parsers = [o for o in gc.garbage if type(o) is expat.XMLParserType]
        assert parsers == []  # (an exception's traceback may leave a cycle of its own)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def test_xml_group_attributes_read_as_in_tsv() -> None:
    (row,) = read(
        rss(
            "<g:id>A</g:id>"
            "<g:shipping><g:country>US</g:country><g:price>4.95 USD</g:price></g:shipping>"
            "<g:shipping><g:country>CA</g:country><g:price>9.95 USD</g:price></g:shipping>"
        )
    )
    assert row.record is not None
    assert row.record["shipping(country:price)"] == "US:4.95 USD,CA:9.95 USD"


@pytest.mark.parametrize("sample", ["entities.xml", "external.xml"])
def test_xml_with_a_doctype_is_refused(sample: str) -> None:
    with pytest.raises(InputError, match=r":2: the XML feed has a DOCTYPE, refused") as caught:
        read((SAMPLES / sample).read_bytes(), sample)
    assert caught.value.hint == "a Merchant Center feed needs no DOCTYPE; remove it from the feed"


def test_xml_root_that_is_not_a_feed_is_refused() -> None:
    with pytest.raises(InputError, match="the XML root element is <html>, not a Merchant"):
        read(b"<html><item><g:id>A</g:id></item></html>")


def test_xml_unbound_g_prefix_says_how_to_declare_it() -> None:
    with pytest.raises(InputError, match="unbound prefix") as caught:
        read(b"<rss><channel><item><g:id>A</g:id></item></channel></rss>")
    assert caught.value.hint == (
        'declare the prefix on the root element, e.g. xmlns:g="http://base.google.com/ns/1.0"'
    )


def test_atom_id_is_not_the_item_id() -> None:
    rows = read((SAMPLES / "products.atom").read_bytes(), "products.atom")
    assert [row.record and row.record["variant_identifier"] for row in rows] == [
        "JKT-4-BLUE-M",
        "CAP-1",
    ]
    assert rows[0].record is not None
    assert rows[0].record["link"] == "https://nordlys.example.no/jkt-4?c=blue&s=m"
    assert rows[0].record["description"] == "Three-layer shell, taped seams."


def test_map_on_an_xml_feed_is_a_usage_error() -> None:
    source = FeedSource("feed.xml", column_map=(("title", "name"),))
    with pytest.raises(UsageError, match=r"feed\.xml is an XML feed, which has no columns"):
        list(row_reader("gmc", [rss("<g:id>A</g:id>")], source))


def test_map_renames_a_delimited_column_and_checks_it() -> None:
    data = b"id\tlink\timage_link\tname\nA\tl\thttps://a/1.jpg\tDress\n"
    source = FeedSource("f.tsv", column_map=(("name", "title"),))
    (row,) = row_reader("gmc", [data], source)
    assert row.record is not None and row.record["title"] == "Dress"
    wrong = FeedSource("f.tsv", column_map=(("nme", "title"),))
    with pytest.raises(UsageError, match=r"f\.tsv has no column 'nme' \(did you mean 'name'\?\)"):
        list(row_reader("gmc", [data], wrong))


def test_delimited_feed_without_id_is_one_error_naming_the_header() -> None:
    with pytest.raises(InputError, match=r"f\.tsv:1: the header has no id column \(its columns"):
        list(row_reader("gmc", [b"title\tlink\nA\tl\nB\tl\n"], FeedSource("f.tsv")))
