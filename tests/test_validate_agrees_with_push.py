"""`psykhe validate` refuses every feed `psykhe push` refuses for its content, alike."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import psykhe

SAMPLES = Path(__file__).resolve().parent / "samples"


def _shopify_header_only(path: Path) -> None:
    header = (SAMPLES / "shopify_products.csv").read_bytes().splitlines(keepends=True)[0]
    path.write_bytes(header)


def _shopify_only_drafts(path: Path) -> None:
    text = (SAMPLES / "shopify_products.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    status = rows[0].index("Status")
    for row in rows[1:]:
        if row[status] == "active":
            row[status] = "draft"
    with path.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)


FEEDS = {
    "empty.jsonl": lambda path: path.write_bytes(b""),
    "blank-lines.jsonl": lambda path: path.write_bytes(b"\n\n\r\n"),
    "header-only.csv": lambda path: path.write_bytes(b"product_identifier,title,price\n"),
    "shopify-header-only.csv": _shopify_header_only,
    "shopify-only-drafts.csv": _shopify_only_drafts,
}


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("psykhe: error:")]


@pytest.mark.parametrize("name", list(FEEDS))
def test_validate_refuses_a_feed_without_product_lines_as_push_does(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle, name: str
) -> None:
    feed = tmp_path / name
    FEEDS[name](feed)
    pushed = psykhe("push", str(feed), env=env)
    checked = psykhe("validate", str(feed), env=env)
    assert pushed.returncode == 3, pushed.stderr
    assert (checked.returncode, _error_lines(checked.stderr)) == (3, _error_lines(pushed.stderr))
    assert _error_lines(checked.stderr) == [
        "psykhe: error: the feed has no product lines; nothing was sent"
    ]
    assert "result: invalid" in checked.stdout
    assert sandbox.requests() == []


def test_validate_json_of_a_feed_without_product_lines_says_why(
    tmp_path: Path, env: dict[str, str]
) -> None:
    feed = tmp_path / "empty.jsonl"
    feed.write_bytes(b"")
    checked = psykhe("validate", "--json", str(feed), env=env)
    assert checked.returncode == 3
    report = json.loads(checked.stdout)
    assert report["ok"] is False
    assert report["error"] == {
        "code": "invalid_input",
        "message": "the feed has no product lines; nothing was sent",
    }


def test_validate_of_a_feed_with_product_lines_still_passes(
    tmp_path: Path, env: dict[str, str]
) -> None:
    checked = psykhe("validate", str(SAMPLES / "shopify_products.csv"), env=env)
    assert checked.returncode == 0, checked.stderr
    assert "result: ok" in checked.stdout
