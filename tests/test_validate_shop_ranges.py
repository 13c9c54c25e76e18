"""Shop exports read in parts by the workers find exactly what one process finds: the same
records, problems and rejected rows at the same file:line, the same error that ends a run."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psykhe_cli.feeds.xml_split import plan
from psykhe_cli.validate import FeedSource, ValidationOptions, check_feeds
from tests.shop_parts import in_parts, reference

G = 'xmlns:g="http://base.google.com/ns/1.0"'

#: the children of an item, as Merchant Center feeds write them, and some they should not
CHILDREN = [
    "<g:id>{n}</g:id>",
    "<g:item_group_id>P{p}</g:item_group_id>",
    "<title>Dress &amp; coat {n}</title>",
    "<title><![CDATA[Silk <b>dress</b> {n}]]></title>",
    "<link>https://shop.example.com/p/{n}</link>",
    "<g:image_link>https://cdn.example.com/{n}.jpg</g:image_link>",
    "<g:image_link>ftp://nope/{n}</g:image_link>",
    "<g:additional_image_link>https://cdn.example.com/{n}-b.jpg</g:additional_image_link>",
    "<g:price>12.50 USD</g:price>",
    "<g:price>twelve</g:price>",
    "<g:brand>Brand &#233;</g:brand>",
    "<g:product_type>Women &gt; Dresses</g:product_type>",
    "<g:size>M</g:size>",
    "<!-- <item><g:id>in a comment</g:id></item> -->",
    "<g:shipping><g:country>US</g:country><g:price>4.95 USD</g:price></g:shipping>",
    "<?pi <item> ?>",
    "<description>\r\n  two\r\n  lines</description>",
    '<g:color xmlns:g="http://base.google.com/ns/1.0">red</g:color>',
]
#: what may come between items
BETWEEN = ["\n", "\r\n", "\n  <!-- between -->\n", "  ", "\n<extra>x</extra>\n", "\rtext\n"]


def rss_feed(items: list[list[str]], between: list[str], tail: str = "</channel>\n</rss>\n") -> str:
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<rss {G} version="2.0">\n<channel>\n'
    head += "<title>Shop</title>\n<!-- <item> in the prologue's comment -->\n"
    body = ""
    for n, children in enumerate(items):
        inner = "\n  ".join(c.format(n=n, p=n // 3) for c in children)
        kind = "entry" if children and children[0] == "ENTRY" else "item"
        inner = inner.removeprefix("ENTRY")
        body += f"<{kind}>\n  {inner}\n</{kind}>{between[n % len(between)]}"
    return head + body + tail


def atom_feed(count: int) -> str:
    entries = "".join(
        f'<a:entry>\n<a:title>T{n}</a:title><a:link href="https://x.example/{n}"/>'
        f"<g:id>{n}</g:id><g:price>1 USD</g:price>"
        f"<g:image_link>https://cdn.example.com/{n}.jpg</g:image_link></a:entry>\n"
        for n in range(count)
    )
    head = f'<?xml version="1.0"?>\n<a:feed xmlns:a="http://www.w3.org/2005/Atom" {G}>\n'
    return f"{head}{entries}</a:feed>"


def write(tmp_path: Path, text: str, name: str = "feed.xml") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


SMALL = rss_feed(
    [
        [CHILDREN[0], CHILDREN[1], CHILDREN[2], CHILDREN[4], CHILDREN[5], CHILDREN[8]],
        [CHILDREN[0], CHILDREN[3], CHILDREN[6], CHILDREN[9], CHILDREN[13]],
        [CHILDREN[0], CHILDREN[1], CHILDREN[10], CHILDREN[14], CHILDREN[16], CHILDREN[5]],
        ["ENTRY", CHILDREN[0]],
        [CHILDREN[0], CHILDREN[15], CHILDREN[11], CHILDREN[17], CHILDREN[7]],
        [CHILDREN[0], CHILDREN[1], CHILDREN[5], CHILDREN[8]],
    ],
    ["\n", "\r\n", "\n  <!-- between -->\n", "\rtext\n", "\n", "\n"],
)


#: the same without an item start in a comment inside an item (where a cut is not trusted)
CLEAN = SMALL.replace(CHILDREN[13], "<!-- a comment -->")


@pytest.mark.parametrize("text", [SMALL, CLEAN], ids=["traps", "clean"])
def test_xml_cut_at_every_byte_finds_what_one_process_finds(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    expected = reference(path, "gmc")
    assert expected[0] != "error" and expected[2], "the feed has problems to place"
    xml = plan(str(path))
    assert xml is not None
    prologue = len(xml.prologue)
    size = path.stat().st_size
    for step in range(1, size - prologue + 1):
        assert in_parts(path, "gmc", step) == expected, f"ranges of {step} bytes"


@pytest.mark.parametrize(
    "text",
    [
        # an element between items: from there on, read as before
        rss_feed([[CHILDREN[0]], [CHILDREN[0]], [CHILDREN[0]]], ["\n<extra>x</extra>\n"]),
        # a second channel: its namespace declarations would not be the prologue's
        rss_feed([[CHILDREN[0]]] * 3, ["\n</channel><channel xmlns:g='urn:other'>\n"]),
        # malformed: the reference's error, at its line
        rss_feed([[CHILDREN[0]]] * 3, ["\n"], tail="</channel>\n"),
        rss_feed([[CHILDREN[0]], ["<g:id>1</g:idd>"], [CHILDREN[0]]], ["\n"]),
        # an item start inside CDATA between items, and a comment running over items
        rss_feed([[CHILDREN[0]]] * 3, ["\n<![CDATA[ <item> ]]>\n", "\n<!-- ", " -->\n"]),
        atom_feed(5),
    ],
)
def test_xml_that_is_not_only_items_is_read_as_before(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    expected = reference(path, "gmc")
    for step in range(1, path.stat().st_size, 7):
        assert in_parts(path, "gmc", step) == expected, f"ranges of {step} bytes"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    items=st.lists(
        st.lists(st.sampled_from(CHILDREN), min_size=0, max_size=6), min_size=1, max_size=12
    ),
    between=st.lists(st.sampled_from(BETWEEN), min_size=1, max_size=4),
    step=st.integers(1, 700),
)
def test_xml_in_parts_differential(
    tmp_path: Path, items: list[list[str]], between: list[str], step: int
) -> None:
    path = write(tmp_path, rss_feed(items, between))
    assert in_parts(path, "gmc", step) == reference(path, "gmc")


def test_xml_feed_checked_by_forked_workers_as_by_one_process(tmp_path: Path) -> None:
    items = [
        [CHILDREN[n % 3], CHILDREN[0], CHILDREN[1], CHILDREN[5], CHILDREN[8]] for n in range(400)
    ]
    path = write(tmp_path, rss_feed(items, ["\n", "\r\n"]))
    ranged = ValidationOptions(workers=2, block_size=997, parallel_after=4096, max_problems=10**6)
    problems: list[str] = []
    report = check_feeds(
        [FeedSource(str(path))], ranged, on_problem=lambda p: problems.append(p.format())
    )
    expected = reference(path, "gmc")
    figures = (report.lines, report.products, report.variants, report.errors, report.warnings)
    figures += (report.left_out,)
    assert (figures, report.counts_by_code, problems) == expected[:3]


# -- Shopify exports ---------------------------------------------------------------------

SHOPIFY_HEADER = [
    "Handle",
    "Title",
    "Body (HTML)",
    "Vendor",
    "Option1 Name",
    "Option1 Value",
    "Variant SKU",
    "Variant Price",
    "Image Src",
    "Image Position",
    "Status",
]
#: a line inside a quoted cell that reads alone as a whole row of another handle
LOOKS_LIKE_A_ROW = "\n" + ",".join(["other"] + ["x"] * (len(SHOPIFY_HEADER) - 1)) + "\nend"
BODIES = ["", "plain", "<p>two\nlines</p>", 'a, "quoted"\n\n, b', LOOKS_LIKE_A_ROW]


def shopify_rows(shape: list[tuple[int, int, int, int]]) -> list[list[str]]:
    """Products of ``(variants, body, status, flaw)``: rows as Shopify writes them, flawed."""
    rows: list[list[str]] = []
    for n, (variants, body, status, flaw) in enumerate(shape):
        handle = f"h{n}" if flaw != 1 else ""
        for v in range(variants):
            row = [handle, "", "", "", "", f"S{v}", f"SKU-{n}-{v}", "10.00", "", "", ""]
            if v == 0:
                row[1:5] = [f"Product {n}", BODIES[body], "Vendor", "Size"]
                row[10] = ["active", "draft", "active"][status]
                row[8], row[9] = f"https://cdn.example.com/{n}.jpg", "1"
            if flaw == 2 and v == variants - 1:
                row[7] = "ten"  # a bad price
            if flaw == 3 and v == variants - 1:
                row[8] = "not-a-url"
            rows.append(row)
        if flaw == 4:  # an image-only row
            rows.append([handle] + [""] * 7 + [f"https://cdn.example.com/{n}-b.jpg", "2", ""])
    return rows


def shopify_text(rows: list[list[str]], flaws: list[int], newline: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator=newline).writerows([SHOPIFY_HEADER, *rows])
    text = out.getvalue()
    lines = text.split(newline)
    for flaw in flaws:  # lines spoiled: a stray quote, a short row, a blank line
        at = 1 + flaw % max(1, len(lines) - 2)
        lines[at] = [lines[at] + '"x', "short,row", ""][flaw % 3]
    return newline.join(lines)


shapes = st.lists(
    st.tuples(
        st.integers(1, 4), st.integers(0, len(BODIES) - 1), st.integers(0, 2), st.integers(0, 8)
    ),
    min_size=1,
    max_size=10,
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shape=shapes,
    flaws=st.lists(st.integers(0, 400), max_size=2),
    newline=st.sampled_from(["\n", "\r\n"]),
    step=st.integers(1, 500),
    inactive=st.booleans(),
)
def test_shopify_in_parts_differential(
    tmp_path: Path,
    shape: list[tuple[int, int, int, int]],
    flaws: list[int],
    newline: str,
    step: int,
    inactive: bool,
) -> None:
    path = write(tmp_path, shopify_text(shopify_rows(shape), flaws, newline), "products.csv")
    expected = reference(path, "shopify", inactive)
    assert in_parts(path, "shopify", step, inactive) == expected


SHOPIFY = shopify_text(
    shopify_rows(
        [(2, 2, 0, 0), (1, 4, 0, 2), (3, 0, 1, 0), (2, 3, 0, 4), (1, 1, 0, 3), (2, 0, 0, 0)]
    ),
    [],
    "\n",
)


def test_shopify_cut_at_every_byte_finds_what_one_process_finds(tmp_path: Path) -> None:
    path = write(tmp_path, SHOPIFY, "products.csv")
    expected = reference(path, "shopify")
    assert expected[0] != "error" and expected[2], "the export has problems to place"
    header = SHOPIFY.index("\n") + 1
    for step in range(1, path.stat().st_size - header + 1):
        assert in_parts(path, "shopify", step) == expected, f"ranges of {step} bytes"


def test_shopify_export_checked_by_forked_workers_as_by_one_process(tmp_path: Path) -> None:
    shape = [(1 + n % 4, n % len(BODIES), n % 3, n % 9) for n in range(300)]
    path = write(tmp_path, shopify_text(shopify_rows(shape), [], "\n"), "products.csv")
    ranged = ValidationOptions(workers=2, block_size=997, parallel_after=4096, max_problems=10**6)
    problems: list[str] = []
    report = check_feeds(
        [FeedSource(str(path))], ranged, on_problem=lambda p: problems.append(p.format())
    )
    expected = reference(path, "shopify")
    figures = (report.lines, report.products, report.variants, report.errors, report.warnings)
    figures += (report.left_out,)
    assert (figures, report.counts_by_code, problems) == expected[:3]


# -- Merchant Center TSV -----------------------------------------------------------------

TSV_HEADER = ["id", "title", "price", "image_link", "description", "item_group_id"]
#: a line inside a quoted cell that reads alone as a whole row
TSV_LOOKS_LIKE_A_ROW = "\n" + "\t".join(["x"] * len(TSV_HEADER)) + "\nend"
TSV_DESCRIPTIONS = ["", "plain", "two\nlines", 'a "quoted"\n\n b', TSV_LOOKS_LIKE_A_ROW]


def tsv_text(shape: list[tuple[int, int]], flaws: list[int], newline: str) -> str:
    """Items of ``(description, flaw)``, then lines spoiled as ``shopify_text`` spoils them."""
    rows = [TSV_HEADER]
    for n, (description, flaw) in enumerate(shape):
        price = ["12.00 USD", "twelve", "12 EUR"][flaw % 3]
        image = f"https://cdn.example.com/{n}.jpg" if flaw != 4 else "nope"
        rows.append(
            [f"V{n % 7}", f"Item {n}", price, image, TSV_DESCRIPTIONS[description], f"P{n}"]
        )
    out = io.StringIO()
    csv.writer(out, delimiter="\t", lineterminator=newline).writerows(rows)
    lines = out.getvalue().split(newline)
    for flaw in flaws:
        at = 1 + flaw % max(1, len(lines) - 2)
        lines[at] = [lines[at] + '"x', "short\trow", ""][flaw % 3]
    return newline.join(lines)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shape=st.lists(
        st.tuples(st.integers(0, len(TSV_DESCRIPTIONS) - 1), st.integers(0, 5)), max_size=14
    ),
    flaws=st.lists(st.integers(0, 400), max_size=2),
    newline=st.sampled_from(["\n", "\r\n"]),
    step=st.integers(1, 400),
)
def test_tsv_in_parts_differential(
    tmp_path: Path, shape: list[tuple[int, int]], flaws: list[int], newline: str, step: int
) -> None:
    path = write(tmp_path, tsv_text(shape, flaws, newline), "feed.tsv")
    assert in_parts(path, "gmc", step) == reference(path, "gmc")


def test_tsv_cut_at_every_byte_finds_what_one_process_finds(tmp_path: Path) -> None:
    text = tsv_text([(0, 0), (2, 1), (4, 0), (1, 4), (3, 2), (0, 0), (0, 5)], [], "\n")
    path = write(tmp_path, text, "feed.tsv")
    expected = reference(path, "gmc")
    assert expected[0] != "error" and expected[2], "the feed has problems to place"
    header = text.index("\n") + 1
    for step in range(1, path.stat().st_size - header + 1):
        assert in_parts(path, "gmc", step) == expected, f"ranges of {step} bytes"


def test_shopify_cut_where_a_stray_quote_hides_rows_finds_what_one_process_finds(
    tmp_path: Path,
) -> None:
    # a stray quote makes the lines after it one row's quoted cell, some of which read like
    # rows of another handle: a cut there would split that row's handle
    shape = [(4, 3, 2, 4), (1, 4, 0, 1), (4, 0, 2, 7), (3, 1, 2, 5)]
    path = write(tmp_path, shopify_text(shopify_rows(shape), [32, 97], "\n"), "products.csv")
    expected = reference(path, "shopify")
    for step in range(1, path.stat().st_size, 3):
        assert in_parts(path, "shopify", step) == expected, f"ranges of {step} bytes"
