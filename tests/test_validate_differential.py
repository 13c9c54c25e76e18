"""The fast proof changes nothing but speed: the same feeds checked with it and without it
(every line through the per-line rules) give the same report, problems and records."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from psykhe_cli.validate import FeedSource, ValidationOptions, blocks, check_feeds, engine, fast
from psykhe_cli.validate.lines import Lines

GOOD: dict[str, Any] = {
    "product_identifier": "P1",
    "variant_identifier": "P1-S",
    "title": "Wrap Dress: silk",
    "images": ["https://cdn.example.com/p1.jpg", "http://img.example.org/p1-b.jpg?w=2"],
    "designer": "D",
    "color": "red",
    "categories": ["Women: Dresses"],
    "sizes": ["S", "M"],
    "price": 10.5,
}

extra_values = st.one_of(
    st.integers(-(2**65), 2**65),
    st.text(max_size=5),
    st.none(),
    st.booleans(),
    st.lists(st.integers(0, 9), max_size=2),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 9), max_size=2),
)
#: a product: the table's fields, some changed, some extra fields, some missing
products = st.builds(
    lambda changes, extras, missing: {
        k: v for k, v in (GOOD | changes | extras).items() if k not in missing
    },
    st.dictionaries(
        st.sampled_from(sorted(GOOD)),
        st.one_of(
            st.sampled_from(["", " ", "P2", "P1", "V9", "https://", "https://a b", "x"]),
            # HTML entities (a warning in text fields), and ampersands that are none
            st.sampled_from(["A &amp; B", "&#8211;", "&x;", "R&D", "H&M;"]),
            st.sampled_from([-1, 0, 3, 2**63, 1e300, True, None]),
            st.lists(
                st.sampled_from(["https://c.example/x", "ftp://x", "S", "&amp;", 1]), max_size=2
            ),
        ),
        max_size=2,
    ),
    st.dictionaries(st.sampled_from(["gender", "stock", "note", 'q"k']), extra_values, max_size=2),
    st.sets(st.sampled_from(sorted(GOOD)), max_size=2),
)


@st.composite
def lines(draw: Any) -> bytes:
    product = draw(products)
    kind = draw(st.sampled_from(["wrapped", "wrapped", "wrapped", "bare", "legacy", "upsert"]))
    separators = draw(st.sampled_from([(",", ":"), (", ", ": "), (",", " : ")]))
    if kind == "bare":
        obj: Any = product
    elif kind == "legacy":
        obj = {"action": "insert", "product_data": product}
    else:
        operation = "insert" if kind == "wrapped" else "upsert"
        obj = {"operation": operation, "product_data": product}
    damage = draw(st.sampled_from(["none"] * 8 + [*DAMAGES]))
    if kind != "bare" and damage == "outside":  # a product's field beside the wrapper's
        obj = {"title": "T", **obj}
    elif kind != "bare" and damage == "unwrapped":  # the same, and no operation
        obj = {"title": "T", "product_data": product}
    raw = json.dumps(obj, separators=separators).encode()
    if damage == "repeat":  # a key said twice
        raw = raw[:-1] + b',"title":"again"}' if kind == "bare" else raw[:-2] + b',"color":"x"}}'
    elif damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "blank":
        raw = b"  "
    elif damage == "empty":
        raw = b""
    elif damage == "crlf":
        raw += b"\r"
    elif damage == "indent":
        raw = b" " + raw
    elif damage == "twice":  # two values on one line
        raw += b" " + raw
    return raw


DAMAGES = ["repeat", "truncate", "blank", "empty", "crlf", "indent", "twice", "outside"]
DAMAGES += ["unwrapped"]


#: values msgspec decodes as the table's types, some of them wrong for the rules
PLAUSIBLE: dict[str, list[Any]] = {
    "product_identifier": ["P1", "P2", " ", "x: y"],
    "variant_identifier": ["P1-S", "V2", "\t"],
    "title": ["", "Dress: silk", "Robe \u00e9t\u00e9"],
    "images": [[], ["https://c.example/x.jpg"], ["https://a b"], ["ftp://x"], ["http://"]],
    "price": [0, 3, 10.5, 1e18],
    "designer": ["", "D"],
    "color": ["blue"],
    "categories": [[], ["A: B", "A"]],
    "sizes": [["S"], []],
}


@st.composite
def decodable_lines(draw: Any) -> bytes:
    """Lines that mostly decode as either kind, so whole blocks are decoded in one call."""
    changes = draw(st.dictionaries(st.sampled_from(sorted(PLAUSIBLE)), st.integers(0, 4)))
    product = GOOD | {k: PLAUSIBLE[k][n % len(PLAUSIBLE[k])] for k, n in changes.items()}
    extra = draw(st.sampled_from([None, None, None, "gender", "note"]))
    if extra is not None:
        product[extra] = draw(extra_values)
    missing = draw(st.sampled_from([None] * 20 + sorted(GOOD)))
    product.pop(missing, None)
    kind = draw(st.sampled_from(["wrapped"] * 12 + ["bare"] * 4 + ["outside", "unwrapped"]))
    obj: Any = {"operation": "insert", "product_data": product}
    if kind == "bare":
        obj = product
    elif kind == "outside":
        obj = {"title": "T", **obj}
    elif kind == "unwrapped":
        obj = {"title": "T", "product_data": product}
    raw = json.dumps(obj, separators=(",", ":")).encode()
    shape = draw(st.sampled_from(["plain"] * 12 + ["crlf"] * 4 + ["twice", "blank", "empty"]))
    if shape == "crlf":
        raw += b"\r"
    elif shape == "twice":  # two values on one line, maybe with a blank line elsewhere
        raw += b" " + raw
    elif shape == "blank":
        raw = b" "
    elif shape == "empty":
        raw = b""
    return raw


#: before any example patches it
DECODE_BLOCK = fast._decode_block


def check(data: bytes, *, strict: bool) -> tuple[Any, list[Any], list[bytes]]:
    records: list[bytes] = []
    options = ValidationOptions(strict=strict, workers=0, max_problems=10_000)
    report = check_feeds(
        [FeedSource("-")], options, stdin=io.BytesIO(data), on_records=records.extend
    )
    problems = [problem.format() for problem in report.problems]
    counts = (report.lines, report.products, report.variants, report.errors, report.warnings)
    return (counts, report.counts_by_code, report.rejected_lines), problems, records


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.one_of(
        st.lists(lines(), min_size=1, max_size=25),
        st.lists(decodable_lines(), min_size=1, max_size=25),
    ),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_the_proof_changes_nothing_but_speed(
    monkeypatch: pytest.MonkeyPatch, feed: list[bytes], learned: bool, strict: bool, vector: bool
) -> None:
    import numpy

    # the blocks checked here vectorized as a worker's are, or not
    check_block = blocks.check_block
    monkeypatch.setattr(
        engine, "check_block", lambda *args: check_block(*args, numpy=numpy if vector else None)
    )
    # a good first line: a broken one could make the feed look like a JSON document
    first = json.dumps({"operation": "insert", "product_data": GOOD}).encode()
    data = b"\n".join([first, *feed]) + b"\n"
    proven: list[int] = []
    prove = fast.prove_lines

    def counted(block: bytes, lines: Lines, decoders: fast.Decoders, numpy: Any = None) -> Any:
        if learned and not proven:  # the run's decoders, as if taught by an earlier block
            decoders.learn(GOOD | {"gender": 0, "stock": 0, "note": 0, 'q"k': 0})
        proof = prove(block, lines, decoders, numpy)
        proven.append(0 if proof is None else sum(p is not None for p in proof.products))
        return proof

    in_one_call: list[bool] = []

    def one_call(*args: Any) -> Any:
        decoded = DECODE_BLOCK(*args)
        in_one_call.append(decoded is not None)
        return decoded

    monkeypatch.setattr(blocks, "prove_lines", counted)
    monkeypatch.setattr(fast, "_decode_block", one_call)
    fast_result = check(data, strict=strict)
    event("the proof proved lines" if sum(proven) else "the proof was refused")
    event("a block was decoded in one call" if any(in_one_call) else "decoded line by line")
    with monkeypatch.context() as patched:
        patched.setattr(blocks, "prove_lines", lambda *args: None)
        reference = check(data, strict=strict)
    assert fast_result == reference
