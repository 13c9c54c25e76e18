"""``psykhe push`` end to end: the real CLI as a subprocess against the sandbox on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from psykhe_cli.errors import ConfigError
from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import (
    FAST,
    KEY_CHECK,
    catalog,
    isolated_env,
    product,
    psykhe,
    requests_seen,
    write_feed,
)


def creates(sandbox: SandboxHandle) -> list[dict[str, Any]]:
    return [r for r in sandbox.requests() if r["method"] == "POST"]


def active_keys(sandbox: SandboxHandle) -> set[tuple[str, str]]:
    return {
        (p["product_identifier"], p["variant_identifier"]) for p in sandbox.products(active=True)
    }


def test_push_insert_completes_and_reports(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(9))
    out = psykhe("push", str(feed), *FAST, env=env)
    assert out.returncode == 0, out.stderr
    assert "psykhe: ingestion 1 accepted\n" in out.stderr
    assert "status: completed\n" in out.stdout
    assert "upserted: 9\n" in out.stdout
    assert len(active_keys(sandbox)) == 9
    (request,) = creates(sandbox)
    assert request["mode"] == "insert"
    assert request["complete"] is True
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["content-encoding"] == "gzip"
    assert headers["content-type"] == "application/x-ndjson"
    assert headers["user-agent"].startswith("psykhe/")
    assert headers["x-psykhe-api-key"] != sandbox.api_key


def test_push_uploads_exactly_the_normalized_feed(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    bare = orjson.dumps(product("B1")) + b"\r\n"
    legacy = orjson.dumps({"action": "insert", "product_data": product("L1")}) + b"\n"
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"\xef\xbb\xbf" + bare + b"\n" + legacy)
    out = psykhe("push", str(feed), *FAST, "--json", env=env)
    assert out.returncode == 0, out.stderr
    report = orjson.loads(out.stdout)
    ingestion = sandbox.ingestion(report["ingestion_ids"][0])
    expected = (
        orjson.dumps({"operation": "insert", "product_data": product("B1")})
        + b"\n"
        + orjson.dumps({"operation": "insert", "product_data": product("L1")})
        + b"\n"
    )
    data = {p["product_identifier"]: p["data"] for p in sandbox.products()}
    assert data == {"B1": product("B1"), "L1": product("L1")}
    assert report["lines"] == 2
    assert report["raw_bytes"] == len(expected)
    (request,) = creates(sandbox)
    assert ingestion["file_identifier"] == request["sha1"]
    assert "legacy_action" in out.stderr


def test_push_json_is_one_object_with_the_documented_keys(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl.gz", catalog(6))
    out = psykhe("push", str(feed), *FAST, "--json", env=env)
    assert out.returncode == 0, out.stderr
    report = orjson.loads(out.stdout)
    assert out.stdout.count("\n") == 1
    assert report["exit_code"] == 0
    assert report["mode"] == "insert"
    assert report["status"] == "completed"
    assert (report["lines"], report["products"], report["variants"]) == (6, 2, 6)
    assert report["bytes_sent"] == creates(sandbox)[0]["body_bytes"]
    assert report["error"] is None
    assert report["product_metrics"][str(report["ingestion_ids"][0])]["upserted"] == 6


def test_push_with_an_invalid_line_sends_nothing(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(
        orjson.dumps(product("A")) + b"\n" + orjson.dumps(product("B", price="x")) + b"\n"
    )
    out = psykhe("push", str(feed), "--json", env=env)
    assert out.returncode == 3
    assert f"{feed}:2: error[invalid_price]:" in out.stderr
    report = orjson.loads(out.stdout)
    assert report["error"]["code"] == "invalid_input"
    assert report["ingestion_ids"] == []
    assert report["status"] is None
    assert sandbox.requests() == []


def test_push_skip_invalid_sends_the_rest_and_writes_rejects(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = tmp_path / "feed.jsonl"
    bad = orjson.dumps(product("B", price=-1, title=5))  # two problems, one line
    feed.write_bytes(orjson.dumps(product("A")) + b"\n" + bad + b"\n" + b"not json\n")
    rejects = tmp_path / "rejects.jsonl"
    out = psykhe("push", str(feed), *FAST, "--skip-invalid", "--rejects", str(rejects), env=env)
    assert out.returncode == 0, out.stderr
    assert active_keys(sandbox) == {("A", "A")}
    report = orjson.loads(
        psykhe(
            "push",
            str(feed),
            *FAST,
            "--skip-invalid",
            "--rejects",
            str(rejects),
            "--json",
            env=env,
        ).stdout
    )
    assert report["rejected"] == 2  # lines, however many problems each has
    rows = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert [(row["line"], row["input"]) for row in rows] == [(2, bad.decode()), (3, "not json")]
    assert sorted(p["code"] for p in rows[0]["problems"]) == ["invalid_price", "invalid_title"]


def test_push_soft_replace_refuses_skip_invalid(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    out = psykhe("push", str(feed), "--mode", "soft_replace", "--yes", "--skip-invalid", env=env)
    assert out.returncode == 2
    assert "--skip-invalid cannot be used with --mode soft_replace" in out.stderr
    assert sandbox.requests() == []


def test_push_soft_replace_deactivates_what_the_feed_omits(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    first = write_feed(tmp_path / "first.jsonl", catalog(6))
    assert psykhe("push", str(first), *FAST, env=env).returncode == 0
    second = write_feed(tmp_path / "second.jsonl", catalog(6)[:3])
    out = psykhe("push", str(second), *FAST, "--mode", "soft_replace", "--yes", env=env)
    assert out.returncode == 0, out.stderr
    assert "deactivated: 3\n" in out.stdout
    assert active_keys(sandbox) == {("P00000", f"P00000-{i}") for i in range(3)}


def test_push_soft_replace_without_terminal_or_yes_is_refused(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    out = psykhe("push", str(feed), "--mode", "soft_replace", env=env)
    assert out.returncode == 7
    assert "pass --yes" in out.stderr
    assert requests_seen(sandbox) == [KEY_CHECK]  # the feed never went


@pytest.mark.parametrize("mode", ["insert", "soft_replace"])
def test_push_dry_run_sends_nothing(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str], mode: str
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    out = psykhe("push", str(feed), "--mode", mode, "--yes", "--dry-run", env=env)
    assert out.returncode == 0, out.stderr
    assert "dry run: nothing was sent" in out.stderr
    assert sandbox.requests() == []


def test_push_empty_feed_insert_is_invalid_input(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    out = psykhe("push", "-", input=b"", env=env)
    assert out.returncode == 3
    assert "no product lines" in out.stderr
    assert sandbox.requests() == []


def test_push_empty_feed_soft_replace_is_refused_even_with_yes(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    out = psykhe("push", "-", "--mode", "soft_replace", "--yes", input=b"\n\n", env=env)
    assert out.returncode == 7
    assert "no products" in out.stderr
    assert sandbox.requests() == []


def test_push_drop_guard_remembers_the_last_full_sync(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    full = write_feed(tmp_path / "full.jsonl", catalog(30))  # 10 products
    small = write_feed(tmp_path / "small.jsonl", catalog(9))  # 3 products: a 70% drop
    args = ("--mode", "soft_replace", "--yes", *FAST)
    assert psykhe("push", str(full), *args, env=env).returncode == 0
    refused = psykhe("push", str(small), *args, env=env)
    assert refused.returncode == 7
    assert "the feed has 3 products, fewer than 50% of the 10" in refused.stderr
    assert len(creates(sandbox)) == 1
    assert psykhe("push", str(small), *args, "--max-drop", "80", env=env).returncode == 0
    assert len(creates(sandbox)) == 2


def test_push_drop_guard_force_sends(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    args = ("--mode", "soft_replace", "--yes", *FAST)
    full = write_feed(tmp_path / "full.jsonl", catalog(30))
    small = write_feed(tmp_path / "small.jsonl", catalog(3))
    assert psykhe("push", str(full), *args, env=env).returncode == 0
    assert psykhe("push", str(small), *args, "--force", env=env).returncode == 0
    assert len(creates(sandbox)) == 2


def test_push_batch_size_splits_insert_and_reports_every_id(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(10))
    out = psykhe("push", str(feed), *FAST, "--batch-size", "4", "--json", env=env)
    assert out.returncode == 0, out.stderr
    report = orjson.loads(out.stdout)
    assert len(report["ingestion_ids"]) == 3
    assert report["status"] == "completed"
    assert len(active_keys(sandbox)) == 10


def test_push_payload_too_large_splits_insert_until_it_fits(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    small = sandbox_factory(max_body_mb=0.002)  # ~2 kB after decompression
    env = isolated_env(tmp_path / "home", small.env())
    feed = write_feed(tmp_path / "feed.jsonl", catalog(24))
    out = psykhe("push", str(feed), *FAST, "--json", env=env)
    assert out.returncode == 0, out.stderr
    report = orjson.loads(out.stdout)
    assert len(report["ingestion_ids"]) > 1
    keys = [(p["product_identifier"], p["variant_identifier"]) for p in small.products()]
    assert sorted(keys) == sorted(
        (p["product_identifier"], p["variant_identifier"]) for p in catalog(24)
    )
    upserted = sum(m["upserted"] for m in report["product_metrics"].values())
    assert upserted == 24
    assert "too large" in out.stderr


def test_push_payload_too_large_soft_replace_is_rejected_unsplit(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    small = sandbox_factory(max_body_mb=0.002)
    env = isolated_env(tmp_path / "home", small.env())
    feed = write_feed(tmp_path / "feed.jsonl", catalog(24))
    out = psykhe("push", str(feed), "--mode", "soft_replace", "--yes", env=env)
    assert out.returncode == 6
    assert "cannot be split" in out.stderr
    assert len([r for r in small.requests() if r["method"] == "POST"]) == 1
    assert small.products(active=False) == []


def test_push_no_wait_returns_after_the_upload(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    sandbox.set_faults(ingestion={"outcome": "stalled"})
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    out = psykhe("push", str(feed), "--no-wait", "--json", env=env)
    assert out.returncode == 0, out.stderr
    report = orjson.loads(out.stdout)
    assert report["status"] == "created"
    assert [r["method"] for r in sandbox.requests()] == ["GET", "POST"]  # the key check first


def test_push_failed_ingestion_exits_9(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    sandbox.set_faults(ingestion={"outcome": "failed"})
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    out = psykhe("push", str(feed), *FAST, "--json", env=env)
    assert out.returncode == 9
    report = orjson.loads(out.stdout)
    assert report["status"] == "failed"
    assert report["error"]["code"] == "ingestion_failed"


def test_push_wait_deadline_exits_10_with_the_id(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    sandbox.set_faults(ingestion={"outcome": "stalled"})
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    out = psykhe("push", str(feed), *FAST, "--timeout", "0.5", env=env)
    assert out.returncode == 10
    assert "ingestion 1 is still started after waiting 0.5 s" in out.stderr
    assert "psykhe status 1 --watch" in out.stderr


def test_push_history_names_the_body_the_same_way_each_time(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(12))
    other = write_feed(tmp_path / "other.jsonl", catalog(11))
    for path in (feed, feed, other):
        out = psykhe("push", str(path), *FAST, env=env)
        assert out.returncode == 0, out.stderr
    history = (tmp_path / "home" / "state" / "psykhe" / "history.jsonl").read_bytes()
    records = [orjson.loads(line) for line in history.splitlines()]
    assert [r["status"] for r in records] == ["completed"] * 3
    assert [r["exit_code"] for r in records] == [0] * 3
    assert records[0]["feed_sha256"] == records[1]["feed_sha256"] != records[2]["feed_sha256"]
    first, second, _ = creates(sandbox)
    assert first["sha1"] == second["sha1"] == sandbox.ingestion(1)["file_identifier"]


def test_push_big_feed_checked_and_compressed_by_workers_arrives_whole(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    # past the 4 MiB in-process threshold: blocks are checked and deflated in workers,
    # those of the first half with lines to rewrite, those of the second half as they are
    items = catalog(24_000)
    lines = []
    for i, item in enumerate(items):
        if i < 12_000 and i % 1000 == 7:
            lines.append(orjson.dumps(item) + b"\r\n")  # bare product, CRLF: rewritten
        elif i < 12_000 and i % 1000 == 8:
            lines.append(b"\n")  # a blank line: dropped
            lines.append(orjson.dumps({"operation": "insert", "product_data": item}) + b"\n")
        else:
            lines.append(orjson.dumps({"operation": "insert", "product_data": item}) + b"\n")
    feed = tmp_path / "big.jsonl"
    feed.write_bytes(b"".join(lines))
    assert feed.stat().st_size > 6_000_000
    out = psykhe("push", str(feed), *FAST, "--json", env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    report = orjson.loads(out.stdout)
    assert report["lines"] == 24_000
    assert report["product_metrics"][str(report["ingestion_ids"][0])]["upserted"] == 24_000
    stored = {
        (p["product_identifier"], p["variant_identifier"]): p["data"] for p in sandbox.products()
    }
    assert stored == {(i["product_identifier"], i["variant_identifier"]): i for i in items}


@pytest.mark.parametrize(("args", "shown"), [((), 5), (("--max-problems", "2"), 2)])
def test_push_prints_at_most_max_problems_and_counts_them_all(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str], args: tuple[str, ...], shown: int
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"not json\n" * 5)
    out = psykhe("push", str(feed), "--json", *args, env=env)
    assert out.returncode == 3
    assert out.stderr.count("error[invalid_json]") == shown
    assert "5 error(s) in the feed; nothing was sent" in out.stderr
    assert sandbox.requests() == []


# -- the HTTP client made while the workers check the feed --------------------------------


class Made:
    def __init__(self, fail: bool = False) -> None:
        self.made: list[threading.Thread] = []
        self.closed = 0
        self.fail = fail

    def __call__(self) -> tuple[str, Callable[[], None]]:
        self.made.append(threading.current_thread())
        if self.fail:
            raise ConfigError("no key")
        return "client", self.close

    def close(self) -> None:
        self.closed += 1


def test_early_client_is_made_in_a_thread_and_taken_once() -> None:
    from psykhe_cli.push.connection import EarlyClient

    make = Made()
    early = EarlyClient(make)
    early.start()
    assert early.take() == ("client", make.close)
    early.close()  # taken: closing it is the taker's
    assert len(make.made) == 1 and make.made[0] is not threading.main_thread()
    assert make.closed == 0


def test_early_client_not_taken_is_closed() -> None:
    from psykhe_cli.push.connection import EarlyClient

    make = Made()
    early = EarlyClient(make)
    early.start()
    early.close()  # the guard refused, say: nothing was sent, and the client is closed
    assert make.closed == 1


def test_early_client_error_is_raised_where_it_is_taken() -> None:
    from psykhe_cli.push.connection import EarlyClient

    early = EarlyClient(Made(fail=True))
    early.start()
    with pytest.raises(ConfigError, match="no key"):
        early.take()


def test_early_client_never_started_is_made_when_taken() -> None:
    from psykhe_cli.push.connection import EarlyClient

    make = Made()
    assert EarlyClient(make).take()[0] == "client"
    assert make.made == [threading.main_thread()]


def test_push_summary_explains_server_counts_and_totals_batches(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(9))  # 3 products, 9 variants
    out = psykhe("push", str(feed), "--batch-size", "4", *FAST, env=env)
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines())
    assert lines["server counts"] == "records, one per variant"
    assert lines["requests"] == "3"
    assert [lines[f"{i} upserted"] for i in (1, 2, 3)] == ["4", "4", "1"]
    assert lines["total upserted"] == "9"
    assert lines["total failed lines"] == "0"


def test_push_ending_failed_still_prints_its_summary(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    sandbox.set_faults(ingestion={"outcome": "failed"})
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    out = psykhe("push", str(feed), *FAST, env=env)
    assert out.returncode == 9, out.stderr
    assert "ingestion 1 FAILED on the server" in out.stderr
    assert "status: failed\n" in out.stdout
    assert "ingestion ids: 1\n" in out.stdout


def test_push_no_wait_says_how_to_follow(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    out = psykhe("push", str(feed), "--no-wait", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stderr.endswith("psykhe: follow it with: psykhe status 1 --watch\n")
    assert "status: created\n" in out.stdout
