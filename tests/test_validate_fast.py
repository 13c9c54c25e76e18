"""The fast proof never calls a line fine that the rules would not, and proves common lines."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psykhe_cli.validate import fast
from psykhe_cli.validate.lines import Lines
from psykhe_cli.validate.rules import check_line


@pytest.fixture(autouse=True, params=["numpy", "colons"])
def counting(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with both ways of counting keys: with numpy, and colons without it."""
    import numpy

    global NUMPY
    NUMPY = numpy if request.param == "numpy" else None
    return str(request.param)


#: numpy, or None, as the ``counting`` fixture chose for the test running
NUMPY: Any = None


def prove(lines: list[bytes], decoders: fast.Decoders | None = None) -> fast.Proof | None:
    """The proof of a block of ``lines``, with ``decoders`` (by default, new ones)."""
    block = b"\n".join(lines) + b"\n"
    return fast.prove_lines(block, Lines(block, NUMPY), decoders or fast.Decoders(), NUMPY)


def prove_lines(lines: list[bytes], decoders: fast.Decoders | None = None) -> list[Any] | None:
    proof = prove(lines, decoders)
    return None if proof is None else proof.products


GOOD = {
    "product_identifier": "111F-UU1",
    "variant_identifier": "111F-UU1-S",
    "title": "Antioxidant Essence: NAC Y2",
    "images": ["https://cdn.example.com/a.jpg", "http://cdn.example.com/b.jpg?x=1:2"],
    "designer": "111Skin",
    "color": "",
    "categories": ["Beauty: Skincare", "Beauty: Skincare: Moisturizers"],
    "sizes": ["all"],
    "price": 105.0,
}


def line(product: dict[str, Any], **wrapper: Any) -> bytes:
    return orjson.dumps({"operation": "insert", "product_data": product} | wrapper)


def test_common_lines_are_proven() -> None:
    lines = [line(GOOD), line(GOOD | {"price": 0}), line(GOOD | {"images": []})]
    proven = prove_lines(lines)
    assert proven is not None
    assert [p.product_identifier for p in proven] == ["111F-UU1"] * 3


@pytest.mark.parametrize(
    "raw",
    [
        line(GOOD | {"extra": 1}),  # allowed, but not proven before it is learned
        orjson.dumps({"action": "insert", "product_data": GOOD}),  # legacy key
        line(GOOD, operation="upsert"),  # undocumented operation: a warning
        line({k: v for k, v in GOOD.items() if k != "designer"}),  # optional field absent
        line({k: v for k, v in GOOD.items() if k != "title"}),  # warning: missing
        line(GOOD | {"product_identifier": ""}),
        line(GOOD | {"price": -1}),
        line(GOOD | {"price": True}),
        line(GOOD | {"price": "10"}),
        line(GOOD | {"sizes": ["S", 1]}),
        b"",
        b"not json",
        line(GOOD | {"title": "E~"}).replace(b"E~", b"E\xff"),  # invalid UTF-8
        line(GOOD | {"price": 2**63}),  # the rules report integers past signed 64 bits
        line(GOOD | {"price": 9.3e18}),  # a float as big: left to the rules all the same
        b'{"operation":"insert","product_data":{}} trailing',
    ],
)
def test_lines_the_rules_question_are_not_proven(raw: bytes) -> None:
    proven = prove_lines([line(GOOD), raw])
    assert proven is None or proven[1] is None
    if proven is not None:
        assert proven[0] is not None


@pytest.mark.parametrize(
    "product",
    [
        GOOD | {"product_identifier": "   "},
        GOOD | {"variant_identifier": "\u00a0"},
        GOOD | {"images": ["https://cdn.example.com/a b.jpg"]},
        GOOD | {"images": ["https:///a.jpg"]},
        GOOD | {"images": ["https://"]},
        GOOD | {"images": ["ftp://cdn.example.com/a.jpg"]},
        GOOD | {"images": ["https://cdn.example.com/a.jpg\t"]},
        GOOD | {"images": ["https://cdn.example.com/\u2003.jpg"]},
        GOOD | {"images": [""]},
    ],
)
def test_a_block_with_a_doubtful_string_is_not_proven(product: dict[str, Any]) -> None:
    assert check_line(line(product)).issues  # the rules have something to say
    assert prove_lines([line(GOOD), line(product)]) is None


def test_bare_products_are_proven_and_named() -> None:
    lines = [line(GOOD), orjson.dumps(GOOD), b"  " + orjson.dumps(GOOD) + b" "]
    decoders = fast.Decoders()
    proof = prove(lines, decoders)  # line by line (one starts with spaces): mostly bare
    assert proof is not None
    assert all(fine is not None for fine in proof.products)
    assert proof.bare == [1, 2]
    assert decoders.bare_first  # the next block is decoded bare first
    many = [orjson.dumps(GOOD)] * 3 + [line(GOOD)]
    for _ in range(2):
        proof = prove(many, decoders)
        assert proof is not None and proof.bare == [0, 1, 2]


def test_a_block_of_either_kind_is_decoded_in_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    def one_by_one(*args: Any) -> Any:
        raise AssertionError("decoded line by line")

    monkeypatch.setattr(fast, "_decode_all", one_by_one)
    bare_missing_a_field = {k: v for k, v in GOOD.items() if k != "color"}
    lines = [line(GOOD), orjson.dumps(GOOD) + b"\r", orjson.dumps(bare_missing_a_field)]
    proof = prove(lines)
    assert proof is not None
    assert [fine is not None for fine in proof.products] == [True, True, False]
    assert proof.bare == [1]
    assert proof.products[1].product_identifier == GOOD["product_identifier"]


@pytest.mark.parametrize("blank", [b"", b"  ", b"\t"])
def test_a_line_holding_two_values_is_never_proven(blank: bytes) -> None:
    """One call reads values, not lines: a blank line must not make up for a line holding
    two, or the second value would be proven as the blank line."""
    other = line(GOOD | {"variant_identifier": "V2"})
    proven = prove_lines([line(GOOD) + b" " + other, blank, line(GOOD)])
    assert proven is not None and proven[0] is None
    assert proven[2] is not None


def test_nesting_deeper_than_msgspec_goes_is_left_to_the_rules() -> None:
    deep = b"[" * 2000 + b"]" * 2000
    bare = orjson.dumps(GOOD)[:-1] + b',"deep":' + deep + b"}"
    beside = line(GOOD)[:-1] + b',"deep":' + deep + b"}"  # skipped beside the wrapper
    for raw in (bare, beside):
        proven = prove_lines([raw, line(GOOD)])
        assert proven is None or proven[0] is None


def test_a_wrapped_line_with_a_product_field_outside_is_not_proven() -> None:
    outside = b'{"title":"T",' + line(GOOD)[1:]
    unwrapped = b'{"title":"T","product_data":' + orjson.dumps(GOOD) + b"}"
    assert prove_lines([outside, line(GOOD)]) is None  # one key too many: refused
    proven = prove_lines([unwrapped, line(GOOD)])
    assert proven is not None and proven[0] is None


def test_extra_fields_are_proven_once_learned() -> None:
    extra = {"gender": "women", "stock": {"EU": [1, 2], "US": None}, "note": "a: b"}
    lines = [line(GOOD | extra), line(GOOD | {"gender": "men"}), line(GOOD)]
    decoders = fast.Decoders()
    first = prove_lines(lines, decoders)
    assert first is not None and first[:2] == [None, None] and first[2] is not None
    decoders.learn(GOOD | extra)
    proven = prove_lines(lines, decoders)
    assert proven is not None and all(fine is not None for fine in proven)
    bare = prove([orjson.dumps(GOOD | extra)], decoders)
    assert bare is not None and bare.bare == [0]
    others = prove_lines(lines)  # other decoders learned nothing
    assert others is not None and others[:2] == [None, None]
    started = fast.Decoders(decoders.extras)  # a worker starting from what was learned
    assert None not in prove_lines(lines, started)  # type: ignore[operator]


def test_wrapper_keys_are_never_learned_as_extra_fields() -> None:
    decoders = fast.Decoders()
    decoders.learn(GOOD | {"operation": "insert", "action": "insert", "product_data": {}, "x": 1})
    assert decoders.extras == ("x",)
    raw = orjson.dumps(GOOD | {"operation": "insert"})  # no product_data: an error
    assert check_line(raw).record is None
    assert prove_lines([raw], decoders) == [None]


@pytest.mark.parametrize(
    "value",
    [
        b'"E\xff"',  # invalid UTF-8
        b'"\\udc00"',  # a lone surrogate
        b"123456789012345678901",  # past 64 bits
        b"9223372036854775808",  # past signed 64 bits
        b'{"a":1,"a":2}',  # a repeated key inside the value
    ],
)
def test_learned_extra_values_the_rules_question_are_not_proven(value: bytes) -> None:
    decoders = fast.Decoders()
    decoders.learn(GOOD | {"x": 1})
    raw = line(GOOD | {"x": 0}).replace(b'"x":0', b'"x":' + value)
    assert check_line(raw).issues
    proven = prove_lines([line(GOOD | {"x": "fine"}), raw], decoders)
    assert proven is None or (proven[0] is not None and proven[1] is None)


def test_a_repeated_extra_key_refuses_the_proof() -> None:
    decoders = fast.Decoders()
    decoders.learn(GOOD | {"x": 1})
    raw = line(GOOD | {"x": 1})[:-2] + b',"x":2}}'
    assert any(code == "duplicate_key" for _, code, _ in check_line(raw).issues)
    assert prove_lines([line(GOOD), raw], decoders) is None


def test_upper_case_schemes_are_proven_by_the_rule_itself() -> None:
    raw = line(GOOD | {"images": ["HTTPS://CDN.EXAMPLE.COM/A.JPG"]})
    assert check_line(raw).issues == []
    proven = prove_lines([raw])
    assert proven is not None and proven[0] is not None


@pytest.mark.parametrize(
    "raw",
    [
        line(GOOD)[:-2] + b',"title":"again"}}',  # a repeated known key, last one kept
        line(GOOD)[:-2] + b',"color":"a:b"}}',
        line(GOOD)[:-1] + b',"operation":"insert"}',
        line(GOOD)[:-2] + b',"title" :"again"}}',  # whitespace before the colon
        line(GOOD).replace(b'"title":', b'"title" :')[:-2] + b',"title":"again"}}',
        line(GOOD)[:-2] + b',"title":"a\\":b"}}',  # an escaped quote before a colon
    ],
)
def test_a_repeated_key_refuses_the_proof_for_the_block(raw: bytes) -> None:
    assert any(code == "duplicate_key" for _, code, _ in check_line(raw).issues)
    assert prove_lines([line(GOOD), raw]) is None


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
products = st.fixed_dictionaries(
    {
        "product_identifier": text,
        "variant_identifier": text,
        "title": text,
        "images": st.lists(
            st.one_of(text, text.map(lambda t: "https://" + t), text.map(lambda t: "http://h" + t)),
            max_size=3,
        ),
        "designer": text,
        "color": text,
        "categories": st.lists(text, max_size=3),
        "sizes": st.lists(text, max_size=3),
        "price": st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-5, 5)),
    },
    optional={
        "extra": st.one_of(
            st.integers(-(2**65), 2**65), text, st.dictionaries(text, st.integers(), max_size=2)
        )
    },
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(products, st.booleans()), min_size=1, max_size=5),
    st.sampled_from([(",", ":"), (", ", ": "), (",", " : "), (",", ":\t")]),
    st.lists(st.integers(0, 4), max_size=3),
    st.booleans(),
)
def test_proven_lines_are_exactly_lines_the_rules_accept_silently(
    items: list[tuple[dict[str, Any], bool]],
    separators: tuple[str, str],
    repeats: list[int],
    learned: bool,
) -> None:
    decoders = fast.Decoders()
    if learned:
        decoders.learn(GOOD | {"extra": 0})
    lines = [
        json.dumps(
            item if bare else {"operation": "insert", "product_data": item},
            separators=separators,
        ).encode()
        for item, bare in items
    ]
    for index in repeats:  # a key said twice: never proven
        if index < len(lines):
            lines[index] = lines[index][:-1] + b',"color":"again"}'

    proof = prove(lines, decoders)
    if proof is None:
        return
    for index, (raw, fine) in enumerate(zip(lines, proof.products, strict=True)):
        if fine is not None:
            result = check_line(raw)
            assert result.issues == [], raw
            assert fine.product_identifier == result.product["product_identifier"]
            assert (index in proof.bare) == (not raw.startswith(b'{"operation"'))


def test_lines_spaced_out_are_proven_too() -> None:
    spaced = json.dumps({"operation": "insert", "product_data": GOOD}).encode()
    around_colons = spaced.replace(b'": ', b'" : ')
    proven = prove_lines([spaced, around_colons, line(GOOD)])
    assert proven is not None and all(fine is not None for fine in proven)


url_text = st.text(st.sampled_from("ab1.:/?#@ \t\u00e9\u2003-_"), max_size=6)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.one_of(url_text, url_text.map("https://".__add__), url_text.map("http://".__add__)),
        min_size=1,
        max_size=6,
    )
)
def test_urls_sharing_a_host_pass_the_rule(items: list[str]) -> None:
    from psykhe_cli.validate.rules import urls_are_valid

    if fast._urls_share_a_host(items):
        assert all(urls_are_valid(item, 1) for item in items), items


def test_urls_from_a_few_lettered_hosts_are_proven_without_the_rule() -> None:
    assert fast._urls_share_a_host(["https://a.com/x.jpg", "https://b.com/y.jpg?v=1#z"])
    assert not fast._urls_share_a_host(["https://a.com/x y.jpg", "https://a.com/y.jpg"])
    assert not fast._urls_share_a_host(["https://10.0.0.1/x.jpg"])  # a digit: the rule decides
    assert not fast._urls_share_a_host(["https://a.com/x.jpg", "http://a.com/y.jpg"])


def test_extra_field_names_msgspec_cannot_take_are_not_learned() -> None:
    odd = {'say "hi"': 1, "back\\slash": 2, "bell\x07": 3, "": 4, "extra_0": 5, "ünï": 6}
    decoders = fast.Decoders()
    decoders.learn(GOOD | odd)  # raised ValueError once: an internal error for the whole feed
    assert decoders.extras == ("", "extra_0", "ünï")
    nameable = {k: v for k, v in odd.items() if k in decoders.extras}
    proven = prove_lines([line(GOOD | nameable), line(GOOD | odd)], decoders)
    assert proven is not None and proven[0] is not None and proven[1] is None
