"""The catalog sieve changes nothing but what is sent: whichever way a block is checked (the
fast proof or the per-line rules, vectorized or not, records or encoded pieces), the same
records are kept and the same changes counted — exactly the records whose content differs
from the memory's."""

from __future__ import annotations

import io
import json
import zlib
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psykhe_cli.catalog import Changes, Memory, Sieve, Tally, compare_records
from psykhe_cli.catalog.hashing import products_of
from psykhe_cli.deflate import FINAL_BLOCK, BlockDeflater
from psykhe_cli.validate import FeedSource, ValidationOptions, blocks, check_feeds, engine
from tests.helpers import product
from tests.test_validate_differential import GOOD, decodable_lines, lines

FIRST = json.dumps({"operation": "insert", "product_data": GOOD}).encode()


def sifted(
    data: bytes, memory: Memory | None, *, codec: bool = False
) -> tuple[list[bytes], Changes]:
    """The records the sieve keeps (``--only-changed``) and the changes counted."""
    records: list[bytes] = []
    pieces: list[Any] = []
    sieve, tally = Sieve(memory, only_changed=True), Tally(memory, "t")
    try:
        check_feeds(
            [FeedSource("-")],
            ValidationOptions(workers=0, max_problems=10_000),
            stdin=io.BytesIO(data),
            on_records=records.extend,
            codec=BlockDeflater() if codec else None,
            on_encoded=pieces.append,
            sieve=sieve,
            on_compared=tally.add,
        )
    finally:
        sieve.close()
    if pieces:  # raw deflate pieces: closed by a final block, they are one stream
        data = zlib.decompress(b"".join(piece.data for piece in pieces) + FINAL_BLOCK, -15)
        records += data.splitlines(keepends=True)
    return records, tally.changes(sent=len(records))


def memory_of(data: bytes) -> Memory:
    """The memory a completed full push of ``data`` leaves."""
    sieve, tally = Sieve(None, only_changed=False), Tally(None, "t")
    check_feeds(
        [FeedSource("-")],
        ValidationOptions(workers=0, max_problems=10_000),
        stdin=io.BytesIO(data),
        on_records=lambda _: None,
        sieve=sieve,
        on_compared=tally.add,
    )
    sieve.close()
    return tally.replacement()


def feed(items: list[bytes]) -> bytes:
    return b"\n".join([FIRST, *items]) + b"\n"


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(st.one_of(lines(), decodable_lines()), min_size=1, max_size=20),
    st.lists(st.one_of(lines(), decodable_lines()), min_size=1, max_size=20),
    st.booleans(),
)
def test_the_sieve_keeps_the_same_records_whichever_way_a_block_is_checked(
    monkeypatch: pytest.MonkeyPatch, before: list[bytes], after: list[bytes], vector: bool
) -> None:
    import numpy

    check_block = blocks.check_block
    monkeypatch.setattr(
        engine, "check_block", lambda *args: check_block(*args, numpy=numpy if vector else None)
    )
    memory = memory_of(feed(before))
    data = feed(before[: len(before) // 2] + after)
    fast = sifted(data, memory)
    encoded = sifted(data, memory, codec=True)
    with monkeypatch.context() as patched:
        patched.setattr(blocks, "prove_lines", lambda *args: None)
        reference = sifted(data, memory)
    assert fast == reference
    assert encoded[0] == reference[0] and encoded[1] == reference[1]
    # exactly the records whose content the memory does not hold
    every: list[bytes] = []
    check_feeds([FeedSource("-")], stdin=io.BytesIO(data), on_records=every.extend)
    held = {
        (key, content)
        for key, content in zip(memory.keys.tolist(), memory.contents.tolist(), strict=True)
    }
    expected = [record for record in every if _hashes(record) not in held]
    assert reference[0] == expected
    assert reference[1] == compare_records_only_changed(memory, every)


def _hashes(record: bytes) -> tuple[int, int]:
    from psykhe_cli.catalog.hashing import content_hashes, identifiers_of, key_hashes
    from psykhe_cli.validate.lines import load_numpy

    np = load_numpy()
    products = products_of([record])
    keys = key_hashes(*identifiers_of(products), np)
    return int(keys[0]), int(content_hashes(products, np)[0])


def compare_records_only_changed(memory: Memory, records: list[bytes]) -> Changes:
    """``compare_records`` (what restore uses), with ``sent`` as an ``--only-changed`` push."""
    found = compare_records(memory, [records])
    held = {
        (key, content)
        for key, content in zip(memory.keys.tolist(), memory.contents.tolist(), strict=True)
    }
    sent = sum(_hashes(record) not in held for record in records)
    return Changes(**{**found.__dict__, "sent": sent})


def test_key_order_and_whitespace_do_not_count() -> None:
    item = product("P", "V", price=1)
    plain = orjson.dumps({"operation": "insert", "product_data": item}) + b"\n"
    memory = memory_of(plain)
    spaced = json.dumps(
        {"product_data": dict(reversed(list(item.items()))), "operation": "insert"},
        separators=(" ,  ", " :   "),
    )
    records, changes = sifted(spaced.encode() + b"\n", memory)
    assert records == [] and (changes.unchanged, changes.changed) == (1, 0)
    records, changes = sifted(plain.replace(b'"price":1', b'"price":2'), memory)
    assert len(records) == 1 and changes.fields == {"price": 1}


def test_a_worker_that_cannot_see_the_memory_sends_all_and_the_tally_compares() -> None:
    import pickle

    from psykhe_cli.catalog import compare

    items = [product(f"P{i}", f"V{i}", price=i) for i in range(20)]
    lines = [orjson.dumps({"operation": "insert", "product_data": i}) + b"\n" for i in items]
    memory = memory_of(b"".join(lines))
    changed = [*lines[:15], lines[15].replace(b'"price":15', b'"price":99'), *lines[16:]]
    seeing = Sieve(memory, only_changed=True)
    blind = pickle.loads(pickle.dumps(seeing))
    seeing.close()  # as in a worker that was not forked: the memory is not there
    assert not blind.blind
    blind = compare._sieve_of(seeing.token, True)
    assert blind.blind
    kept, answer = blind(changed)
    assert kept is None  # nothing left out: it cannot tell
    tally = Tally(memory, "t")
    tally.add(answer)
    assert (tally.changes(sent=20).changed, tally.changes(sent=20).fields) == (1, {"price": 1})
    seeing_again = Sieve(memory, only_changed=True)
    kept, answer = seeing_again(changed)
    seeing_again.close()
    assert kept.tolist() == [i == 15 for i in range(20)]
