"""A variant id given twice: by two products an error naming both lines, by one product a
warning naming the earlier line — in validate and push alike, in-process and in the workers."""

from __future__ import annotations

import random
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from psykhe_cli.validate import FeedSource, Problem, ValidationOptions, check_feeds
from psykhe_cli.validate.repeats import FirstSeen
from psykhe_cli.validate.report import FeedReport
from tests.helpers import FAST, posts, product, psykhe, wrapped

SAMPLES = Path(__file__).parent / "samples"
ONE_RECORD = "the server keeps one record per variant id"


def test_first_seen_names_the_first_line_of_each_record() -> None:
    # past the hash set's switch to sorted runs, and batches of many repeats and of few
    rng = random.Random(3)
    seen, model = FirstSeen(), {}
    for batch in range(40):
        size = 1000 if batch % 2 else 3
        variants = array("Q", (rng.randrange(30_000) for _ in range(size)))
        lines = array("Q", range(batch * 1000, batch * 1000 + size))
        pairs = array("Q", (rng.randrange(1 << 64) for _ in range(size)))
        expected = []
        for index, (variant, line, pair) in enumerate(zip(variants, lines, pairs, strict=True)):
            if variant in model:
                expected.append((index, *model[variant]))
            else:
                model[variant] = (line, pair)
        assert [tuple(r) for r in seen.add_all(variants, [lines], pairs)] == expected


def test_first_seen_names_lines_of_blocks_with_gaps_and_of_two_files() -> None:
    # a block with rejected or blank lines between its accepted ones, and a second file's
    # block counting from 1 again, in one batch
    seen = FirstSeen()
    blocks = [array("Q", [5, 7, 8]), array("Q", [1, 2, 3]), array("Q", [10, 11])]
    variants = array("Q", [1, 2, 3, 4, 5, 6, 7, 8])
    assert seen.add_all(variants, blocks, array("Q", range(100, 108))) == []
    again = seen.add_all(
        array("Q", [3, 4, 8, 1]), [array("Q", [12, 13]), array("Q", [20, 21])], array("Q", [9] * 4)
    )
    assert [(r.position, r.first_line, r.first_pair) for r in again] == [
        (0, 8, 102),
        (1, 1, 103),
        (2, 11, 107),
        (3, 5, 100),
    ]


def _feed(count: int, seed: int) -> bytes:
    """JSON Lines whose variant ids repeat, within a product and across products."""
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        pid = f"P{rng.randrange(count // 2)}"
        vid = f"V{rng.randrange(count)}" if rng.random() < 0.2 else f"{pid}-{rng.randrange(2)}"
        lines.append(wrapped(product(pid, vid)))
    return b"".join(lines)


def _expected(data: bytes, strict: bool) -> list[tuple[int, str, str, str, str]]:
    """What the rule says of each repeat, worked out with a dict: the earlier line kept."""
    first: dict[str, tuple[int, str]] = {}
    found = []
    for number, raw in enumerate(data.splitlines(), 1):
        item = orjson.loads(raw)["product_data"]
        pid, vid = item["product_identifier"], item["variant_identifier"]
        if vid not in first:
            first[vid] = (number, pid)
            continue
        line, owner = first[vid]
        if owner == pid:
            level = "error" if strict else "warning"
            message = (
                f"variant_identifier {vid!r} of product {pid!r} repeats line {line:,}; "
                f"{ONE_RECORD}, so this line replaces it"
            )
            found.append((number, level, "duplicate_variant", message, pid))
        else:
            message = (
                f"variant_identifier {vid!r} is also another product's variant (line {line:,}); "
                f"{ONE_RECORD}, so one product would overwrite the other"
            )
            found.append((number, "error", "shared_variant_identifier", message, pid))
    return found


@dataclass
class Seen:
    problems: list[Problem]
    records: list[bytes]
    report: FeedReport


def _check(path: Path, workers: int, strict: bool) -> Seen:
    seen = Seen([], [], FeedReport())
    options = ValidationOptions(
        workers=workers, block_size=1 << 16, parallel_after=0, strict=strict, max_problems=10**6
    )
    seen.report = check_feeds(
        [FeedSource(str(path))],
        options,
        on_problem=seen.problems.append,
        on_records=seen.records.extend,
    )
    return seen


@pytest.mark.parametrize("strict", [False, True], ids=["plain", "strict"])
def test_repeats_in_the_workers_and_in_process_are_those_of_a_dict(
    tmp_path: Path, strict: bool
) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_bytes(_feed(40_000, seed=11))
    expected = _expected(path.read_bytes(), strict)
    codes = {code for _, _, code, _, _ in expected}
    assert codes == {"duplicate_variant", "shared_variant_identifier"} and len(expected) > 1000
    forked, in_process = _check(path, 2, strict), _check(path, 0, strict)
    for seen in (forked, in_process):
        assert [
            (p.line, p.level, p.code, p.message, p.product_identifier) for p in seen.problems
        ] == expected
        errors = {line for line, level, *_ in expected if level == "error"}
        kept = [r for n, r in enumerate(path.read_bytes().splitlines(), 1) if n not in errors]
        assert [r.rstrip(b"\n") for r in seen.records] == kept
        assert seen.report.variants == len(kept)
        kept_products = {orjson.loads(r)["product_data"]["product_identifier"] for r in kept}
        assert seen.report.products == len(kept_products)
    assert forked.report.to_json() == in_process.report.to_json()


def _as_is(data: bytes, count: int) -> bytes:
    return data


class AsIs:
    """A ``BlockCodec`` whose pieces are the lines themselves."""

    def encoder(self) -> Any:
        return _as_is


def test_a_shared_line_encoded_in_a_worker_is_left_out_of_what_is_sent(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_bytes(_feed(20_000, seed=12))
    expected = _expected(path.read_bytes(), strict=False)
    errors = {line for line, level, *_ in expected if level == "error"}
    assert errors
    pieces: list[bytes] = []
    rejected: list[int] = []
    options = ValidationOptions(workers=2, block_size=1 << 16, parallel_after=0)
    report = check_feeds(
        [FeedSource(str(path))],
        options,
        on_records=lambda lines: pytest.fail("JSON Lines come encoded"),
        codec=AsIs(),
        on_encoded=pieces.append,
        on_rejected=lambda file, line, raw, problems: rejected.append(line),
    )
    kept = [r for n, r in enumerate(path.read_bytes().splitlines(), 1) if n not in errors]
    assert b"".join(pieces).splitlines() == kept
    assert rejected == sorted(errors)
    assert report.rejected_lines == len(errors)


# -- the command line ------------------------------------------------------------------------

THREE = [product("P1", "X"), product("P1", "X"), product("P2", "X")]
SHARED = (
    ":3: error[shared_variant_identifier]: variant_identifier 'X' is also another product's "
    f"variant (line 1); {ONE_RECORD}, so one product would overwrite the other "
    "(product_identifier=P2)"
)
REPEATED = (
    ":2: warning[duplicate_variant]: variant_identifier 'X' of product 'P1' repeats line 1; "
    f"{ONE_RECORD}, so this line replaces it (product_identifier=P1)"
)


def test_validate_names_both_lines_of_a_shared_variant_id(
    tmp_path: Path, env: dict[str, str]
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"".join(map(wrapped, THREE)))
    out = psykhe("validate", str(feed), env=env)
    assert out.returncode == 3, out.stderr
    assert f"{feed}{REPEATED}\n" in out.stderr
    assert f"{feed}{SHARED}\n" in out.stderr
    report = orjson.loads(psykhe("validate", str(feed), "--json", env=env).stdout)
    assert report["counts_by_code"] == {"duplicate_variant": 1, "shared_variant_identifier": 1}
    assert (report["ok"], report["errors"], report["warnings"]) == (False, 1, 1)
    # P2's one line is the error: it would not be sent, so it is not counted
    assert (report["products"], report["variants"]) == (1, 2)


def test_validate_passes_a_repeat_within_one_product_with_a_warning(
    tmp_path: Path, env: dict[str, str]
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"".join(map(wrapped, THREE[:2])))
    out = psykhe("validate", str(feed), env=env)
    assert out.returncode == 0, out.stderr
    assert f"{feed}{REPEATED}\n" in out.stderr


def test_push_refuses_a_shared_variant_id_and_sends_nothing(
    tmp_path: Path, env: dict[str, str], sandbox: Any
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"".join(map(wrapped, THREE)))
    out = psykhe("push", str(feed), *FAST, env=env)
    assert out.returncode == 3, out.stderr
    assert f"{feed}{SHARED}\n" in out.stderr
    assert posts(sandbox) == []


def test_push_skip_invalid_keeps_the_earlier_product(
    tmp_path: Path, env: dict[str, str], sandbox: Any
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"".join(map(wrapped, [THREE[0], THREE[2]])))
    out = psykhe("push", str(feed), *FAST, "--skip-invalid", "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert [(p["product_identifier"], p["variant_identifier"]) for p in sandbox.products()] == [
        ("P1", "X")
    ]


def _woo_with_a_shared_sku(tmp_path: Path) -> Path:
    """The WooCommerce sample, with the hoodie's first variation given the beanie's SKU."""
    sample = (SAMPLES / "woocommerce_products.csv").read_text(encoding="utf-8-sig")
    changed = sample.replace("\n12,variation,woo-hoodie-blue-s,", "\n12,variation,woo-beanie,")
    assert changed != sample
    path = tmp_path / "woo_dup.csv"
    path.write_text(changed, encoding="utf-8")
    return path


WOO_SHARED = (
    ":7: error[shared_variant_identifier]: variant_identifier 'woo-beanie' is also product "
    f"'woo-beanie''s variant (line 2); {ONE_RECORD}, so one product would overwrite the other "
    "(product_identifier=woo-hoodie)\n"
)


def test_a_woocommerce_sku_two_products_share_is_refused_by_validate_and_push(
    tmp_path: Path, env: dict[str, str], sandbox: Any
) -> None:
    feed = _woo_with_a_shared_sku(tmp_path)
    checked = psykhe("validate", str(feed), env=env)
    assert checked.returncode == 3, checked.stderr
    assert f"{feed}{WOO_SHARED}" in checked.stderr
    pushed = psykhe("push", str(feed), *FAST, env=env)
    assert pushed.returncode == 3, pushed.stderr
    assert f"{feed}{WOO_SHARED}" in pushed.stderr
    assert posts(sandbox) == []


def _big_feed(path: Path, count: int) -> tuple[int, int]:
    """``count`` short lines, one variant per product but for one line near the end that
    gives the variant id of a line near the start; that pair of line numbers."""
    template = (
        b'{"product_identifier":"P%d","variant_identifier":"V%d","title":"t",'
        b'"images":["https://cdn.example.com/a.jpg"],"price":1}\n'
    )
    late, early = count - 5, 7
    with path.open("wb") as out:
        for number in range(1, count + 1):
            vid = early if number == late else number
            out.write(template % (number, vid))
    return early, late


def test_a_shared_variant_id_far_apart_in_a_big_feed_is_found_by_the_workers(
    tmp_path: Path, env: dict[str, str], sandbox: Any
) -> None:
    feed = tmp_path / "big.jsonl"
    early, late = _big_feed(feed, 200_000)
    line = (
        f"{feed}:{late}: error[shared_variant_identifier]: variant_identifier 'V{early}' is "
        f"also another product's variant (line {early}); {ONE_RECORD}, so one product would "
        f"overwrite the other (product_identifier=P{late})\n"
    )
    checked = psykhe("validate", str(feed), env=env)
    assert checked.returncode == 3, checked.stderr
    assert line in checked.stderr
    pushed = psykhe("push", str(feed), *FAST, env=env)
    assert pushed.returncode == 3, pushed.stderr
    assert line in pushed.stderr
    # the upload begun while the feed was read is cut off before its end: nothing applied
    assert "nothing was applied" in pushed.stderr
    assert all(not request["complete"] for request in posts(sandbox))
    assert sandbox.ingestions() == []


def test_push_skip_invalid_of_a_big_feed_leaves_out_the_later_line_compressed_in_a_worker(
    tmp_path: Path, env: dict[str, str], sandbox: Any
) -> None:
    feed = tmp_path / "big.jsonl"
    count = 60_000  # past the bytes checked in-process: blocks compressed in the workers
    early, late = _big_feed(feed, count)
    out = psykhe("push", str(feed), *FAST, "--skip-invalid", "--json", env=env)
    assert out.returncode == 0, out.stderr
    report = orjson.loads(out.stdout)
    assert (report["variants"], report["products"], report["rejected"]) == (count - 1,) * 2 + (1,)
    stored = {p["product_identifier"]: p["variant_identifier"] for p in sandbox.products()}
    assert len(stored) == count - 1
    assert stored[f"P{early}"] == f"V{early}" and f"P{late}" not in stored
