"""``psykhe restore``: the bodies of completed full syncs kept as sent, listed, and sent again.

Every test runs the CLI as a subprocess against the sandbox over real HTTP.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import FAST, isolated_env, posts, product, psykhe, run_in_pty, write_feed

SOFT = ("--mode", "soft_replace", "--yes")


def feed_a(tmp_path: Path) -> Path:
    """Products P0..P5, two variants each, priced 10."""
    items = [product(f"P{i}", f"P{i}-{v}", price=10.0) for i in range(6) for v in range(2)]
    return write_feed(tmp_path / "a.jsonl", items)


def feed_b(tmp_path: Path) -> Path:
    """Products P2..P7: P0 and P1 gone, P6 and P7 new, every price changed."""
    items = [product(f"P{i}", f"P{i}-{v}", price=20.0) for i in range(2, 8) for v in range(2)]
    return write_feed(tmp_path / "b.jsonl", items)


def full_sync(env: dict[str, str], feed: Path, *extra: str) -> int:
    """Push ``feed`` as a soft_replace to completion; its ingestion id."""
    out = psykhe("push", str(feed), *SOFT, *FAST, "--json", *extra, env=env)
    assert out.returncode == 0, out.stderr
    [ingestion_id] = orjson.loads(out.stdout)["ingestion_ids"]
    return int(ingestion_id)


def listed(env: dict[str, str]) -> list[dict[str, Any]]:
    out = psykhe("restore", "--list", "--json", env=env)
    assert out.returncode == 0, out.stderr
    kept: list[dict[str, Any]] = orjson.loads(out.stdout)["kept"]
    return kept


def kept_dir(env: dict[str, str]) -> Path:
    return Path(env["XDG_STATE_HOME"]) / "psykhe" / "kept"


def kept_bodies(env: dict[str, str]) -> list[Path]:
    return sorted(kept_dir(env).glob("*.jsonl.gz"))


def catalog_state(sandbox: SandboxHandle) -> dict[tuple[str, str], tuple[bool, Any]]:
    """Each stored variant: whether it is active, and its product data."""
    return {
        (p["product_identifier"], p["variant_identifier"]): (p["active"], p["data"])
        for p in sandbox.products()
    }


def configure(env: dict[str, str], text: str) -> None:
    path = Path(env["XDG_CONFIG_HOME"]) / "psykhe" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)


def test_restore_sends_the_kept_body_of_a_full_sync_byte_for_byte(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    configure(env, "keep_full_syncs = 3\n")  # A stays kept once its restore completes
    a = full_sync(env, feed_a(tmp_path))
    after_a = catalog_state(sandbox)
    b = full_sync(env, feed_b(tmp_path), "--no-stream")
    assert catalog_state(sandbox) != after_a

    out = psykhe("restore", str(a), "--yes", "--json", *FAST, env=env)

    assert out.returncode == 0, out.stderr
    document = orjson.loads(out.stdout)
    sent_a, sent_b, restored = posts(sandbox)
    assert restored["mode"] == "soft_replace"
    assert restored["complete"] and restored["sha1"] == sent_a["sha1"] != sent_b["sha1"]
    assert restored["body_bytes"] == sent_a["body_bytes"]
    assert document["restored"]["ingestion_id"] == a
    # kept in turn: the same file linked under its own id, not a copy
    [kept_a] = kept_dir(env).glob(f"*-{a}.jsonl.gz")
    [kept_again] = kept_dir(env).glob(f"*-{restored['ingestion_id']}.jsonl.gz")
    assert kept_a.stat().st_ino == kept_again.stat().st_ino
    assert document["mode"] == "soft_replace" and document["status"] == "completed"
    assert (document["products"], document["variants"]) == (6, 12)
    # against B: P6 and P7 deactivated, P0 and P1 brought back
    assert document["plan"]["baseline"]["ingestion_id"] == b
    assert (document["plan"]["deactivate"], document["plan"]["new"]) == (2, 2)
    # the catalog as A left it: A's products active with A's data, B's new ones inactive
    state = catalog_state(sandbox)
    assert _active(state) == _active(after_a)
    assert {key for key, (active, _) in state.items() if not active} == {
        (f"P{i}", f"P{i}-{v}") for i in (6, 7) for v in range(2)
    }


def _active(state: dict[tuple[str, str], tuple[bool, Any]]) -> dict[tuple[str, str], Any]:
    return {key: data for key, (active, data) in state.items() if active}


def big_feed(tmp_path: Path) -> Path:
    """~7 MB: past the 4 MiB after which the workers start, so a full sync with --yes streams."""
    items = [product(f"S{i // 3:06d}", f"S{i:06d}", description="x" * 50) for i in range(24_000)]
    return write_feed(tmp_path / "big.jsonl", items)


def assert_kept_as_sent(env: dict[str, str], sandbox: SandboxHandle, lines: int) -> None:
    """Each kept body is, byte for byte, the body its ingestion was created from."""
    sent = {request["ingestion_id"]: request["sha1"] for request in posts(sandbox)}
    for body in listed(env):
        [path] = kept_dir(env).glob(f"*-{body['ingestion_id']}.jsonl.gz")
        data = path.read_bytes()
        assert hashlib.sha1(data).hexdigest() == sent[body["ingestion_id"]]
        assert hashlib.sha256(data).hexdigest() == body["sha256"]
        assert len(data) == body["size"]
        assert gzip.decompress(data).count(b"\n") == lines
        assert os.stat(path).st_mode & 0o777 == 0o600


def test_the_kept_body_is_the_body_as_sent_whether_streamed_or_not(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = big_feed(tmp_path)
    out = psykhe("push", str(feed), *SOFT, *FAST, env=env)
    assert out.returncode == 0, out.stderr
    assert "uploading while the feed is checked" in out.stderr  # it streamed
    whole = full_sync(env, feed, "--no-stream")

    assert [k["ingestion_id"] for k in listed(env)] == [whole, 1]
    assert_kept_as_sent(env, sandbox, 24_000)


def test_a_body_spooled_on_another_file_system_is_copied(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs a TMPDIR on another file system than the state directory")
    spool_dir = Path(tempfile.mkdtemp(dir=shm))
    try:
        full_sync(env | {"TMPDIR": str(spool_dir)}, feed_a(tmp_path))
        assert_kept_as_sent(env, sandbox, 12)
    finally:
        shutil.rmtree(spool_dir)


def test_restore_list_shows_each_kept_full_sync_newest_first(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    out = psykhe("restore", "--list", env=env)
    assert out.stdout == (
        f"no full sync is kept for {sandbox.base_url} yet: psykhe keeps the last 2 that "
        "complete (keep_full_syncs)\n"
    )
    a = full_sync(env, feed_a(tmp_path))
    b = full_sync(env, feed_b(tmp_path))

    kept = listed(env)
    out = psykhe("restore", "--list", env=env)

    assert [(k["ingestion_id"], k["products"], k["variants"]) for k in kept] == [
        (b, 6, 12),
        (a, 6, 12),
    ]
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"kept full syncs of {sandbox.base_url}, newest first:"
    assert lines[2].split()[:4] == [str(b), kept[0]["at"], "6", "12"]
    assert lines[3].split()[:4] == [str(a), kept[1]["at"], "6", "12"]


def test_keep_full_syncs_0_keeps_none_and_1_keeps_the_last(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    configure(env, "keep_full_syncs = 0\n")
    full_sync(env, feed_a(tmp_path))
    assert listed(env) == []
    assert kept_bodies(env) == []
    out = psykhe("restore", "--list", env=env)
    assert out.stdout == f"no full sync is kept for {sandbox.base_url}: keep_full_syncs is 0\n"

    configure(env, "keep_full_syncs = 1\n")
    full_sync(env, feed_a(tmp_path))
    last = full_sync(env, feed_b(tmp_path))
    assert [k["ingestion_id"] for k in listed(env)] == [last]
    assert [p.name.rsplit("-", 1)[1] for p in kept_bodies(env)] == [f"{last}.jsonl.gz"]


def test_keep_full_syncs_of_a_profile_is_its_own(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    configure(env, "[profiles.shop]\nkeep_full_syncs = 0\n")
    full_sync(env, feed_a(tmp_path), "--profile", "shop")
    assert kept_bodies(env) == []

    kept = full_sync(env, feed_a(tmp_path))  # the top level keeps the default 2
    assert [k["ingestion_id"] for k in listed(env)] == [kept]


def test_keep_full_syncs_must_be_a_whole_number(env: dict[str, str]) -> None:
    configure(env, "keep_full_syncs = -1\n")
    out = psykhe("restore", "--list", env=env)
    assert out.returncode == 4
    assert "keep_full_syncs in the config file" in out.stderr
    assert "must be a whole number, 0 or more" in out.stderr


def test_a_failed_full_sync_is_not_kept(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    sandbox.set_faults(ingestion={"outcome": "failed"})
    out = psykhe("push", str(feed_a(tmp_path)), *SOFT, *FAST, env=env)
    assert out.returncode == 9, out.stderr
    assert listed(env) == []
    assert kept_bodies(env) == []


def test_a_full_sync_whose_outcome_is_unknown_is_not_kept(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    sandbox.set_faults(respond={"status": 502})
    out = psykhe("push", str(feed_a(tmp_path)), *SOFT, *FAST, env=env)
    assert out.returncode == 8, out.stderr
    assert listed(env) == []
    assert kept_bodies(env) == []


@pytest.mark.parametrize("how", [["ID"], ["--last"], ["ID", "--watch", *FAST]])
def test_a_pending_full_sync_is_kept_once_status_sees_it_completed(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle, how: list[str]
) -> None:
    out = psykhe("push", str(feed_a(tmp_path)), *SOFT, "--no-wait", "--json", env=env)
    assert out.returncode == 0, out.stderr
    [ingestion_id] = orjson.loads(out.stdout)["ingestion_ids"]
    assert listed(env) == []  # pending: not restorable yet
    assert len(kept_bodies(env)) == 1
    sandbox.wait_for(ingestion_id)

    args = [str(ingestion_id) if arg == "ID" else arg for arg in how]
    out = psykhe("status", *args, env=env)

    assert out.returncode == 0, out.stderr
    assert [k["ingestion_id"] for k in listed(env)] == [ingestion_id]


def test_a_pending_full_sync_that_failed_is_deleted_by_the_next_full_sync(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    sandbox.set_faults(ingestion={"outcome": "failed"})
    out = psykhe("push", str(feed_a(tmp_path)), *SOFT, "--no-wait", "--json", env=env)
    [failed] = orjson.loads(out.stdout)["ingestion_ids"]
    sandbox.wait_for(failed)

    kept = full_sync(env, feed_a(tmp_path))

    assert [k["ingestion_id"] for k in listed(env)] == [kept]
    assert [p.name.rsplit("-", 1)[1] for p in kept_bodies(env)] == [f"{kept}.jsonl.gz"]


def test_a_truncated_kept_body_is_refused_and_nothing_is_sent(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    a = full_sync(env, feed_a(tmp_path))
    [path] = kept_bodies(env)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    out = psykhe("restore", str(a), "--yes", "--json", env=env)

    assert out.returncode == 3, out.stderr
    assert f"the kept body of full sync {a} ({path}) is damaged" in out.stderr
    assert f"{len(data) // 2:,} bytes where {len(data):,} were kept; nothing was sent" in out.stderr
    assert orjson.loads(out.stdout)["error"]["code"] == "invalid_input"
    assert len(posts(sandbox)) == 1


def test_an_altered_kept_body_of_the_same_size_is_refused(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    a = full_sync(env, feed_a(tmp_path))
    [path] = kept_bodies(env)
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF
    path.write_bytes(bytes(data))

    out = psykhe("restore", str(a), "--yes", env=env)

    assert out.returncode == 3, out.stderr
    assert "its SHA-256 is not the one it was kept with; nothing was sent" in out.stderr
    assert len(posts(sandbox)) == 1


def test_restore_of_an_id_not_kept_names_those_kept(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    a = full_sync(env, feed_a(tmp_path))

    out = psykhe("restore", "999", "--yes", env=env)

    assert out.returncode == 2, out.stderr
    assert out.stderr.splitlines()[0] == (
        f"psykhe: error: no full sync 999 is kept for {sandbox.base_url} (kept: {a})"
    )
    assert len(posts(sandbox)) == 1


def test_restore_needs_an_id_or_list(env: dict[str, str]) -> None:
    for args in ([], ["1", "--list"]):
        out = psykhe("restore", *args, env=env)
        assert out.returncode == 2
        assert "give the ingestion id of a kept full sync, or --list" in out.stderr


def test_restore_dry_run_plans_and_sends_nothing(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    a = full_sync(env, feed_a(tmp_path))
    full_sync(env, feed_b(tmp_path))

    out = psykhe("restore", str(a), "--dry-run", "--json", env=env)

    assert out.returncode == 0, out.stderr
    document = orjson.loads(out.stdout)
    assert document["dry_run"] and document["restored"]["ingestion_id"] == a
    assert (document["plan"]["deactivate"], document["plan"]["new"]) == (2, 2)
    assert len(posts(sandbox)) == 2


def test_restore_goes_through_the_drop_guard(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    small = write_feed(tmp_path / "small.jsonl", [product("P0")])
    small_id = full_sync(env, small)
    full_sync(env, feed_a(tmp_path))

    out = psykhe("restore", str(small_id), "--yes", env=env)
    assert out.returncode == 7, out.stderr
    assert len(posts(sandbox)) == 2

    out = psykhe("restore", str(small_id), "--yes", "--force", *FAST, env=env)
    assert out.returncode == 0, out.stderr
    assert posts(sandbox)[-1]["sha1"] == posts(sandbox)[0]["sha1"]


def test_a_body_a_killed_run_left_unlisted_is_removed_by_the_next_keep(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    full_sync(env, feed_a(tmp_path))
    left = kept_dir(env) / "0123456789abcdef-77.jsonl.gz"
    left.write_bytes(b"half a body")

    kept = full_sync(env, feed_b(tmp_path))

    assert not left.exists()
    assert kept in [k["ingestion_id"] for k in listed(env)]


def test_restore_question_on_a_terminal_shows_the_plan(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    a = full_sync(env, feed_a(tmp_path))
    full_sync(env, feed_b(tmp_path))
    tty_env = isolated_env(Path(env["HOME"]), sandbox.env() | {"TERM": "xterm", "COLUMNS": "120"})

    code, screen = run_in_pty(["restore", str(a), *FAST], env=tty_env, answers={b"[y/N]": b"y\n"})

    text = screen.decode(errors="replace")
    assert code == 0, text
    assert f"restoring full sync {a} of " in text
    assert "plan         deactivate 2 to 8 records (2 products)" in text
    assert "DEACTIVATES" in text
    assert posts(sandbox)[-1]["sha1"] == posts(sandbox)[0]["sha1"]


def test_restore_list_json_is_one_object_when_the_index_is_damaged(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    full_sync(env, feed_a(tmp_path))
    index = kept_dir(env) / "index.json"
    index.write_text("{not json")

    out = psykhe("restore", "--list", "--json", env=env)

    assert out.returncode == 4
    document = orjson.loads(out.stdout)
    assert document["exit_code"] == 4 and document["kept"] == []
    assert document["error"]["message"] == f"the state file {index} is damaged"
    assert f"psykhe: error: the state file {index} is damaged" in out.stderr
