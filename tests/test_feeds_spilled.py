"""SpilledMap keeps a dict's answers while most of it lives on disk, and the WooCommerce reader
built on it gives the same rows whether its parents stay in memory or are spilled."""

from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from psykhe_cli.feeds.spilled import SpilledMap
from psykhe_cli.feeds.woocommerce import WooCommerceReader

KEYS = st.sampled_from([f"k{n}" for n in range(12)])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), KEYS, st.integers()), max_size=80))
def test_spilled_map_answers_as_a_dict_would(operations: list[tuple[int, str, int]]) -> None:
    spilled: SpilledMap[int] = SpilledMap(
        lambda value: str(value).encode(), lambda blob: int(blob), recent=2, batch=3
    )
    expected: dict[str, int] = {}
    try:
        for operation, key, value in operations:
            if operation == 0:
                spilled[key] = value
                expected[key] = value
            elif operation == 1:
                assert spilled.get(key) == expected.get(key)
            else:  # two keys set to one value already encoded
                keys = [key, f"{key}-too"]
                spilled.set_encoded(keys, str(value).encode())
                expected.update(dict.fromkeys(keys, value))
        for key in expected:
            assert spilled.get(key) == expected[key]
    finally:
        spilled.close()


HEADER = [
    "ID",
    "Type",
    "SKU",
    "Name",
    "Published",
    "Visibility in catalog",
    "Regular price",
    "Categories",
    "Images",
    "Parent",
    "Attribute 1 name",
    "Attribute 1 value(s)",
]
IMG = "https://shop.example.com/"


@st.composite
def exports(draw: st.DrawFn) -> bytes:
    """A WooCommerce export: simple and variable products with variations right after their
    parent, later in the file, before it, or naming a parent that never comes; SKUs reused."""
    skus = [f"p{n}" for n in range(draw(st.integers(1, 12)))]
    rows: list[dict[str, str]] = []
    for number in range(draw(st.integers(0, 30))):
        kind = draw(st.sampled_from(["simple", "variable", "variation", "variation", "grouped"]))
        row = {
            "ID": str(number + 10),
            "Type": kind,
            "SKU": draw(st.sampled_from(["", *skus]))
            if kind == "variation"
            else skus[number % len(skus)],
            "Name": draw(st.sampled_from(["Tee", "Tee &amp; Cap", ""])),
            "Published": draw(st.sampled_from(["1", "1", "0", "-1"])),
            "Visibility in catalog": draw(st.sampled_from(["visible", "visible", "hidden"])),
            "Regular price": draw(st.sampled_from(["10", "9.50", "", "1,00"])),
            "Categories": draw(st.sampled_from(["A > B", "", "C"])),
            "Images": draw(st.sampled_from([f"{IMG}a.jpg", "", f"{IMG}b.jpg, {IMG}c.jpg"])),
            "Parent": draw(st.sampled_from([*skus, "id:11", "gone"]))
            if kind == "variation"
            else "",
            "Attribute 1 name": "Size",
            "Attribute 1 value(s)": draw(st.sampled_from(["S", "M", "S, M", ""])),
        }
        rows.append(row)
    out = io.StringIO()
    writer = csv.DictWriter(out, HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def rows(data: bytes, parents_in_memory: int) -> list[tuple[object, ...]]:
    reader = WooCommerceReader([data], "woo.csv", parents_in_memory=parents_in_memory)
    found = [(row.line, row.raw, row.record, row.error) for row in reader]
    return [*found, ("left out", reader.left_out)]


@settings(max_examples=150, deadline=None)
@given(exports())
def test_woocommerce_rows_are_the_same_with_parents_spilled_to_disk(data: bytes) -> None:
    assert rows(data, parents_in_memory=1) == rows(data, parents_in_memory=10**9)
