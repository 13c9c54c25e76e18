"""Workers reading their own byte ranges of a plain file find exactly what one process finds."""

from __future__ import annotations

import random
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


def test_the_parallel_part_of_a_plain_file_is_read_by_the_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psykhe_cli.validate.engine as engine

    calls: list[int] = []
    real = engine._check_ranges

    def spy(path: str, start: int, *args: Any) -> None:
        calls.append(start)
        real(path, start, *args)

    monkeypatch.setattr(engine, "_check_ranges", spy)
    path = tmp_path / "feed.jsonl"
    path.write_bytes(b"\n".join(feed_lines(4, 600)) + b"\n")
    outcome(path, RANGED)
    assert path.stat().st_size > RANGED.parallel_after
    assert calls == [0]  # big enough for workers: they read all of it, from the first block
