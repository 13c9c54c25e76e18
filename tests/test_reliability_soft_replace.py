"""Reliability matrix, soft_replace safety: 0 requests unless confirmed, one mode on the wire.

Rows covered elsewhere: a 70% drop refused showing both counts, then sent with ``--max-drop 80``
(``test_push.py::test_push_drop_guard_remembers_the_last_full_sync``) or ``--force``
(``test_push.py::test_push_drop_guard_force_sends``); interactive "n" (and Enter, and anything
but yes) → exit 7 (``test_push_tty.py::test_soft_replace_question_defaults_to_no``);
``--dry-run`` → 0 POSTs (``test_push.py::test_push_dry_run_sends_nothing``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from psykhe_cli.config import key_fingerprint
from psykhe_cli.sandbox.inspect import SandboxHandle
from psykhe_cli.state import StateStore, Target
from tests.helpers import (
    FAST,
    KEY_CHECK,
    PSYKHE,
    catalog,
    posts,
    product,
    psykhe,
    requests_seen,
    wait_until,
    wrapped,
    write_feed,
)

SOFT = ("--mode", "soft_replace")


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
    assert (
        "the feed has 6 products, fewer than 50% of the 20, and 18 variants, fewer than 50% of "
        "the 60 of the last full sync to " + sandbox.base_url
    ) in out.stderr
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
    assert requests_seen(sandbox) == [KEY_CHECK]


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


# -- issue 10: the holes that let a shrink through -------------------------------------------


def store_of(home: Path) -> StateStore:
    return StateStore(home / "state" / "psykhe")


def target_of(sandbox: SandboxHandle) -> Target:
    return Target(base_url=sandbox.base_url, key_fingerprint=key_fingerprint(sandbox.api_key))


def test_no_wait_full_syncs_are_remembered_and_guard_the_next_one(
    tmp_path: Path, env: dict[str, str], home: Path, sandbox: SandboxHandle
) -> None:
    full = write_feed(tmp_path / "full.jsonl", catalog(90))  # 30 products
    tiny = write_feed(tmp_path / "tiny.jsonl", catalog(3))  # 1 product
    first = psykhe("push", str(full), *SOFT, "--yes", "--no-wait", "--json", env=env)
    assert first.returncode == 0, first.stderr
    (ingestion_id,) = orjson.loads(first.stdout)["ingestion_ids"]
    pending = store_of(home).full_syncs(target_of(sandbox)).pending
    assert [(p.ingestion_id, p.products, p.variants) for p in pending] == [(ingestion_id, 30, 90)]
    out = psykhe("push", str(tiny), *SOFT, "--yes", "--no-wait", env=env)
    assert out.returncode == 7, out.stderr
    assert "the feed has 1 products, fewer than 50% of the 30" in out.stderr
    assert len(posts(sandbox)) == 1
    # the refused push looked the pending sync up: it completed, so it is the baseline now
    syncs = store_of(home).full_syncs(target_of(sandbox))
    assert syncs.completed is not None and syncs.completed.ingestion_id == ingestion_id
    assert syncs.pending == ()


def test_status_watch_settles_a_no_wait_full_sync(
    tmp_path: Path, env: dict[str, str], home: Path, sandbox: SandboxHandle
) -> None:
    full = write_feed(tmp_path / "full.jsonl", catalog(30))
    first = psykhe("push", str(full), *SOFT, "--yes", "--no-wait", "--json", env=env)
    (ingestion_id,) = orjson.loads(first.stdout)["ingestion_ids"]
    watched = psykhe("status", str(ingestion_id), "--watch", *FAST, env=env)
    assert watched.returncode == 0, watched.stderr
    syncs = store_of(home).full_syncs(target_of(sandbox))
    assert syncs.completed is not None
    assert (syncs.completed.ingestion_id, syncs.completed.products) == (ingestion_id, 10)
    assert syncs.pending == ()


def test_a_failed_full_sync_is_dropped_and_never_becomes_the_baseline(
    tmp_path: Path, env: dict[str, str], home: Path, sandbox: SandboxHandle
) -> None:
    full = write_feed(tmp_path / "full.jsonl", catalog(30))
    assert psykhe("push", str(full), *SOFT, "--yes", *FAST, env=env).returncode == 0
    sandbox.set_faults(ingestion={"outcome": "failed"})
    big = write_feed(tmp_path / "big.jsonl", catalog(300))
    assert psykhe("push", str(big), *SOFT, "--yes", *FAST, env=env).returncode == 9
    syncs = store_of(home).full_syncs(target_of(sandbox))
    assert syncs.completed is not None and syncs.completed.products == 10
    assert syncs.pending == ()


def test_a_held_sync_lock_refuses_a_full_sync_naming_the_holder(
    tmp_path: Path, env: dict[str, str], home: Path, sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    with store_of(home).sync_lock(target_of(sandbox), exclusive=False):
        out = psykhe("push", str(feed), *SOFT, "--yes", env=env)
        assert out.returncode == 7, out.stderr
        assert f"is running (pid {os.getpid()}, started 20" in out.stderr
        assert "one sync at a time per target; nothing was sent" in out.stderr
        waited = psykhe("push", str(feed), *SOFT, "--yes", "--wait-lock", "0.3", env=env)
        assert waited.returncode == 7
        assert "after waiting 0.3 s" in waited.stderr
        # insert pushes share the lock with each other
        shared = psykhe("push", str(feed), *FAST, env=env)
        assert shared.returncode == 0, shared.stderr
    assert len(posts(sandbox)) == 1
    assert psykhe("push", str(feed), *SOFT, "--yes", *FAST, env=env).returncode == 0


def test_a_full_sync_holds_off_insert_pushes(
    tmp_path: Path, env: dict[str, str], home: Path, sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    with store_of(home).sync_lock(target_of(sandbox), exclusive=True):
        out = psykhe("push", str(feed), env=env)
    assert out.returncode == 7, out.stderr
    assert "a soft_replace push to" in out.stderr
    assert requests_seen(sandbox) == [KEY_CHECK]


def test_two_full_syncs_at_once_never_both_pass_the_guard(
    tmp_path: Path, env: dict[str, str], home: Path, sandbox: SandboxHandle
) -> None:
    full = write_feed(tmp_path / "full.jsonl", catalog(300))  # 100 products
    tiny = write_feed(tmp_path / "tiny.jsonl", catalog(30))  # 10 products
    # the first upload is held by the server: its push keeps the lock until it is accepted
    sandbox.set_faults(delay={"before_answer": 1.0})
    racing = subprocess.Popen(
        [*PSYKHE, "push", str(full), *SOFT, "--yes", "--no-wait"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_until(lambda: posts(sandbox))
    out = psykhe("push", str(tiny), *SOFT, "--yes", "--wait-lock", "30", *FAST, env=env)
    _, racing_stderr = racing.communicate(timeout=60)
    assert racing.returncode == 0, racing_stderr
    assert out.returncode == 7, out.stderr
    assert "the feed has 10 products, fewer than 50% of the 100" in out.stderr
    assert len(posts(sandbox)) == 1


def test_the_guard_counts_variants_too(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    full = write_feed(tmp_path / "full.jsonl", catalog(30))  # 10 products, 30 variants
    one_each = write_feed(tmp_path / "one.jsonl", [product(f"P{i:05d}") for i in range(10)])
    assert psykhe("push", str(full), *SOFT, "--yes", *FAST, env=env).returncode == 0
    out = psykhe("push", str(one_each), *SOFT, "--yes", env=env)
    assert out.returncode == 7, out.stderr
    assert "the feed has 10 variants, fewer than 50% of the 30 of the last full sync" in out.stderr
    assert len(posts(sandbox)) == 1


def test_force_warns_naming_what_it_overrode(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    full = write_feed(tmp_path / "full.jsonl", catalog(30))
    one_each = write_feed(tmp_path / "one.jsonl", [product(f"P{i:05d}") for i in range(10)])
    assert psykhe("push", str(full), *SOFT, "--yes", *FAST, env=env).returncode == 0
    out = psykhe(
        "push", str(one_each), *SOFT, "--yes", "--force", "--quiet", "--json", *FAST, env=env
    )
    assert out.returncode == 0, out.stderr
    assert (
        "psykhe: warning: --force: sending although variants fell from 30 to 10, "
        "more than --max-drop 50%"
    ) in out.stderr
    overrides = orjson.loads(out.stdout)["overrides"]
    assert overrides == [{"check": "variants_drop", "previous": 30, "feed": 10, "max_drop": 50.0}]


def test_force_on_a_dry_run_says_what_a_real_push_would_send(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    # issue 23, 21: "sending although…" then "nothing was sent" contradicted itself
    full = write_feed(tmp_path / "full.jsonl", catalog(30))
    one_each = write_feed(tmp_path / "one.jsonl", [product(f"P{i:05d}") for i in range(10)])
    assert psykhe("push", str(full), *SOFT, "--yes", *FAST, env=env).returncode == 0
    out = psykhe("push", str(one_each), *SOFT, "--yes", "--force", "--dry-run", env=env)
    assert out.returncode == 0, out.stderr
    assert "--force: a real push would send although variants fell from 30 to 10" in out.stderr
    assert "sending although" not in out.stderr
    assert len(sandbox.ingestions()) == 1  # the baseline only


def test_dry_run_of_a_full_sync_never_asks(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    out = subprocess.run(
        [*PSYKHE, "push", str(feed), *SOFT, "--dry-run"],
        env=env,
        capture_output=True,
        timeout=60,
        start_new_session=True,
    )
    stderr = out.stderr.decode()
    assert out.returncode == 0, stderr
    assert "dry run: the guard would ask for confirmation (or --yes) before sending" in stderr
    assert "[y/N]" not in stderr
    assert sandbox.requests() == []


def test_dry_run_exits_7_when_the_guard_would_refuse(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    full = write_feed(tmp_path / "full.jsonl", catalog(30))
    small = write_feed(tmp_path / "small.jsonl", catalog(3))
    assert psykhe("push", str(full), *SOFT, "--yes", *FAST, env=env).returncode == 0
    out = psykhe("push", str(small), *SOFT, "--dry-run", env=env)
    assert out.returncode == 7, out.stderr
    assert "the feed has 1 products, fewer than 50% of the 10" in out.stderr
    assert len(posts(sandbox)) == 1


def test_rejects_naming_the_feed_is_a_usage_error_and_leaves_it_whole(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "v.jsonl", catalog(6))
    before = feed.read_bytes()
    (tmp_path / "link.jsonl").symlink_to(feed)
    os.link(feed, tmp_path / "hard.jsonl")
    for output in ("v.jsonl", "link.jsonl", "hard.jsonl"):
        out = psykhe(
            "push",
            "v.jsonl",
            "--skip-invalid",
            "--rejects",
            output,
            "--dry-run",
            env=env,
            cwd=tmp_path,
        )
        assert out.returncode == 2, out.stderr
        assert f"--rejects {output} is the feed v.jsonl" in out.stderr
        assert feed.read_bytes() == before
    assert sandbox.requests() == []


def test_rejects_is_written_whole_or_not_at_all(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(
        b"".join(
            orjson.dumps({"product_data": p, "operation": "insert"}) + b"\n" for p in catalog(3)
        )
        + b"not json\n"
    )
    rejects = tmp_path / "rejects.jsonl"
    rejects.write_bytes(b"previous\n")
    missing = tmp_path / "missing.jsonl"
    out = psykhe(
        "push",
        str(feed),
        str(missing),
        "--skip-invalid",
        "--rejects",
        str(rejects),
        "--dry-run",
        env=env,
    )
    assert out.returncode == 3, out.stderr
    assert rejects.read_bytes() == b"previous\n"  # the run failed: the old file is kept
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".rejects")] == []
    out = psykhe(
        "push", str(feed), "--skip-invalid", "--rejects", str(rejects), "--dry-run", env=env
    )
    assert out.returncode == 0, out.stderr
    (line,) = rejects.read_bytes().splitlines()
    assert orjson.loads(line)["line"] == 4


def test_status_last_after_an_interrupted_upload_shows_the_new_attempt(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    assert psykhe("push", str(feed), *FAST, env=env).returncode == 0
    sandbox.set_faults(delay={"before_answer": 30})
    running = subprocess.Popen(
        [*PSYKHE, "push", str(feed)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    wait_until(lambda: any(r["complete"] for r in posts(sandbox)[1:]))
    running.send_signal(signal.SIGTERM)
    _, stderr = running.communicate(timeout=30)
    assert running.returncode == 130, stderr
    assert b"status --last" in stderr
    out = psykhe("status", "--last", env=env)
    assert out.returncode == 8, out.stdout + out.stderr
    assert "got no ingestion id back: the server may or may not have accepted it" in out.stderr
    assert "completed" not in out.stdout


def test_the_plan_names_what_a_full_sync_would_deactivate(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    full = write_feed(tmp_path / "full.jsonl", catalog(60))  # P00000..P00019
    part = write_feed(tmp_path / "part.jsonl", catalog(60)[12:] + catalog(3, prefix="N"))
    first = psykhe("push", str(full), *SOFT, "--yes", "--json", *FAST, env=env)
    assert orjson.loads(first.stdout)["plan"] == {
        "baseline": None,
        "deactivate": None,
        "new": None,
        "kept": None,
        "deactivate_records": None,
        "new_records": None,
        "kept_records": None,
        "deactivate_sample": [],
    }
    plan_file = tmp_path / "plan.txt"
    out = psykhe(
        "push", str(part), *SOFT, "--yes", "--json", "--plan-file", str(plan_file), *FAST, env=env
    )
    assert out.returncode == 0, out.stderr
    plan = orjson.loads(out.stdout)["plan"]
    assert plan["baseline"]["products"] == 20
    assert plan["baseline"]["variants"] == 60
    assert plan["baseline"]["ingestion_id"] == orjson.loads(first.stdout)["ingestion_ids"][0]
    assert (plan["deactivate"], plan["new"], plan["kept"]) == (4, 1, 16)
    # records, as the server counts them: ranges, since no count per product is kept
    assert (plan["deactivate_records"], plan["new_records"], plan["kept_records"]) == (
        {"at_least": 4, "at_most": 44},
        {"at_least": 1, "at_most": 35},
        {"at_least": 16, "at_most": 50},
    )
    assert plan["deactivate_sample"] == ["P00000", "P00001", "P00002", "P00003"]
    assert plan_file.read_text() == "P00000\nP00001\nP00002\nP00003\n"
    assert (
        "plan: deactivate 4 to 44 records (4 products), new 1 to 35 records (1 product), kept "
        "16 to 50 records (16 products), against the last full sync; a range where psykhe "
        "cannot know the records per product\n"
    ) in out.stderr
    [metrics] = orjson.loads(out.stdout)["product_metrics"].values()
    assert metrics["deactivated"] == 12  # within the plan's range
    deactivated = {p["product_identifier"] for p in sandbox.products(active=False)}
    assert deactivated == {"P00000", "P00001", "P00002", "P00003"}


def test_the_question_shows_the_plan_counts_and_ten_identifiers(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    from tests.helpers import run_in_pty

    full = write_feed(tmp_path / "full.jsonl", catalog(90))  # 30 products
    part = write_feed(tmp_path / "part.jsonl", catalog(90)[36:])  # the first 12 gone
    assert psykhe("push", str(full), *SOFT, "--yes", *FAST, env=env).returncode == 0
    code, screen = run_in_pty(["push", str(part), *SOFT], env=env, answers={b"[y/N]": b"n\n"})
    text = screen.decode(errors="replace")
    assert code == 7, text
    plan = [
        "plan         deactivate 12 to 72 records (12 products)",
        "             new        0 records (0 products)",
        "             kept       54 records (18 products)",
    ]
    assert all(line in text for line in plan), text  # each inside the panel's borders
    assert "P00009" in text and "P00010" not in text
    assert "… and 2 more (--plan-file lists them all)" in text
    assert len(posts(sandbox)) == 1


def test_plan_file_naming_the_feed_is_a_usage_error(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    before = feed.read_bytes()
    out = psykhe("push", str(feed), *SOFT, "--dry-run", "--plan-file", str(feed), env=env)
    assert out.returncode == 2, out.stderr
    assert "--plan-file" in out.stderr and "is the feed" in out.stderr
    assert feed.read_bytes() == before


def _when_opened(process: subprocess.Popen[bytes], path: Path, change: Any) -> None:
    """Call ``change()`` as soon as ``process`` reads ``path``: its descriptor has moved past
    the first byte, so the file as it was opened is what it takes for the feed (a change
    between the open and that look would be a file that simply was so)."""
    folder = Path(f"/proc/{process.pid}/fd")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            opened = [fd.name for fd in folder.iterdir() if os.readlink(fd) == str(path)]
            info = [Path(f"/proc/{process.pid}/fdinfo/{fd}").read_text() for fd in opened]
        except OSError:
            info = []
        if any(not text.startswith("pos:\t0\n") for text in info):
            change()
            return
        time.sleep(0.001)
    raise AssertionError("the feed was never read")


def _big_feed(path: Path, prefix: str = "P") -> Path:
    return write_feed(path, catalog(150_000, prefix=prefix))  # ~45 MB, ~0.5 s to read


@pytest.mark.parametrize("order", [[], ["--no-stream"]], ids=["streamed", "spooled"])
@pytest.mark.parametrize(
    "change", ["replaced", "truncated", "grown", "replaced_gz", "truncated_csv"]
)
def test_a_feed_that_changes_while_it_is_read_is_never_sent(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle, change: str, order: list[str]
) -> None:
    if change.endswith("_gz"):
        feed = _big_feed(tmp_path / "feed.jsonl.gz")
        other = _big_feed(tmp_path / "other.jsonl.gz", prefix="Q")
    elif change.endswith("_csv"):
        feed = tmp_path / "feed.csv"
        rows = "".join(
            f"P{i},P{i}-v,Title {i},https://cdn.example.com/{i}.jpg,10.5\n" for i in range(600_000)
        )
        feed.write_text("product_identifier,variant_identifier,title,images,price\n" + rows)
        other = feed
    else:
        feed = _big_feed(tmp_path / "feed.jsonl")
        other = _big_feed(tmp_path / "other.jsonl", prefix="Q")

    def act() -> None:
        if change.startswith("replaced"):
            os.replace(other, feed)
        elif change.startswith("truncated"):
            os.truncate(feed, feed.stat().st_size // 2)
        else:
            with feed.open("ab") as handle:
                handle.write(b"".join(wrapped(p) for p in catalog(30, prefix="X")))

    running = subprocess.Popen(
        [*PSYKHE, "push", str(feed), *SOFT, "--yes", "--max-problems", "3", *order],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _when_opened(running, feed, act)
    _, stderr = running.communicate(timeout=120)
    text = stderr.decode()
    assert running.returncode == 3, text
    # where an upload had begun (streamed, and the feed big enough for workers), it says so
    cut = "the upload begun meanwhile was cut off before its end, so nothing was applied"
    said = cut if "uploading while the feed is checked" in text else "nothing was sent"
    assert f"{feed} changed while it was read; {said}" in text
    if order:
        assert posts(sandbox) == []
    else:  # an upload begun while the feed was read is never completed
        assert all(not r["complete"] and r["status"] is None for r in posts(sandbox))
        assert sandbox.ingestions() == []


def test_an_unusable_state_directory_stops_a_push_before_anything_is_sent(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    env = env | {"XDG_STATE_HOME": str(blocked)}
    out = psykhe("push", str(feed), *SOFT, "--yes", env=env)
    assert out.returncode == 4, out.stderr
    assert str(blocked / "psykhe") in out.stderr
    assert "nothing was sent" in out.stderr
    assert requests_seen(sandbox) == [KEY_CHECK]
    out = psykhe("push", str(feed), *FAST, env=env)
    assert out.returncode == 4, out.stderr
    assert f"cannot lock the state directory {blocked / 'psykhe'}" in out.stderr
    assert requests_seen(sandbox) == [KEY_CHECK, KEY_CHECK]  # each push's check, no more


def test_dry_run_on_a_terminal_never_asks(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    from tests.helpers import run_in_pty

    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    code, screen = run_in_pty(["push", str(feed), *SOFT, "--dry-run"], env=env, timeout=30)
    text = screen.decode(errors="replace")
    assert code == 0, text
    assert "[y/N]" not in text
    assert "dry run: the guard would ask for confirmation (or --yes) before sending" in text
    assert sandbox.requests() == []


def test_status_last_settles_a_no_wait_full_sync(
    tmp_path: Path, env: dict[str, str], home: Path, sandbox: SandboxHandle
) -> None:
    full = write_feed(tmp_path / "full.jsonl", catalog(30))
    first = psykhe("push", str(full), *SOFT, "--yes", "--no-wait", "--json", env=env)
    (ingestion_id,) = orjson.loads(first.stdout)["ingestion_ids"]
    sandbox.wait_for(ingestion_id)
    shown = psykhe("status", "--last", env=env)
    assert shown.returncode == 0, shown.stderr
    syncs = store_of(home).full_syncs(target_of(sandbox))
    assert syncs.completed is not None and syncs.completed.ingestion_id == ingestion_id
    assert syncs.pending == ()
