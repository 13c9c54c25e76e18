"""A shop export read in parts for a push: each part's records are sifted and encoded where
the part is read, and what arrives is exactly the one-process reader's records, in order —
also when a duplicate found on merging must be left out of a part already encoded."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psykhe_cli.errors import InputError
from psykhe_cli.validate.events import Compared, Encoded, Records, RejectedLine, Wanted
from tests.shop_parts import check_in_parts, reference
from tests.test_validate_shop_ranges import (
    CHILDREN,
    SHOPIFY_HEADER,
    rss_feed,
    shopify_rows,
    shopify_text,
    tsv_text,
)


def compress(data: bytes, count: int) -> bytes:
    """An encoder as push's: a gzip member of the records (must pickle: module level)."""
    return zlib.compress(data)


class Codec:
    def encoder(self) -> Any:
        return compress


class EveryOther:
    """A sieve keeping the records whose bytes' CRC is even; answers how many it saw."""

    def __call__(self, records: list[bytes], identifiers: Any) -> tuple[Any, Any]:
        return [zlib.crc32(r) % 2 == 0 for r in records], len(records)


def kept_by_sieve(records: list[bytes]) -> list[bytes]:
    return [r for r in records if zlib.crc32(r) % 2 == 0]


def encoded_in_parts(path: Path, fmt: str, step: int, sieve: Any = None) -> tuple[Any, ...]:
    """What a push's check of ``path`` cut in ranges of ``step`` bytes passes on: the records
    (decoded from the encoded pieces), the rejected rows and the problems."""
    wanted = Wanted(records=True, codec=Codec(), rejected=True, sieve=sieve)
    try:
        out, merger = check_in_parts(path, fmt, step, wanted)
    except InputError as exc:
        return ("error", str(exc))
    # every record comes encoded where its part was read, none one by one
    assert not any(type(e) is Records for e in out)
    records = b"".join(zlib.decompress(e.piece) for e in out if type(e) is Encoded)
    rejected = [(e.line, e.raw) for e in out if type(e) is RejectedLine]
    compared = sum(e.answer for e in out if type(e) is Compared)
    report = merger.report
    return records, rejected, (report.variants, report.errors), compared


def expected(path: Path, fmt: str, sieve: bool = False) -> tuple[Any, ...]:
    outcome = reference(path, fmt)
    if outcome[0] == "error":
        return outcome
    figures, _, _, rejected, records = outcome
    sent = kept_by_sieve(records) if sieve else records
    return b"".join(sent), rejected, (figures[2], figures[3])


def shared_xml(tmp_path: Path) -> Path:
    """Items whose variant ids repeat, in other products and in the same one."""
    items = [[CHILDREN[0], CHILDREN[1], CHILDREN[5], CHILDREN[8]] for _ in range(30)]
    text = rss_feed(items, ["\n", "\r\n"])
    # item 20 takes item 3's id in another product; item 25 repeats item 24 within its own
    text = text.replace("<g:id>20</g:id>", "<g:id>3</g:id>")
    text = text.replace(
        "<g:id>25</g:id>\n  <g:item_group_id>P8", "<g:id>24</g:id>\n  <g:item_group_id>P8"
    )
    path = tmp_path / "feed.xml"
    path.write_text(text)
    return path


def shared_shopify(tmp_path: Path) -> Path:
    shape = [(3, n % 4, 0, 0) for n in range(25)]
    rows = shopify_rows(shape)
    rows[60][6] = rows[4][6]  # a later product gives an earlier one's SKU
    path = tmp_path / "products.csv"
    path.write_bytes(shopify_text(rows, [], "\n").encode())
    return path


def shared_tsv(tmp_path: Path) -> Path:
    """Items of 20 products; ids repeat every 7 items, in other products."""
    path = tmp_path / "feed.tsv"
    path.write_text(tsv_text([(n % 2, n % 3) for n in range(20)], [], "\n"))
    return path


@pytest.mark.parametrize(
    ("fmt", "feed"),
    [("gmc", shared_xml), ("shopify", shared_shopify), ("gmc", shared_tsv)],
    ids=["xml", "shopify", "tsv"],
)
@pytest.mark.parametrize("sieve", [False, True], ids=["all", "sieved"])
def test_parts_encoded_where_read_pass_on_the_one_process_records(
    tmp_path: Path, fmt: str, feed: Any, sieve: bool
) -> None:
    path = feed(tmp_path)
    want = expected(path, fmt, sieve)
    assert want[1], "a shared variant id is rejected on merging"
    size = path.stat().st_size
    for step in range(200, size, 97):
        got = encoded_in_parts(path, fmt, step, EveryOther() if sieve else None)
        assert got[:3] == want, f"ranges of {step} bytes"
        if sieve:  # the sieve saw every record the rules accepted, once: those sent, and
            # those rejected on merging (named by their record, the others by their row)
            on_merging = [raw for _, raw in want[1] if raw.startswith(b'{"operation"')]
            assert on_merging
            assert got[3] == want[2][0] + len(on_merging)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shape=st.lists(
        st.tuples(
            st.integers(1, 4), st.integers(0, 4), st.integers(0, 2), st.sampled_from([0, 0, 2, 3])
        ),
        min_size=2,
        max_size=12,
    ),
    repeat=st.tuples(st.integers(0, 100), st.integers(0, 100)),
    step=st.integers(60, 900),
    sieve=st.booleans(),
)
def test_shopify_parts_encoded_differential(
    tmp_path: Path,
    shape: list[tuple[int, int, int, int]],
    repeat: tuple[int, int],
    step: int,
    sieve: bool,
) -> None:
    rows = shopify_rows(shape)
    earlier, later = sorted(r % len(rows) for r in repeat)
    rows[later][6] = rows[earlier][6]  # a SKU given again (or the same row: no change)
    path = tmp_path / "products.csv"
    path.write_bytes(shopify_text(rows, [], "\n").encode())
    assert len(SHOPIFY_HEADER) == len(rows[0])
    want = expected(path, "shopify", sieve)
    got = encoded_in_parts(path, "shopify", step, EveryOther() if sieve else None)
    assert (got if got[0] == "error" else got[:3]) == want
