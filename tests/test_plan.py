"""The deactivation plan: products files, and the comparison of a feed with a baseline."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest

from psykhe_cli.config import key_fingerprint
from psykhe_cli.feeds import FeedSource
from psykhe_cli.full_syncs import FullSync
from psykhe_cli.plan import (
    MAGIC,
    Plan,
    ProductsFileError,
    ProductsWriter,
    RecordCount,
    compare,
    plan_line,
    plan_lines,
    read_products,
)
from psykhe_cli.sandbox.inspect import SandboxHandle
from psykhe_cli.state import StateStore, Target
from psykhe_cli.validate import ValidationOptions, check_feeds
from psykhe_cli.validate.hashset import ProductHashes
from tests.helpers import psykhe


def write_products(path: Path, identifiers: list[str]) -> int:
    """Write a products file holding ``identifiers`` (distinct); return how many."""
    writer = ProductsWriter(path)
    try:
        writer.add(identifiers)
    finally:
        writer.close()
    return writer.count


def feed_of(tmp_path: Path, identifiers: list[str], *, workers: int | None = 1) -> ProductHashes:
    """The ``ProductHashes`` validation makes of a feed holding ``identifiers``."""
    path = tmp_path / "feed.jsonl"
    path.write_bytes(b"".join(orjson.dumps({"product_identifier": i}) + b"\n" for i in identifiers))
    report = check_feeds(
        [FeedSource(str(path))], ValidationOptions(workers=workers), want_product_hashes=True
    )
    assert isinstance(report.product_hashes, ProductHashes)
    return report.product_hashes


def test_products_file_round_trips_in_chunks(tmp_path: Path) -> None:
    identifiers = [f"SKU-{i}" for i in range(70_000)] + ["é\n✓", "a\x00b"]
    path = tmp_path / "p.products"
    assert write_products(path, identifiers) == len(identifiers)
    chunks = list(read_products(path))
    assert [len(c) for c in chunks] == [65_536, len(identifiers) - 65_536]
    assert [i for chunk in chunks for i in chunk] == identifiers


def test_a_damaged_products_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "p.products"
    write_products(path, ["a", "b"])
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ProductsFileError):
        list(read_products(path))
    path.write_bytes(b"not a products file")
    with pytest.raises(ProductsFileError, match="not a products file"):
        list(read_products(path))


def test_compare_counts_and_names_what_would_be_deactivated(tmp_path: Path) -> None:
    baseline = tmp_path / "b.products"
    write_products(baseline, [f"P{i}" for i in range(100)])
    feed = feed_of(tmp_path, [f"P{i}" for i in range(100) if i % 4] + ["NEW1", "NEW2"])
    out = io.BytesIO()
    plan = compare(feed, 77, baseline, plan_file=out)
    assert (plan.deactivate, plan.new, plan.kept) == (25, 2, 75)
    assert plan.sample == [f"P{i}" for i in range(0, 40, 4)]
    assert out.getvalue() == b"".join(f"P{i}\n".encode() for i in range(0, 100, 4))


def test_records_are_exact_where_they_can_be_known_and_a_range_elsewhere() -> None:
    def records(plan: Plan) -> list[str]:
        return [r.text() for r in (plan.deactivate_records, plan.new_records, plan.kept_records)]

    # 20 products, 60 records before; 16 kept and 1 new in a feed of 51 records
    ranged = Plan(deactivate=4, new=1, kept=16, feed_records=51, baseline_records=60)
    assert records(ranged) == ["4 to 44 records", "1 to 35 records", "16 to 50 records"]
    assert not ranged.records_known
    # one record a product: each product is one record
    single = Plan(deactivate=4, new=1, kept=16, feed_records=17, baseline_records=20)
    assert records(single) == ["4 records", "1 record", "16 records"]
    # nothing kept: the baseline's records are all deactivated, the feed's all new
    replaced = Plan(deactivate=20, new=17, kept=0, feed_records=51, baseline_records=60)
    assert records(replaced) == ["60 records", "51 records", "0 records"]
    assert replaced.records_known
    # a baseline remembered without its records: a lower bound only
    unknown = Plan(deactivate=4, new=0, kept=16, feed_records=48, baseline_records=None)
    assert records(unknown) == ["at least 4 records", "0 records", "48 records"]
    assert RecordCount.from_json(RecordCount(4, None).to_json()) == RecordCount(4, None)


def test_plan_lines_quote_only_identifiers_with_line_breaks() -> None:
    assert plan_line("SKU 1") == b"SKU 1\n"
    assert plan_line("two\nlines") == b'"two\\nlines"\n'
    assert plan_lines(["a", "b"]) == b"a\nb\n"
    assert plan_lines(["a", "two\nlines", "c\r"]) == b'a\n"two\\nlines"\n"c\\r"\n'


def test_the_engine_hands_each_product_once_in_feed_order(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    lines = [
        {"product_identifier": p, "variant_identifier": f"{p}-{n}"}
        for p, n in [("A", 1), ("A", 2), ("B", 1), ("A", 3), ("C", 1), ("B", 2)]
    ]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    seen: list[str] = []
    report = check_feeds([FeedSource(str(path))], on_products=seen.extend)
    assert seen == ["A", "B", "C"]
    assert report.products == 3


def test_products_writer_hands_back_nothing_written_twice(tmp_path: Path) -> None:
    path = tmp_path / "p.products"
    writer = ProductsWriter(path)
    writer.add(["x"])
    writer.close()
    writer.close()
    assert path.read_bytes().startswith(MAGIC)
    assert list(read_products(path)) == [["x"]]


@pytest.mark.slow
def test_plan_of_a_million_product_baseline_against_a_feed_missing_ten_percent(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    count = 1_000_000
    baseline = [f"SKU-{i:07d}" for i in range(count)]
    store = StateStore(home / "state" / "psykhe")
    target = Target(base_url=sandbox.base_url, key_fingerprint=key_fingerprint(sandbox.api_key))
    path = store.new_baseline_file()
    write_products(path, baseline)
    sync = FullSync(products=count, variants=count, ingestion_id=41)
    store.remember_pending(target, sync, path)
    assert store.settle_full_sync(target, 41, completed=True)
    feed = tmp_path / "feed.jsonl"
    kept = [pid for i, pid in enumerate(baseline) if i % 10]
    fresh = [f"NEW-{i}" for i in range(1000)]
    with feed.open("wb") as handle:
        for pid in kept + fresh:
            handle.write(b'{"product_identifier":"%s"}\n' % pid.encode())
    plan_file = tmp_path / "plan.txt"
    out = psykhe(
        "push",
        str(feed),
        "--mode",
        "soft_replace",
        "--dry-run",
        "--json",
        "--plan-file",
        str(plan_file),
        "--max-problems",
        "0",
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    plan = orjson.loads(out.stdout)["plan"]
    assert plan["baseline"]["products"] == count
    assert plan["baseline"]["ingestion_id"] == 41
    assert (plan["deactivate"], plan["new"], plan["kept"]) == (100_000, 1000, 900_000)
    assert plan["deactivate_sample"] == [f"SKU-{i:07d}" for i in range(0, 100, 10)]
    expected = "".join(f"SKU-{i:07d}\n" for i in range(0, count, 10))
    assert plan_file.read_text() == expected
    assert sandbox.requests() == []


@pytest.mark.parametrize("portable", [False, True])
def test_compare_matches_hashes_made_by_workers(tmp_path: Path, portable: bool) -> None:
    import threading

    identifiers = [f"P{i:06d}" for i in range(60_000)]
    path = tmp_path / "feed.jsonl"
    path.write_bytes(b"".join(orjson.dumps({"product_identifier": i}) + b"\n" for i in identifiers))
    baseline = tmp_path / "b.products"
    write_products(baseline, [*identifiers, "GONE"])
    options = ValidationOptions(workers=2, parallel_after=0)
    threads_before = threading.active_count()
    stop = threading.Event()
    # a thread in this process makes the engine spawn its workers, with portable hashes
    running = threading.Thread(target=stop.wait) if portable else None
    if running is not None:
        running.start()
    seen: list[str] = []
    try:
        report = check_feeds(
            [FeedSource(str(path))], options, on_products=seen.extend, want_product_hashes=True
        )
    finally:
        stop.set()
    # workers are forked (salted hashes) only from a process without other threads
    assert report.product_hashes.portable is (portable or threads_before > 1)
    assert seen == identifiers
    plan = compare(report.product_hashes, report.products, baseline)
    assert (plan.deactivate, plan.new, plan.kept, plan.sample) == (1, 0, 60_000, ["GONE"])
