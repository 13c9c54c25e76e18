"""Reliability matrix, soft_replace safety: 0 requests unless confirmed, one mode on the wire.

Rows covered elsewhere: a 70% drop refused showing both counts, then sent with ``--max-drop 80``
(``test_push.py::test_push_drop_guard_remembers_the_last_full_sync``) or ``--force``
(``test_push.py::test_push_drop_guard_force_sends``); interactive "n" (and Enter, and anything
but yes) → exit 7 (``test_push_tty.py::test_soft_replace_question_defaults_to_no``);
``--dry-run`` → 0 POSTs (``test_push.py::test_push_dry_run_sends_nothing``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import FAST, PSYKHE, catalog, psykhe, write_feed

SOFT = ("--mode", "soft_replace")


def posts(sandbox: SandboxHandle) -> list[dict[str, Any]]:
    return [r for r in sandbox.requests() if r["method"] == "POST"]


def test_empty_stdin_is_refused_with_exit_7_even_with_yes(
    env: dict[str, str], sandbox: SandboxHandle
) -> None:
    out = psykhe("push", "-", *SOFT, "--yes", input=b"", env=env)
    assert out.returncode == 7, out.stderr
    assert "soft_replace would deactivate the whole catalog; nothing was sent" in out.stderr
    assert sandbox.requests() == []


def test_a_header_only_csv_is_refused_with_exit_7_even_with_yes(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "catalog.csv"
    feed.write_text("product_identifier,variant_identifier,title,images,price\n")
    out = psykhe("push", str(feed), *SOFT, "--yes", env=env)
    assert out.returncode == 7, out.stderr
    assert "the feed has no products" in out.stderr
    assert sandbox.requests() == []


def test_a_70_percent_smaller_feed_is_refused_showing_both_counts(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    full = write_feed(tmp_path / "full.jsonl", catalog(60))  # 20 products
    small = write_feed(tmp_path / "small.jsonl", catalog(18))  # 6 products: 70% fewer
    assert psykhe("push", str(full), *SOFT, "--yes", *FAST, env=env).returncode == 0
    out = psykhe("push", str(small), *SOFT, "--yes", "--json", env=env)
    assert out.returncode == 7, out.stderr
    assert "the feed has 6 products, fewer than 50% of the 20 of the last full sync" in out.stderr
    assert "--force" in out.stderr
    assert len(posts(sandbox)) == 1
    assert sandbox.products(active=False) == []


def test_no_terminal_and_no_yes_exits_7_without_prompting_or_hanging(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    # a new session has no controlling terminal: /dev/tty cannot be opened, as under cron
    out = subprocess.run(
        [*PSYKHE, "push", "-", *SOFT],
        env=env,
        input=feed.read_bytes(),
        capture_output=True,
        timeout=30,
        start_new_session=True,
    )
    stderr = out.stderr.decode()
    assert out.returncode == 7, stderr
    assert "there is no terminal to ask on; nothing was sent" in stderr
    assert "pass --yes" in stderr
    assert "[y/N]" not in stderr + out.stdout.decode()
    assert sandbox.requests() == []


def test_the_mode_header_is_identical_on_every_retry(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    sandbox.set_faults(
        respond=[
            {"status": 503, "retry_after": 0},
            {"status": 429, "retry_after": 0},
            {"status": 503, "retry_after": 0},
        ]
    )
    out = psykhe("push", str(feed), *SOFT, "--yes", "--retries", "4", *FAST, env=env)
    assert out.returncode == 0, out.stderr
    requests = posts(sandbox)
    assert [r["status"] for r in requests] == [503, 429, 503, 202]
    modes = {r["headers"]["x-psykhe-processing-mode"] for r in requests}
    assert modes == {"soft_replace"}
    (ingestion,) = sandbox.ingestions()
    assert ingestion["trigger_source"]["mode"] == "soft_replace"


def test_soft_replace_is_never_split_even_with_a_batch_size(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(30))
    out = psykhe("push", str(feed), *SOFT, "--yes", "--batch-size", "4", *FAST, env=env)
    assert out.returncode == 0, out.stderr
    assert len(posts(sandbox)) == 1
    assert len(sandbox.products(active=True)) == 30
