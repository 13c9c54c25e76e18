"""Workers reading their own byte ranges of a plain file find exactly what one process finds."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from psykhe_cli.errors import InputError
from psykhe_cli.feeds.blocks import LINE_CAP
from psykhe_cli.validate import FeedSource, ValidationOptions, check_feeds
from tests.helpers import product

#: tiny blocks and an early switch to the workers, so small files cross many range borders
RANGED = ValidationOptions(workers=2, block_size=4096, parallel_after=8192, max_problems=10**6)
ONE_PROCESS = ValidationOptions(workers=0, block_size=4096, max_problems=10**6)


def feed_lines(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        item = product(
            f"P{rng.randrange(count // 2)}", f"V{rng.randrange(4)}", title="t" * rng.randrange(300)
        )
        kind = rng.random()
        if kind < 0.05:
            lines.append(b"")  # blank
        elif kind < 0.10:
            lines.append(orjson.dumps(item | {"price": "x"}))  # an error
        elif kind < 0.15:
            lines.append(orjson.dumps(item))  # bare: wrapped
        elif kind < 0.20:
            lines.append(b"not json at all")
        elif kind < 0.25:
            lines.append(orjson.dumps({"operation": "insert", "product_data": item}) + b"\r")
        else:
            lines.append(orjson.dumps({"operation": "insert", "product_data": item}))
    return lines


def outcome(path: Path, options: ValidationOptions) -> tuple[Any, list[Any], list[bytes]]:
    records: list[bytes] = []
    rejected: list[tuple[int, bytes]] = []
    report = check_feeds(
        [FeedSource(str(path))],
        options,
        on_records=records.extend,
        on_rejected=lambda file, line, raw, problems: rejected.append((line, raw)),
    )
    summary = (report.lines, report.products, report.variants, report.errors, report.warnings)
    problems = [p.format() for p in report.problems]
    return (summary, report.counts_by_code), problems + [str(r) for r in rejected], records


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("ending", [b"\n", b""], ids=["newline", "no-final-newline"])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["plain", "bom"])
def test_ranges_report_what_one_process_reports(
    tmp_path: Path, seed: int, ending: bytes, bom: bytes
) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_bytes(bom + b"\n".join(feed_lines(seed, 600)) + ending)
    assert path.stat().st_size > 20 * RANGED.block_size
    assert outcome(path, RANGED) == outcome(path, ONE_PROCESS)


def test_ranges_name_a_line_over_the_cap_with_its_number(tmp_path: Path) -> None:
    lines = [orjson.dumps(product(f"P{i}")) for i in range(200)]
    lines.insert(150, b'{"title":"' + b"x" * (LINE_CAP + 10) + b'"}')
    path = tmp_path / "feed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(InputError, match=rf"^{path}:151: line longer than 16 MiB"):
        check_feeds([FeedSource(str(path))], RANGED)


#: run in a process of its own: forked workers are used only when no other thread runs
FORKED_RANGES = """
import json, sys
from psykhe_cli.validate import FeedSource, check_feeds, engine
from psykhe_cli.validate.forked import ForkedPool
from tests.test_validate_ranges import RANGED
ranges, in_process = [], []
submit, check_block = ForkedPool.submit, engine.check_block
def counted(pool, fn, *args):
    ranges.append(args[2:4])  # workers._in_worker(check_range, path, start, end, ...)
    return submit(pool, fn, *args)
ForkedPool.submit = counted
engine.check_block = lambda *a: in_process.append(0) or check_block(*a)
report = check_feeds([FeedSource(sys.argv[1])], RANGED)
print(json.dumps([ranges, len(in_process), report.to_json()]))
"""


def test_a_big_plain_file_is_read_by_forked_workers_range_by_range(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_bytes(b"\n".join(feed_lines(4, 600)) + b"\n")
    run = subprocess.run(
        [sys.executable, "-c", FORKED_RANGES, str(path)],
        capture_output=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    ranges, in_process, report = json.loads(run.stdout)
    size, step = path.stat().st_size, RANGED.block_size
    assert size > RANGED.parallel_after
    assert ranges == [[start, min(start + step, size)] for start in range(0, size, step)]
    assert in_process == 0
    expected = check_feeds([FeedSource(str(path))], ONE_PROCESS)
    assert report == json.loads(json.dumps(expected.to_json()))
