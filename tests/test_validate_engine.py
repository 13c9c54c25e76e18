"""FeedCheck/check_feeds: one pass, in order, what push consumes, in-process and in workers."""

from __future__ import annotations

import csv
import functools
import gzip
import io
import json
import random
import subprocess
import sys
import threading
from array import array
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from psykhe_cli.deflate import BlockDeflater
from psykhe_cli.errors import InputError
from psykhe_cli.feeds.blocks import LINE_CAP
from psykhe_cli.validate import (
    Encoded,
    FeedCheck,
    FeedReport,
    FeedSource,
    HashSet64,
    Problem,
    ValidationOptions,
    Wanted,
    check_feeds,
)
from psykhe_cli.validate.lines import Lines

IN_PROCESS = ValidationOptions(workers=0)
#: tiny blocks, workers from the first byte: the parallel path on a small feed
IN_WORKERS = ValidationOptions(workers=2, block_size=64, parallel_after=0)


def product(pid: str, vid: str, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "product_identifier": pid,
        "variant_identifier": vid,
        "title": "Silk Slip Dress",
        "images": [f"https://cdn.example.com/{vid}.jpg"],
        "price": 240.0,
    }
    base.update(extra)
    return base


def line(pid: str, vid: str, **extra: object) -> bytes:
    return orjson.dumps({"operation": "insert", "product_data": product(pid, vid, **extra)})


class Collected:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.records: list[bytes] = []
        self.rejected: list[tuple[str, int, bytes, list[Problem]]] = []
        self.progress: list[tuple[int, int]] = []

    def run(self, data: bytes | None, options: ValidationOptions, *paths: str) -> FeedReport:
        sources = [FeedSource(p) for p in paths] or [FeedSource("-")]
        return check_feeds(
            sources,
            options,
            stdin=io.BytesIO(data or b""),
            on_problem=self.problems.append,
            on_records=self.records.extend,
            on_rejected=lambda *args: self.rejected.append(args),
            on_progress=lambda *args: self.progress.append(args),
        )


def _orjson_reason(line: bytes) -> str:
    """orjson's own words for a bad line (they differ between its versions)."""
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return str(exc).split(":")[0]
    raise AssertionError(f"{line!r} is valid JSON")


def check(data: bytes, options: ValidationOptions = IN_PROCESS) -> tuple[FeedReport, Collected]:
    seen = Collected()
    return seen.run(data, options), seen


FEED = (
    b"\n".join(
        [
            line("A", "A-S"),
            b"",
            line("A", "A-M"),
            b'{"product_identifier":"B","variant_identifier":"B","title":"t","images":[],"price":1}',
            b'{"action":"insert","product_data":' + orjson.dumps(product("C", "C-1")) + b"}",
            b"not json",
            line("A", "A-S"),
            line("D", "D-1", price=-1),
            b"   ",
        ]
    )
    + b"\n"
)


@pytest.mark.parametrize("options", [IN_PROCESS, IN_WORKERS], ids=["in-process", "workers"])
def test_check_feeds_counts_problems_and_records(options: ValidationOptions) -> None:
    report, seen = check(FEED, options)
    assert (report.lines, report.products, report.variants) == (9, 3, 5)
    assert (report.errors, report.warnings, report.rejected_lines) == (2, 2, 2)
    assert report.counts_by_code == {
        "duplicate_variant": 1,
        "invalid_json": 1,
        "invalid_price": 1,
        "legacy_action": 1,
    }
    assert [p.format() for p in seen.problems] == [
        "<stdin>:5: warning[legacy_action]: legacy key 'action'; sent as 'operation' "
        "(product_identifier=C)",
        f"<stdin>:6: error[invalid_json]: invalid JSON: {_orjson_reason(b'not json')} (column 1)",
        "<stdin>:7: warning[duplicate_variant]: variant_identifier 'A-S' of product 'A' repeats "
        "line 1; the server keeps one record per variant id, so this line replaces it "
        "(product_identifier=A)",
        "<stdin>:8: error[invalid_price]: price must be a finite number >= 0, got -1 "
        "(product_identifier=D)",
    ]
    lines = FEED.split(b"\n")
    assert seen.records == [
        lines[0] + b"\n",
        lines[2] + b"\n",
        b'{"operation":"insert","product_data":' + lines[3] + b"}\n",
        b'{"operation":"insert","product_data":' + orjson.dumps(product("C", "C-1")) + b"}\n",
        lines[6] + b"\n",
    ]
    assert [(f, n, raw) for f, n, raw, _ in seen.rejected] == [
        ("<stdin>", 6, b"not json"),
        ("<stdin>", 8, lines[7]),
    ]
    assert not report.ok
    assert report.problems == seen.problems
    assert seen.progress[-1] == (9, len(FEED))


def test_check_feeds_workers_match_in_process_on_a_varied_feed() -> None:
    rng = random.Random(7)
    lines = []
    for _ in range(400):
        pid = f"P{rng.randint(1, 60)}"
        kind = rng.random()
        if kind < 0.05:
            lines.append(b"{broken")
        elif kind < 0.1:
            lines.append(orjson.dumps(product(pid, f"{pid}-{rng.randint(1, 3)}")))
        elif kind < 0.12:
            lines.append(b"")
        else:
            lines.append(line(pid, f"{pid}-{rng.randint(1, 9)}", price=rng.choice([1, -1, 2.5])))
    data = b"\r\n".join(lines)
    a, seen_a = check(data, IN_PROCESS)
    b, seen_b = check(data, IN_WORKERS)
    assert a.to_json() == b.to_json()
    assert seen_a.records == seen_b.records
    assert seen_a.rejected == seen_b.rejected


def test_check_feeds_strict_makes_warnings_errors_and_rejects_duplicates() -> None:
    report, seen = check(FEED, ValidationOptions(workers=0, strict=True))
    assert (report.errors, report.warnings, report.variants) == (4, 0, 3)
    assert report.rejected_lines == 4
    assert {p.level for p in seen.problems} == {"error"}
    assert [n for _, n, _, _ in seen.rejected] == [5, 6, 7, 8]
    assert [p.code for p in seen.rejected[2][3]] == ["duplicate_variant"]
    assert len(seen.records) == 3


def test_check_feeds_max_problems_caps_the_list_not_the_counts() -> None:
    data = b"".join(b"oops\n" for _ in range(50))
    report, seen = check(data, ValidationOptions(workers=0, max_problems=3))
    assert [p.line for p in seen.problems] == [1, 2, 3]
    assert len(report.problems) == 3
    assert report.errors == 50
    assert report.counts_by_code == {"invalid_json": 50}
    assert len(seen.rejected) == 50  # push's rejects file still gets every line


def test_check_feeds_crlf_bom_and_last_line_without_newline() -> None:
    data = b"\xef\xbb\xbf" + line("A", "1") + b"\r\n" + line("A", "2")
    report, seen = check(data)
    assert (report.lines, report.variants, report.errors) == (2, 2, 0)
    assert seen.records == [line("A", "1") + b"\n", line("A", "2") + b"\n"]


def test_check_feeds_empty_feed() -> None:
    report, seen = check(b"")
    assert report.to_json() == {
        "ok": False,  # nothing to send: refused by validate and push alike
        "files": ["<stdin>"],
        "lines": 0,
        "products": 0,
        "variants": 0,
        "errors": 0,
        "warnings": 0,
        "left_out": 0,
        "counts_by_code": {},
        "problems": [],
    }
    assert seen.records == []


def test_check_feeds_several_files_are_one_feed(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl.gz"
    first.write_bytes(line("A", "1") + b"\n")
    second.write_bytes(gzip.compress(line("A", "1") + b"\n" + line("B", "2") + b"\n"))
    report = Collected().run(None, IN_PROCESS, str(first), str(second))
    assert report.files == [str(first), str(second)]
    assert (report.lines, report.products, report.variants, report.warnings) == (3, 2, 3, 1)
    assert report.problems[0].file == str(second)
    assert report.problems[0].line == 1


def test_check_feeds_truncated_gzip_is_an_error_not_a_shorter_feed(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl.gz"
    data = gzip.compress(b"".join(line("A", str(i)) + b"\n" for i in range(300)))
    path.write_bytes(data[:-20])
    with pytest.raises(InputError, match="truncated gzip"):
        Collected().run(None, IN_WORKERS, str(path))


@pytest.mark.parametrize(
    "data", [b'[\n  {"product_identifier": "A"}\n]\n', b'\n{\n  "product_identifier": "A"\n}\n']
)
def test_check_feeds_json_document_is_one_clear_error(data: bytes) -> None:
    with pytest.raises(InputError, match="this is a JSON document") as caught:
        check(data)
    assert caught.value.hint is not None
    assert "jq -c '.[]'" in caught.value.hint


def test_check_feeds_csv_rows_become_wrapped_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_bytes(
        b"sku,product_identifier,title,images,price,sizes\n"
        b"A-S,A,Dress,https://a.com/1.jpg|https://a.com/2.jpg,10.5,S\n"
        b"A-M,A,Dress,,x,M\n"
    )
    seen = Collected()
    source = FeedSource(str(path), column_map=(("sku", "variant_identifier"),))
    report = check_feeds(
        [source], IN_PROCESS, on_records=seen.records.extend, on_problem=seen.problems.append
    )
    # the header row is not a line
    assert (report.lines, report.products, report.variants, report.errors) == (2, 1, 1, 1)
    assert orjson.loads(seen.records[0]) == {
        "operation": "insert",
        "product_data": {
            "variant_identifier": "A-S",
            "product_identifier": "A",
            "title": "Dress",
            "images": ["https://a.com/1.jpg", "https://a.com/2.jpg"],
            "price": 10.5,
            "sizes": ["S"],
        },
    }
    assert [p.format() for p in seen.problems] == [
        f"{path}:3: warning[missing_images]: images is missing (product_identifier=A)",
        f'{path}:3: error[invalid_price]: price must be a finite number >= 0, got "x" '
        "(product_identifier=A)",
    ]


def test_hash_set_reports_repeats_and_survives_growth() -> None:
    seen = HashSet64()
    rng = random.Random(3)
    values = [rng.getrandbits(64) for _ in range(20000)]
    assert seen.add_all(values) == []
    assert seen.add_all([values[5], 12345, 12345, values[0]]) == [0, 2, 3]
    assert seen.size == 20001
    halves = HashSet64()
    assert halves.add_all(values[:10000]) == []
    assert halves.add_all(values) == list(range(10000))


def test_hash_set_agrees_with_a_python_set_past_the_switch_to_sorted_runs() -> None:
    rng = random.Random(7)
    pool = [rng.getrandbits(64) for _ in range(150_000)]  # repeats come from drawing again
    seen, reference = HashSet64(), set()
    for _ in range(120):
        batch = array("Q", (rng.choice(pool) for _ in range(2500)))
        expected = []
        for index, value in enumerate(batch):
            if value in reference:
                expected.append(index)
            reference.add(value)
        assert seen.add_all(batch) == expected
        assert seen.size == len(reference)
    assert seen.size > 65536  # the sorted runs were in use


def test_hash_set_counts_new_hashes_like_a_python_set() -> None:
    rng = random.Random(11)
    pool = [rng.getrandbits(64) for _ in range(60_000)]
    counted, reference = HashSet64(), set()
    for _ in range(60):  # the Python set, then the sorted runs
        batch = array("Q", (rng.choice(pool) for _ in range(1500)))
        before = len(reference)
        reference.update(batch)
        assert counted.count_new(batch) == len(reference) - before
        assert counted.size == len(reference)
    assert counted.size > 16384


# -- properties --------------------------------------------------------------------------

words = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="|["),
        min_size=1,
        max_size=12,
    )
    .map(str.strip)
    .filter(bool)
)
catalog_products = st.lists(
    st.fixed_dictionaries(
        {
            "product_identifier": words,
            "variant_identifier": words,
            "title": st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1)
            .map(lambda s: s.replace("\r", ""))
            .filter(lambda s: s != "" and not s.isspace()),
            "images": st.lists(
                st.from_regex(r"https://[a-z]{1,8}\.com/[a-z0-9_]{1,10}\.jpg", fullmatch=True),
                min_size=1,
                max_size=3,
            ),
            "price": st.floats(min_value=0, max_value=1e9) | st.integers(0, 10**6),
            "categories": st.lists(words, min_size=1, max_size=3),
            "sizes": st.lists(words, min_size=1, max_size=3),
            "designer": words,
        }
    ),
    max_size=20,
    # one variant id, one record: a variant id given by two products is an error
    unique_by=lambda product: product["variant_identifier"],
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(catalog_products, st.booleans())
def test_valid_catalog_round_trips_through_jsonl(
    products: list[dict[str, object]], bare: bool
) -> None:
    lines = [
        orjson.dumps(p if bare else {"operation": "insert", "product_data": p}) for p in products
    ]
    report, seen = check(b"\n".join(lines))
    assert report.variants == len(products)
    assert report.errors == 0
    assert [orjson.loads(r)["product_data"] for r in seen.records] == products


def cell(value: object) -> str:
    if isinstance(value, list):
        return "|".join(value)
    return repr(value) if isinstance(value, float) else str(value)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(catalog_products)
def test_valid_catalog_round_trips_through_csv(products: list[dict[str, object]]) -> None:
    # the test's own writer: Python 3.10's csv module cannot write a NUL at all
    assume(sys.version_info >= (3, 11) or not any("\x00" in str(p["title"]) for p in products))
    fields = list(products[0]) if products else ["product_identifier"]
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(fields)
    for p in products:
        writer.writerow([cell(p[field]) for field in fields])
    seen = Collected()
    report = check_feeds(
        [FeedSource("-", format="csv")],
        IN_PROCESS,
        stdin=io.BytesIO(out.getvalue().encode()),
        on_records=seen.records.extend,
    )
    assert report.errors == 0
    assert report.variants == len(products)
    assert [orjson.loads(r)["product_data"] for r in seen.records] == products


@pytest.mark.parametrize("options", [IN_PROCESS, IN_WORKERS], ids=["in-process", "workers"])
def test_check_feeds_exact_checks_inside_a_block(options: ValidationOptions) -> None:
    good = line("A", "1")
    data = b"\n".join(
        [
            good,
            good[:-2] + b',"\\u0074itle":"twin"}}',  # an escaped duplicate key
            good[:-2] + b',"note":"\\u003a"}}',  # an escaped colon, no duplicate
            good[:-2] + b',"n":18446744073709551616}}',  # past 2**64: orjson makes it a float
            good[:-2] + b',"x":{"k":1,"k":2}}}',
        ]
    )
    report, seen = check(data, options)
    assert [(p.line, p.code) for p in seen.problems] == [
        (2, "duplicate_key"),
        (3, "duplicate_variant"),
        (4, "integer_out_of_range"),
        (5, "duplicate_key"),
    ]
    assert report.variants == 2


def test_workers_are_really_used_by_the_parallel_tests() -> None:
    from psykhe_cli.validate.workers import Workers

    with Workers(IN_WORKERS) as workers:
        assert workers.count == 2  # else the "workers" rows above tested the in-process path
        assert workers.start(0)


@pytest.mark.parametrize("options", [IN_WORKERS, IN_PROCESS], ids=["workers", "in-process"])
def test_on_workers_is_called_once_when_workers_run(
    tmp_path: Path, options: ValidationOptions
) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_bytes(b"".join(line(f"P{i}", f"V{i}") + b"\n" for i in range(40)))
    started: list[int] = []
    with FeedCheck([FeedSource(str(path))], options, on_workers=lambda: started.append(0)) as check:
        list(check)
    assert check.report.variants == 40
    assert len(started) == (1 if options is IN_WORKERS else 0)


def test_feed_check_yields_deflated_pieces_in_input_order_when_asked(tmp_path: Path) -> None:
    """The consumer asks for blocks compressed where they are checked: the pieces, inflated
    and joined, are the very records asked for without compression, in the same order."""
    import zlib

    path = tmp_path / "feed.jsonl"
    path.write_bytes(b"".join(line(f"P{i}", f"V{i}") + b"\n" for i in range(300)))
    plain = Collected()
    plain.run(None, IN_WORKERS, str(path))
    with FeedCheck(
        [FeedSource(str(path))], IN_WORKERS, Wanted(records=True, codec=BlockDeflater(1))
    ) as check:
        pieces = [event.piece for event in check if type(event) is Encoded]
    assert len(pieces) > 1  # several blocks, so the order is tested
    inflated = b"".join(zlib.decompressobj(-15).decompress(piece.data) for piece in pieces)
    assert inflated == b"".join(plain.records)
    assert sum(piece.lines for piece in pieces) == check.report.variants == 300


def _tagged(number: int, data: bytes, lines: int) -> tuple[int, bytes, int]:
    """An encoder for the test below: the block's lines as they are, and which block."""
    return number, data, lines


class _Numbering:
    """A ``BlockCodec`` that knows nothing of compression: each block's encoder tags it."""

    def __init__(self) -> None:
        self.asked = 0

    def encoder(self) -> Any:
        self.asked += 1
        return functools.partial(_tagged, self.asked)


@pytest.mark.parametrize("options", [IN_PROCESS, IN_WORKERS], ids=["in-process", "workers"])
def test_any_block_codec_is_asked_once_per_block_in_feed_order(
    tmp_path: Path, options: ValidationOptions
) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_bytes(b"".join(line(f"P{i}", f"V{i}") + b"\n" for i in range(300)))
    plain = Collected()
    plain.run(None, options, str(path))
    codec = _Numbering()
    with FeedCheck(
        [FeedSource(str(path))],
        ValidationOptions(workers=options.workers, block_size=64, parallel_after=0),
        Wanted(records=True, codec=codec),
    ) as check:
        pieces = [event.piece for event in check if type(event) is Encoded]
    numbers = [number for number, _, _ in pieces]
    # in feed order; a byte range in which no line starts (the workers' ranges) gives none
    assert numbers == sorted(set(numbers)) and numbers[-1] <= codec.asked
    assert len(numbers) > 1
    assert b"".join(data for _, data, _ in pieces) == b"".join(plain.records)
    assert sum(lines for _, _, lines in pieces) == 300


def test_rejected_rows_carry_their_problems_with_product_identifier(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_bytes(b"product_identifier,title,price\nA,Dress,-3\n")
    seen = Collected()
    seen.run(None, IN_PROCESS, str(path))
    assert seen.rejected == [
        (
            str(path),
            2,
            b"A,Dress,-3",
            [
                Problem(
                    str(path),
                    2,
                    "warning",
                    "missing_variant_identifier",
                    "variant_identifier is missing",
                    "A",
                ),
                Problem(str(path), 2, "warning", "missing_images", "images is missing", "A"),
                Problem(
                    str(path),
                    2,
                    "error",
                    "invalid_price",
                    "price must be a finite number >= 0, got -3",
                    "A",
                ),
            ],
        )
    ]


def test_check_feeds_with_threads_running_uses_non_forked_workers_and_agrees() -> None:

    rng = random.Random(11)
    data = b"\n".join(line(f"P{rng.randint(1, 40)}", f"V{rng.randint(1, 4)}") for _ in range(300))
    expected, seen_expected = check(data, IN_PROCESS)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)  # e.g. a progress display refreshing
    other.start()
    try:
        from psykhe_cli.validate.workers import Workers

        with Workers(IN_WORKERS) as workers:
            assert (workers.count, workers.portable) == (2, True)
        report, seen = check(data, ValidationOptions(workers=2, block_size=512, parallel_after=0))
    finally:
        stop.set()
        other.join()
    assert report.to_json() == expected.to_json()
    assert report.warnings > 0  # the duplicates were found across processes
    assert seen.records == seen_expected.records


def _feed_with_duplicates(count: int, seed: int) -> tuple[bytes, list[int]]:
    """JSON Lines with some (product, variant) pairs repeated; the repeats' line numbers.

    Each variant id belongs to one product: a repeat is one of the same product."""
    rng = random.Random(seed)
    lines, seen, repeats = [], set(), []
    for number in range(1, count + 1):
        pid = f"P{rng.randrange(count)}"
        pair = (pid, f"{pid}-V{rng.randrange(2)}")
        lines.append(orjson.dumps({"operation": "insert", "product_data": product(*pair)}))
        if pair in seen:
            repeats.append(number)
        seen.add(pair)
    return b"\n".join(lines) + b"\n", repeats


@pytest.mark.parametrize("strict", [False, True], ids=["warnings", "strict"])
def test_duplicates_across_many_blocks_are_those_of_a_python_set(
    tmp_path: Path, strict: bool
) -> None:
    # past the hash set's switch to sorted runs, and many results looked up together
    data, repeats = _feed_with_duplicates(40_000, seed=5)
    assert len(repeats) > 1000
    path = tmp_path / "feed.jsonl"
    path.write_bytes(data)
    for workers in (2, 0):
        options = ValidationOptions(
            workers=workers, block_size=1 << 16, parallel_after=0, strict=strict, max_problems=10**6
        )
        seen = Collected()
        report = check_feeds(
            [FeedSource(str(path))],
            options,
            on_problem=seen.problems.append,
            on_records=seen.records.extend,
        )
        assert [p.line for p in seen.problems if p.code == "duplicate_variant"] == repeats
        assert report.counts_by_code == {"duplicate_variant": len(repeats)}
        kept = 40_000 - (len(repeats) if strict else 0)
        assert (report.variants, len(seen.records)) == (kept, kept)


def test_what_was_found_before_an_unreadable_line_is_reported(tmp_path: Path) -> None:
    data, repeats = _feed_with_duplicates(30_000, seed=6)
    path = tmp_path / "feed.jsonl"
    path.write_bytes(data + b'{"title":"' + b"x" * (LINE_CAP + 10) + b'"}\n')
    seen = Collected()
    options = ValidationOptions(workers=2, block_size=1 << 16, parallel_after=0, max_problems=10**6)
    with pytest.raises(InputError, match=":30001: line longer than 16 MiB"):
        check_feeds([FeedSource(str(path))], options, on_problem=seen.problems.append)
    found = [p.line for p in seen.problems]
    # all but those in the range of the long line, which is not checked: in order
    assert found == repeats[: len(found)] and len(found) > len(repeats) - 100


def test_what_the_proof_learns_belongs_to_one_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each run learns the extra fields of its feed, from block to block, with decoders of
    its own: a second run (another feed, in the same program) starts from nothing."""
    from psykhe_cli.validate import blocks, fast

    used: list[fast.Decoders] = []
    prove = blocks.prove_lines

    def recorded(
        block: bytes, lines: Lines, decoders: fast.Decoders, numpy: Any = None
    ) -> fast.Proof | None:
        used.append(decoders)
        return prove(block, lines, decoders, numpy)

    monkeypatch.setattr(blocks, "prove_lines", recorded)
    options = ValidationOptions(workers=0, block_size=256)
    complete = {"designer": "D", "color": "red", "categories": ["Women"], "sizes": ["S"]}
    feeds = [
        b"".join(line(f"P{i}", f"V{i}", **complete, **{name: i}) + b"\n" for i in range(8))
        for name in ("gender", "stock")
    ]
    for data in feeds:
        report = check_feeds([FeedSource("-")], options, stdin=io.BytesIO(data))
        assert report.variants == 8
    first, second = used[: len(used) // 2], used[len(used) // 2 :]
    assert len(first) > 1  # several blocks a run
    assert all(decoders is first[0] for decoders in first)
    assert all(decoders is second[0] for decoders in second)
    assert (first[0].extras, second[0].extras) == (("gender",), ("stock",))


#: run in a process of its own (no thread of pytest's): a consumer that starts a thread (a
#: progress display's) on the first progress, before the workers start; every fork is noted
THREAD_BEFORE_WORKERS = """
import io, json, os, sys, threading
from psykhe_cli.validate import (
    FeedCheck, FeedSource, Progress, Records, ValidationOptions, Wanted
)
forks = []
os.register_at_fork(before=lambda: forks.append(threading.active_count()))
data = sys.stdin.buffer.read()
# the first MiB read (checked here) tells progress before the workers start, at 1.5 MiB
options = ValidationOptions(workers=2, block_size=1 << 16, parallel_after=3 << 19)
stop = threading.Event()
display = threading.Thread(target=stop.wait)
records = []
with FeedCheck([FeedSource("-")], options, Wanted(records=True), stdin=io.BytesIO(data)) as check:
    for event in check:
        if type(event) is Progress and display.ident is None:
            display.start()
        if type(event) is Records:
            records.extend(event.lines)
stop.set()
display.join()
print(json.dumps([forks, check.report.to_json(), b"".join(records).decode()]))
"""


def test_a_thread_started_before_the_workers_is_never_forked_with() -> None:
    """Whether to fork is decided when the workers start, not when the run begins: a thread
    started in between (a progress display's) means no fork; the hashes of the blocks
    checked before stay comparable with the rest (the same duplicates are found)."""
    rng = random.Random(5)
    data = b"".join(
        line(f"P{rng.randrange(5000)}", f"V{rng.randrange(3)}") + b"\n" for _ in range(16_000)
    )
    assert len(data) > 2 << 20
    run = subprocess.run(
        [sys.executable, "-c", THREAD_BEFORE_WORKERS],
        input=data,
        capture_output=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    forks, report, records = json.loads(run.stdout)
    assert [threads for threads in forks if threads > 1] == []
    expected = Collected()
    expected_report = expected.run(data, IN_PROCESS)
    assert report == json.loads(json.dumps(expected_report.to_json()))
    assert report["warnings"] > 0  # duplicates, across the blocks
    assert records.encode() == b"".join(expected.records)


#: in a process of its own: ``Workers`` made with a thread running, started without it
FORK_DECIDED_AT_START = """
import json, os, threading
from psykhe_cli.validate import ValidationOptions
from psykhe_cli.validate.workers import Workers
forks = []
os.register_at_fork(before=lambda: forks.append(threading.active_count()))
stop = threading.Event()
other = threading.Thread(target=stop.wait)
other.start()
with Workers(ValidationOptions(workers=2, parallel_after=0)) as workers:
    stop.set()
    other.join()
    started = workers.start(0, ranges=True)
    print(json.dumps([started, workers.fork, forks]))
"""


def test_workers_made_with_a_thread_running_are_forked_once_it_ended() -> None:
    """The thread running when the run began has ended when the workers start: they are
    forked (and hash as the run began to: portably)."""
    run = subprocess.run(
        [sys.executable, "-c", FORK_DECIDED_AT_START],
        capture_output=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    started, fork, forks = json.loads(run.stdout)
    assert (started, fork) == (True, True)
    assert forks == [1, 1]  # two workers, forked from this thread alone
