"""``psykhe push --only-changed`` and the changes every plan reports: the real CLI as a
subprocess against the sandbox on 127.0.0.1 (the catalog memory, ``psykhe_cli/catalog``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import FAST, catalog, posts, product, psykhe, write_feed


def push_json(*args: str, env: dict[str, str]) -> tuple[int, dict[str, Any], str]:
    out = psykhe("push", *args, *FAST, "--json", env=env)
    return out.returncode, json.loads(out.stdout), out.stderr


def lines_sent(sandbox: SandboxHandle, ingestion_id: int) -> int:
    """How many lines the sandbox read from an ingestion's body."""
    metrics = sandbox.wait_for(ingestion_id)["product_metrics"]
    assert isinstance(metrics, dict)
    return int(metrics["lines"])


def stored(sandbox: SandboxHandle) -> dict[tuple[str, str], Any]:
    """The sandbox's active catalog: each record's data by its key."""
    return {
        (p["product_identifier"], p["variant_identifier"]): p["data"]
        for p in sandbox.products(active=True)
    }


def edited(items: list[dict[str, Any]], changed: int, added: int, removed: int) -> list[Any]:
    """``items`` with the price of ``changed`` records changed, ``added`` new records at the
    end and ``removed`` records left out of the beginning."""
    kept = [dict(item) for item in items[removed:]]
    for item in kept[:changed]:
        item["price"] = item["price"] + 1
    return kept + [product(f"N{i:05d}", f"N{i:05d}-0") for i in range(added)]


def test_only_changed_sends_the_new_and_changed_records_only(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    items = catalog(100_000)
    first = write_feed(tmp_path / "first.jsonl", items)
    code, report, stderr = push_json(str(first), env=env)
    assert code == 0, stderr
    assert report["changes"]["baseline"] is None and report["changes"]["sent"] == 100_000

    second = write_feed(tmp_path / "second.jsonl", edited(items, 1000, 200, 300))
    code, report, stderr = push_json(str(second), "--only-changed", env=env)
    assert code == 0, stderr
    changes = report["changes"]
    assert changes["baseline"]["variants"] == 100_000
    assert changes["baseline"]["ingestion_id"] == 1
    assert (changes["new"], changes["changed"], changes["unchanged"], changes["absent"]) == (
        200,
        1000,
        98_700,
        300,
    )
    assert changes["fields"] == {"price": 1000}
    assert changes["sent"] == 1200
    (_, request) = posts(sandbox)
    assert request["complete"] is True
    assert lines_sent(sandbox, report["ingestion_ids"][0]) == 1200
    assert "absent 300 variants" in stderr

    # completed: the same feed again sends nothing
    code, report, stderr = push_json(str(second), "--only-changed", env=env)
    assert code == 0, stderr
    assert report["changes"]["sent"] == 0 and report["ingestion_ids"] == []
    assert report["changes"]["unchanged"] == 99_900
    assert len(posts(sandbox)) == 2
    assert "nothing changed since ingestion 2 (" in stderr
    assert "); nothing sent" in stderr


def test_reordered_keys_and_spaces_change_nothing(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    items = catalog(300)
    code, _, stderr = push_json(str(write_feed(tmp_path / "a.jsonl", items)), env=env)
    assert code == 0, stderr
    lines = [
        json.dumps(
            {"product_data": dict(reversed(list(item.items()))), "operation": "insert"},
            separators=(" ,  ", " :  "),
        ).encode()
        + b"\n"
        for item in items
    ]
    (tmp_path / "b.jsonl").write_bytes(b"".join(lines))
    code, report, stderr = push_json(str(tmp_path / "b.jsonl"), "--only-changed", env=env)
    assert code == 0, stderr
    assert report["changes"]["unchanged"] == 300 and report["changes"]["changed"] == 0
    assert report["changes"]["sent"] == 0
    assert len(posts(sandbox)) == 1


def test_only_changed_with_soft_replace_is_a_usage_error(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    out = psykhe("push", str(feed), "--only-changed", "--mode", "soft_replace", "--yes", env=env)
    assert out.returncode == 2
    assert "--only-changed cannot be used with --mode soft_replace" in out.stderr
    assert posts(sandbox) == []


def test_without_a_memory_everything_is_sent_and_the_reason_given(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(30))
    code, report, stderr = push_json(str(feed), "--only-changed", env=env)
    assert code == 0, stderr
    assert "--only-changed: no catalog memory for this target yet: sending every record" in stderr
    assert report["changes"] == {
        "baseline": None,
        "new": None,
        "changed": None,
        "unchanged": None,
        "absent": None,
        "sent": 30,
        "fields": {},
        "reason": "no catalog memory for this target yet",
    }
    assert lines_sent(sandbox, report["ingestion_ids"][0]) == 30


def test_a_corrupt_memory_is_not_trusted(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str], home: Path
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(30))
    assert push_json(str(feed), env=env)[0] == 0
    (memory,) = (home / "state" / "psykhe" / "catalog").glob("*.memory")
    data = bytearray(memory.read_bytes())
    data[len(data) // 2] ^= 0xFF
    memory.write_bytes(bytes(data))
    code, report, stderr = push_json(str(feed), "--only-changed", env=env)
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert f"the catalog memory {memory} cannot be used (its digest does not match)" in stderr
    assert report["changes"]["sent"] == 30 and report["changes"]["baseline"] is None
    # that push completed: the memory it left is sound again
    code, report, stderr = push_json(str(feed), "--only-changed", env=env)
    assert report["changes"]["sent"] == 0, stderr


def test_a_failed_ingestion_and_an_unknown_outcome_send_the_records_again(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    items = catalog(60)
    assert push_json(str(write_feed(tmp_path / "a.jsonl", items)), env=env)[0] == 0
    changed = write_feed(tmp_path / "b.jsonl", edited(items, 5, 2, 0))

    sandbox.set_faults(ingestion={"outcome": "failed"})
    code, report, _ = push_json(str(changed), "--only-changed", env=env)
    assert code == 9 and report["changes"]["sent"] == 7
    code, report, stderr = push_json(str(changed), "--only-changed", env=env)
    assert code == 0, stderr
    assert report["changes"]["sent"] == 7 and report["changes"]["changed"] == 5

    again = write_feed(tmp_path / "c.jsonl", edited(items, 10, 2, 0))
    sandbox.set_faults(drop={})  # the whole body read, no answer: exit 8
    code, report, _ = push_json(str(again), "--only-changed", "--retries", "0", env=env)
    assert code == 8 and report["changes"]["sent"] == 5
    # the records of the unknown outcome are forgotten: back to the earlier content, they
    # are sent again (the server may hold the new one)
    code, report, stderr = push_json(str(changed), "--only-changed", env=env)
    assert code == 0, stderr
    assert report["changes"]["sent"] == 5
    assert stored(sandbox) == {
        (item["product_identifier"], item["variant_identifier"]): item
        for item in edited(items, 5, 2, 0)
    }


def test_no_wait_then_only_changed_looks_the_pending_one_up(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    items = catalog(60)
    code, report, _ = push_json(str(write_feed(tmp_path / "a.jsonl", items)), "--no-wait", env=env)
    assert code == 0
    sandbox.wait_for(report["ingestion_ids"][0])
    changed = write_feed(tmp_path / "b.jsonl", edited(items, 4, 0, 0))
    code, report, stderr = push_json(str(changed), "--only-changed", env=env)
    assert code == 0, stderr
    assert report["changes"]["baseline"]["ingestion_id"] == 1
    assert report["changes"]["sent"] == 4

    # one still running when the next push looks: its records are not trusted yet
    sandbox.set_faults(ingestion={"outcome": "stalled"})
    third = write_feed(tmp_path / "c.jsonl", edited(items, 8, 0, 0))
    code, report, _ = push_json(str(third), "--only-changed", "--no-wait", env=env)
    assert code == 0 and (report["changes"]["changed"], report["changes"]["sent"]) == (4, 4)
    code, report, stderr = push_json(str(third), "--only-changed", "--dry-run", env=env)
    assert code == 0, stderr
    changes = report["changes"]
    assert (changes["new"], changes["changed"], changes["unchanged"]) == (4, 0, 56)
    assert changes["sent"] == 4


def test_max_changed_refuses_a_feed_that_zeroes_every_price(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    items = catalog(40)
    assert push_json(str(write_feed(tmp_path / "a.jsonl", items)), env=env)[0] == 0
    zeroed = write_feed(tmp_path / "b.jsonl", [item | {"price": 0} for item in items])
    out = psykhe("push", str(zeroed), "--max-changed", "50", *FAST, env=env)
    assert out.returncode == 7
    assert (
        "40 of the 40 variants remembered (100%) would change (price 40), more than "
        "--max-changed 50%" in out.stderr
    )
    assert len(posts(sandbox)) == 1

    code, report, stderr = push_json(str(zeroed), "--max-changed", "50", "--force", env=env)
    assert code == 0, stderr
    assert "warning: --force: sending although 40 of the 40 variants remembered" in stderr
    override = {"check": "changed", "previous": 40, "feed": 40, "max_changed": 50.0}
    assert report["overrides"] == [override | {"fields": {"price": 40}}]
    assert all(record["price"] == 0 for record in stored(sandbox).values())


@pytest.mark.parametrize("extra", [(), ("--skip-invalid",)])
def test_only_changed_reads_stdin(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str], extra: tuple[str, ...]
) -> None:
    items = catalog(20)
    data = b"".join(orjson.dumps({"operation": "insert", "product_data": i}) + b"\n" for i in items)
    assert psykhe("push", "-", *FAST, env=env, input=data).returncode == 0
    items[3] = items[3] | {"title": "new"}
    data = b"".join(orjson.dumps(i) + b"\n" for i in items)  # bare products this time
    out = psykhe("push", "-", "--only-changed", *extra, *FAST, "--json", env=env, input=data)
    assert out.returncode == 0, out.stderr
    changes = json.loads(out.stdout)["changes"]
    assert (changes["changed"], changes["sent"], changes["fields"]) == (1, 1, {"title": 1})


def test_a_full_sync_reports_what_it_changes_and_replaces_the_memory(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    items = catalog(30)
    assert push_json(str(write_feed(tmp_path / "a.jsonl", items)), env=env)[0] == 0
    fewer = write_feed(tmp_path / "b.jsonl", edited(items, 3, 1, 6))
    code, report, stderr = push_json(str(fewer), "--mode", "soft_replace", "--yes", env=env)
    assert code == 0, stderr
    changes = report["changes"]
    assert (changes["new"], changes["changed"], changes["unchanged"], changes["absent"]) == (
        1,
        3,
        21,
        6,
    )
    assert changes["sent"] == 25 and changes["fields"] == {"price": 3}
    assert "changed 3 variants: price 3" in stderr
    # completed: the memory is the full sync's feed, the 6 deactivated ones gone from it
    code, report, stderr = push_json(str(fewer), "--only-changed", env=env)
    assert (report["changes"]["absent"], report["changes"]["sent"]) == (0, 0), stderr


def test_the_question_of_a_full_sync_shows_the_changes(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    from tests.helpers import run_in_pty

    items = catalog(30)
    assert push_json(str(write_feed(tmp_path / "a.jsonl", items)), env=env)[0] == 0
    changed = write_feed(tmp_path / "b.jsonl", edited(items, 4, 0, 0))
    code, screen = run_in_pty(
        ["push", str(changed), "--mode", "soft_replace", *FAST],
        env=env | {"TERM": "xterm", "COLUMNS": "120"},
        answers={b"[y/N]": b"y\n"},
    )
    assert code == 0, screen.decode(errors="replace")
    assert (
        b"changes      new 0 \xc2\xb7 changed 4 \xc2\xb7 unchanged 26 \xc2\xb7 absent 0" in screen
    )
    assert b"changed 4 variants: price 4" in screen


def test_a_memory_older_than_baseline_max_age_is_not_trusted(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str], home: Path
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(12))
    assert push_json(str(feed), env=env)[0] == 0
    code, report, stderr = push_json(
        str(feed), "--only-changed", "--baseline-max-age", "0", env=env
    )
    assert code == 0, stderr
    assert report["changes"]["sent"] == 12 and report["changes"]["baseline"] is None
    assert "more than --baseline-max-age 0 days: sending every record" in stderr
    # the same, from the config file; a flag wins over it
    config = home / "config" / "psykhe"
    config.mkdir(parents=True)
    (config / "config.toml").write_text("baseline_max_age = 0\nmax_changed = 10\n")
    config.joinpath("config.toml").chmod(0o600)
    code, report, stderr = push_json(str(feed), "--only-changed", env=env)
    assert report["changes"]["sent"] == 12, stderr
    code, report, stderr = push_json(
        str(feed), "--only-changed", "--baseline-max-age", "7", env=env
    )
    assert report["changes"]["sent"] == 0, stderr
    # max_changed = 10 from the config: a feed changing every price is refused
    zeroed = write_feed(tmp_path / "zero.jsonl", [i | {"price": 0} for i in catalog(12)])
    out = psykhe("push", str(zeroed), "--baseline-max-age", "7", *FAST, env=env)
    assert out.returncode == 7 and "more than --max-changed 10%" in out.stderr


def test_a_dry_run_tells_what_would_be_sent(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    items = catalog(20)
    assert push_json(str(write_feed(tmp_path / "a.jsonl", items)), env=env)[0] == 0
    changed = write_feed(tmp_path / "b.jsonl", edited(items, 2, 0, 0))
    code, report, stderr = push_json(str(changed), "--only-changed", "--dry-run", env=env)
    assert code == 0, stderr
    assert report["changes"]["sent"] == 2 and report["ingestion_ids"] == []
    assert "changes: new 0 · changed 2 · unchanged 18 · absent 0" in stderr
    assert len(posts(sandbox)) == 1


def test_status_watch_confirms_a_push_that_did_not_wait(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    items = catalog(24)
    assert push_json(str(write_feed(tmp_path / "a.jsonl", items)), env=env)[0] == 0
    changed = write_feed(tmp_path / "b.jsonl", edited(items, 5, 0, 0))
    code, report, _ = push_json(str(changed), "--only-changed", "--no-wait", env=env)
    assert code == 0 and report["changes"]["sent"] == 5
    watched = psykhe("status", "--last", "--watch", *FAST, env=env)
    assert watched.returncode == 0, watched.stderr
    requests = len(sandbox.requests())
    code, report, stderr = push_json(str(changed), "--only-changed", env=env)
    assert code == 0, stderr
    assert report["changes"]["baseline"]["ingestion_id"] == 2
    assert report["changes"]["sent"] == 0
    assert len(sandbox.requests()) == requests  # settled already: nothing looked up


def test_only_changed_in_batches_is_confirmed_once_every_request_completed(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    items = catalog(24)
    assert push_json(str(write_feed(tmp_path / "a.jsonl", items)), env=env)[0] == 0
    changed = write_feed(tmp_path / "b.jsonl", edited(items, 5, 0, 0))
    code, report, stderr = push_json(str(changed), "--only-changed", "--batch-size", "2", env=env)
    assert code == 0, stderr
    assert report["changes"]["sent"] == 5 and len(report["ingestion_ids"]) == 3
    code, report, stderr = push_json(str(changed), "--only-changed", env=env)
    assert report["changes"]["sent"] == 0, stderr


def test_only_changed_reads_csv_rows(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    rows = [f"P{i},P{i}-0,Dress {i},https://cdn.example.com/{i}.jpg,{10 + i}" for i in range(30)]
    header = "product_identifier,variant_identifier,title,images,price\n"
    feed = tmp_path / "feed.csv"
    feed.write_text(header + "\n".join(rows) + "\n")
    assert push_json(str(feed), env=env)[0] == 0
    rows[7] = "P7,P7-0,Dress 7,https://cdn.example.com/7.jpg,99"
    feed.write_text(header + "\n".join(rows) + "\n")
    code, report, stderr = push_json(str(feed), "--only-changed", env=env)
    assert code == 0, stderr
    assert (report["changes"]["changed"], report["changes"]["sent"]) == (1, 1)
    assert report["changes"]["fields"] == {"price": 1}
    assert stored(sandbox)[("P7", "P7-0")]["price"] == 99
