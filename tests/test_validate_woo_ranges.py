"""WooCommerce exports read in parts by the workers find exactly what one process finds: the
same records, problems and rejected rows at the same file:line, the same products left out,
the same error that ends a run — variations far from their parents included."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psykhe_cli.feeds import woocommerce
from psykhe_cli.feeds.woocommerce import WooCommerceReader
from psykhe_cli.sandbox.inspect import SandboxHandle
from psykhe_cli.validate import FeedSource, ValidationOptions, check_feeds, shop_ranges
from tests.helpers import FAST, psykhe
from tests.shop_parts import in_parts, reference

GEN_WOO = Path(__file__).parent.parent / "bench" / "gen_woo.py"

HEADER = [
    "ID",
    "Type",
    "SKU",
    "Name",
    "Published",
    "Visibility in catalog",
    "Description",
    "Regular price",
    "Images",
    "Parent",
    "Attribute 1 name",
    "Attribute 1 value(s)",
]
#: a line inside a quoted cell that reads alone as a whole row
LOOKS_LIKE_A_ROW = "\n" + ",".join(["9", "simple"] + ["x"] * (len(HEADER) - 2)) + "\nend"
DESCRIPTIONS = ["", "plain", "<p>two\nlines</p>", 'a, "quoted"\n\n, b', LOOKS_LIKE_A_ROW]
KINDS = ["simple", "variable", "variation", "variation", "grouped", "variable, featured"]

#: a row: (kind, target, shown, flaw, description); a variation's parent is the product
#: ``target`` picks (any row: before it, after it, a simple one, one left out), or none
Spec = tuple[int, int, int, int, int]


def woo_rows(specs: list[Spec]) -> list[list[str]]:
    """The rows ``specs`` describe, as WooCommerce writes them (ID order), flawed."""
    products = [n for n, spec in enumerate(specs) if KINDS[spec[0]] != "variation"]
    rows = []
    for n, (kind, target, shown, flaw, description) in enumerate(specs):
        row = dict.fromkeys(HEADER, "")
        row.update({"ID": str(10 + n), "Type": KINDS[kind], "Name": f"Product {n}"})
        row["SKU"] = f"S{n}" if flaw != 1 else ""
        if flaw == 2 and n:
            row["SKU"] = f"S{n - 1}"  # another row's SKU
        if flaw == 5:
            row["ID"] = row["SKU"] = ""
        row["Published"], row["Visibility in catalog"] = [
            ("1", "visible"),
            ("1", "visible"),
            ("0", "visible"),
            ("1", "hidden"),
            ("-1", "visible"),
        ][shown]
        row["Description"] = DESCRIPTIONS[description]
        row["Regular price"] = "ten" if flaw == 3 else f"{10 + n}.50"
        row["Images"] = "nope.jpg" if flaw == 4 else f"https://cdn.example.com/{n}.jpg"
        row["Attribute 1 name"] = "Size"
        row["Attribute 1 value(s)"] = "" if flaw == 5 else ["S", "M", "L"][n % 3]
        if KINDS[kind] == "variation":
            if target >= 28 or not products:
                row["Parent"] = "" if target == 28 else "gone"
            else:
                parent = products[target % len(products)]
                by_id = target % 2 and specs[parent][3] != 5
                row["Parent"] = f"id:{10 + parent}" if by_id else f"S{parent}"
        rows.append([row[name] for name in HEADER])
    return rows


def woo_text(rows: list[list[str]], flaws: list[int], newline: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator=newline).writerows([HEADER, *rows])
    lines = out.getvalue().split(newline)
    for flaw in flaws:  # lines spoiled: a stray quote, a short row, a blank line
        at = 1 + flaw % max(1, len(lines) - 2)
        lines[at] = [lines[at] + '"x', "short,row", ""][flaw % 3]
    return newline.join(lines)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "products.csv"
    path.write_bytes(text.encode())
    return path


specs = st.lists(
    st.tuples(
        st.integers(0, len(KINDS) - 1),
        st.integers(0, 30),
        st.integers(0, 4),
        st.integers(0, 9),
        st.integers(0, len(DESCRIPTIONS) - 1),
    ),
    min_size=1,
    max_size=40,
)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shape=specs,
    flaws=st.lists(st.integers(0, 400), max_size=2),
    newline=st.sampled_from(["\n", "\r\n"]),
    step=st.integers(1, 600),
    inactive=st.booleans(),
)
def test_woo_in_parts_differential(
    tmp_path: Path,
    shape: list[Spec],
    flaws: list[int],
    newline: str,
    step: int,
    inactive: bool,
) -> None:
    path = write(tmp_path, woo_text(woo_rows(shape), flaws, newline))
    expected = reference(path, "woocommerce", inactive)
    assert in_parts(path, "woocommerce", step, inactive) == expected


#: every trap once: a parent and its variations, one far after it, one before it, one of a
#: simple product (after it and before it), of a private parent, of nothing, unpublished
SMALL: list[Spec] = [
    (1, 0, 0, 0, 2),  # 0 variable
    (2, 0, 0, 0, 0),  # 1 its variation, by SKU
    (2, 1, 0, 3, 3),  # 2 its variation, by ID, a bad price
    (0, 0, 0, 0, 4),  # 3 simple, a cell that reads like a row
    (2, 5, 0, 0, 0),  # 4 variation of product 5, which comes after it
    (1, 0, 2, 0, 1),  # 5 private variable
    (2, 4, 0, 0, 0),  # 6 variation of the private product 5
    (2, 2, 0, 0, 0),  # 7 variation of the simple product 3
    (2, 30, 0, 0, 0),  # 8 variation of nothing
    (4, 0, 0, 0, 0),  # 9 grouped
    (2, 0, 3, 5, 0),  # 10 hidden variation of product 0 without identifier
    (2, 0, 0, 0, 3),  # 11 a late variation of product 0
    (2, 6, 0, 0, 0),  # 12 variation of the simple product 13, which comes after it
    (0, 0, 0, 0, 0),  # 13 simple
    (1, 0, 0, 4, 2),  # 14 variable with a bad image
    (2, 8, 0, 0, 0),  # 15 its variation
    (2, 0, 0, 2, 0),  # 16 variation of product 0 with the SKU of row 15
]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_woo_cut_at_every_byte_finds_what_one_process_finds(tmp_path: Path, newline: str) -> None:
    text = woo_text(woo_rows(SMALL), [], newline)
    path = write(tmp_path, text)
    expected = reference(path, "woocommerce")
    assert expected[0] != "error" and expected[2], "the export has problems to place"
    codes = expected[1]
    for code in ("variation_before_parent", "parent_not_variable", "missing_parent"):
        assert code in codes, f"the export has a {code} to place"
    header = text.index(newline) + len(newline)
    for step in range(1, path.stat().st_size - header + 1):
        assert in_parts(path, "woocommerce", step) == expected, f"ranges of {step} bytes"


def test_woo_variations_far_after_their_parents_are_joined_without_a_second_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each product's last variation comes after the next three products: in another part
    shape: list[Spec] = []
    for n in range(40):
        shape += [(1, 0, n % 5, 0, n % 3), (2, 0, 0, 0, 0), (0, 0, n % 4, 0, 0)]
        shape += [(2, 3 * (n - 3) if n >= 3 else 0, 0, 0, 0)]
    rows = woo_rows(shape)
    for at in range(3, len(rows), 4):  # the late variation names its parent by SKU
        rows[at][HEADER.index("Parent")] = f"S{4 * (max(0, at // 4 - 3))}"
    path = write(tmp_path, woo_text(rows, [], "\n"))
    expected = reference(path, "woocommerce")
    assert expected[0] != "error" and expected[0][5], "products are left out"

    def read_again(*args: Any) -> None:
        raise AssertionError("the export was read again in one process")

    monkeypatch.setattr(shop_ranges, "row_reader", read_again)
    for step in (97, 400, 1500):
        assert in_parts(path, "woocommerce", step) == expected, f"ranges of {step} bytes"


@pytest.mark.parametrize("waiting", [1, 2, 3])
def test_woo_with_few_variations_allowed_to_wait_finds_what_one_process_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, waiting: int
) -> None:
    monkeypatch.setattr(woocommerce, "MAX_WAITING", waiting)
    shape: list[Spec] = [(2, 30, 0, 0, 0), (2, 30, 0, 0, 0), (2, 2, 0, 0, 0), (2, 30, 0, 0, 0)]
    shape += [(1, 0, 0, 0, 0), (2, 0, 0, 0, 0), (2, 30, 0, 0, 0), (0, 0, 0, 0, 0)]
    path = write(tmp_path, woo_text(woo_rows(shape), [], "\n"))
    expected = reference(path, "woocommerce")
    for step in range(1, path.stat().st_size, 5):
        assert in_parts(path, "woocommerce", step) == expected, f"ranges of {step} bytes"


def test_woo_export_checked_by_forked_workers_as_by_one_process(tmp_path: Path) -> None:
    shape: list[Spec] = [
        (n % len(KINDS), (n * 7) % 31, n % 5, n % 10, n % len(DESCRIPTIONS)) for n in range(600)
    ]
    path = write(tmp_path, woo_text(woo_rows(shape), [], "\n"))
    ranged = ValidationOptions(workers=2, block_size=997, parallel_after=4096, max_problems=10**6)
    problems: list[str] = []
    report = check_feeds(
        [FeedSource(str(path), format="woocommerce")],
        ranged,
        on_problem=lambda p: problems.append(p.format()),
    )
    expected = reference(path, "woocommerce")
    figures = (report.lines, report.products, report.variants, report.errors, report.warnings)
    figures += (report.left_out,)
    assert (figures, report.counts_by_code, problems) == expected[:3]


@pytest.mark.slow
def test_push_of_a_woo_export_big_enough_to_cut_stores_what_one_reader_reads(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = tmp_path / "wc-product-export.csv"
    with feed.open("wb") as out:  # ~6 MB: cut into parts, late variations in later ones
        subprocess.run([sys.executable, str(GEN_WOO), "30000"], stdout=out, check=True)
    assert feed.stat().st_size > ValidationOptions().parallel_after
    with feed.open("rb") as chunks:
        reader = WooCommerceReader(chunks, str(feed))
        records = [row.record for row in reader if row.record is not None]
    out = psykhe("push", str(feed), *FAST, "--json", env=env)
    assert out.returncode == 0, out.stderr
    report = orjson.loads(out.stdout)
    stored = {
        (p["product_identifier"], p["variant_identifier"]): p["data"]
        for p in sandbox.products(active=True)
    }
    assert stored == {(r["product_identifier"], r["variant_identifier"]): r for r in records}
    assert (report["variants"], report["left_out"]) == (len(records), reader.left_out)


def test_woo_variation_waiting_to_the_end_beside_a_repeated_sku_keeps_its_place(
    tmp_path: Path,
) -> None:
    # the variation of the simple product S0 waits to the end of the file; the last rows
    # repeat a SKU: one process's last result has a repeat, whose problems the merger sorts
    shape: list[Spec] = [(0, 0, 0, 0, 0)] * 17 + [(2, 0, 0, 0, 0), (0, 0, 0, 0, 0)]
    shape.append((0, 0, 0, 2, 0))
    path = write(tmp_path, woo_text(woo_rows(shape), [], "\n"))
    expected = reference(path, "woocommerce")
    assert {"parent_not_variable", "duplicate_variant"} <= set(expected[1])
    for step in (40, 200, 5000):
        assert in_parts(path, "woocommerce", step) == expected, f"ranges of {step} bytes"
