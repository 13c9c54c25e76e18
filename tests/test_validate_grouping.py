"""Repeated problems of one code print as one line with the count and the first places."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import isolated_env, product, psykhe, write_feed


def _without_variant_ids(path: Path, count: int, prefix: str = "P") -> Path:
    items = []
    for i in range(count):
        item = product(f"{prefix}{i:05d}")
        del item["variant_identifier"]
        items.append(item)
    return write_feed(path, items)


def test_validate_groups_5000_identical_warnings_into_one_line(tmp_path: Path) -> None:
    feed = _without_variant_ids(tmp_path / "feed.jsonl", 5000)
    out = psykhe("validate", str(feed), env=isolated_env(tmp_path / "home"))
    assert out.returncode == 0, out.stderr
    message = "warning[missing_variant_identifier]: variant_identifier is missing"
    assert out.stderr.splitlines() == [
        f"{feed}:1: {message} (product_identifier=P00000)",
        f"{feed}:2: {message} (product_identifier=P00001)",
        f"{feed}:3: {message} (product_identifier=P00002)",
        f"{feed}: warning[missing_variant_identifier] × 5,000: lines 1, 2, 3, … "
        "(--json lists the first 1,000; --max-problems N for more)",
    ]
    assert "warnings: 5,000\n" in out.stdout
    assert "  missing_variant_identifier: 5,000\n" in out.stdout
    assert "problems shown: 1,000 of 5,000\n" in out.stdout


def test_validate_json_keeps_every_grouped_problem(tmp_path: Path) -> None:
    feed = _without_variant_ids(tmp_path / "feed.jsonl", 5000)
    env = isolated_env(tmp_path / "home")
    out = psykhe("validate", "--json", "--max-problems", "10000", str(feed), env=env)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert [p["line"] for p in report["problems"]] == list(range(1, 5001))
    assert out.stderr.splitlines()[-1] == (
        f"{feed}: warning[missing_variant_identifier] × 5,000: lines 1, 2, 3, … "
        "(see --json for all)"
    )


def test_validate_groups_each_code_apart_and_names_files(tmp_path: Path) -> None:
    first = _without_variant_ids(tmp_path / "a.jsonl", 2)
    second = tmp_path / "b.jsonl"
    other = _without_variant_ids(tmp_path / "other.jsonl", 2, prefix="Q")
    second.write_bytes(other.read_bytes() + b"{oops\n" * 4)
    out = psykhe("validate", str(first), str(second), env=isolated_env(tmp_path / "home"))
    assert out.returncode == 3
    lines = out.stderr.splitlines()
    assert len(lines) == 8  # 3 + 3 in full, one summing-up line per code
    assert lines[-2:] == [
        "warning[missing_variant_identifier] × 4: "
        f"{first}:1, {first}:2, {second}:1, … (see --json for all)",
        f"{second}: error[invalid_json] × 4: lines 3, 4, 5, … (see --json for all)",
    ]


def test_validate_quiet_groups_errors_only(tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(_without_variant_ids(tmp_path / "w.jsonl", 5).read_bytes() + b"{x\n" * 5)
    out = psykhe("validate", "-q", str(feed), env=isolated_env(tmp_path / "home"))
    assert out.returncode == 3
    assert "warning" not in out.stderr
    assert out.stderr.splitlines()[-1] == (
        f"{feed}: error[invalid_json] × 5: lines 6, 7, 8, … (see --json for all)"
    )
