"""A block compressed where it is checked holds exactly the records it would hand over."""

from __future__ import annotations

import zlib
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psykhe_cli.deflate import BlockDeflater
from psykhe_cli.validate import fast
from psykhe_cli.validate.blocks import BlockParams, check_block

GOOD = {
    "product_identifier": "P1",
    "variant_identifier": "P1-S",
    "title": "Wrap Dress",
    "images": ["https://cdn.example.com/p1.jpg"],
    "designer": "D",
    "color": "red",
    "categories": ["Women: Dresses"],
    "sizes": ["S"],
    "price": 10.5,
}


def wrapped(product: dict[str, Any]) -> bytes:
    return orjson.dumps({"operation": "insert", "product_data": product})


#: the kinds of line a feed mixes: sent as written, rewritten, or left out
KINDS: dict[str, Any] = {
    "good": lambda n: wrapped(GOOD | {"variant_identifier": f"V{n}"}),
    "extra": lambda n: wrapped(GOOD | {"variant_identifier": f"V{n}", "gender": "women"}),
    "bare": lambda n: orjson.dumps(GOOD | {"variant_identifier": f"V{n}"}),
    "legacy": lambda n: orjson.dumps(
        {"action": "insert", "product_data": GOOD | {"variant_identifier": f"V{n}"}}
    ),
    "no_title": lambda n: wrapped(
        {k: v for k, v in GOOD.items() if k != "title"} | {"variant_identifier": f"V{n}"}
    ),
    "bad_price": lambda n: wrapped(GOOD | {"variant_identifier": f"V{n}", "price": -1}),
    "not_json": lambda n: b"{oops",
    "blank": lambda n: b"",
    "spaces": lambda n: b"   ",
}


def inflate(data: bytes) -> bytes:
    return zlib.decompressobj(-15).decompress(data)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=30),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_compressed_block_is_the_records_it_would_hand_over(
    kinds: list[str], crlf: bool, last_newline: bool, learned: bool
) -> None:
    decoders = fast.Decoders()
    if learned:
        decoders.learn(GOOD | {"gender": "men"})
    ending = b"\r\n" if crlf else b"\n"
    block = ending.join(KINDS[kind](n) for n, kind in enumerate(kinds))
    if last_newline:
        block += ending
    plain = check_block(block, 1, BlockParams(False, True, False, 100), decoders)
    encode = BlockDeflater(3).encoder()
    squeezed = check_block(block, 1, BlockParams(False, True, False, 100, encode=encode), decoders)
    assert squeezed.encoded is not None
    assert inflate(squeezed.encoded.data) == b"".join(plain.records)
    assert squeezed.encoded.lines == len(plain.records) == plain.variants
    assert squeezed.accepted == plain.accepted
    assert squeezed.pair_hashes == plain.pair_hashes
    for record in plain.records:  # every record sent is a wrapped, valid line
        assert orjson.loads(record)["operation"] == "insert"


@pytest.mark.parametrize("portable", [False, True])
def test_hashes_are_the_same_with_numpy_and_without(
    monkeypatch: pytest.MonkeyPatch, portable: bool
) -> None:
    import numpy

    from psykhe_cli.validate.identity import pair_hash, product_hash, variant_hash

    lines = [KINDS[kind](n) for n, kind in enumerate(["good", "bare", "good", "extra"] * 5)]
    lines.append(wrapped({k: v for k, v in GOOD.items() if k != "variant_identifier"}))
    block = b"\n".join(lines) + b"\n"
    params = BlockParams(False, False, False, 100, portable)
    results = []
    for loaded in (numpy, None):
        results.append(check_block(block, 1, params, numpy=loaded))
    with_numpy, without = results
    assert with_numpy.pair_hashes == without.pair_hashes
    assert with_numpy.product_hashes == without.product_hashes
    vids = [f"V{n}" for n in range(20)] + [None]
    assert list(without.pair_hashes) == [pair_hash("P1", vid, portable) for vid in vids]
    assert list(without.product_hashes) == [product_hash("P1", portable)]
    # a line without a variant_identifier is its product's one record: its pair's hash
    assert with_numpy.variant_hashes == without.variant_hashes
    assert list(without.variant_hashes) == [variant_hash("P1", vid, portable) for vid in vids]
    assert without.variant_hashes[-1] == without.pair_hashes[-1]
