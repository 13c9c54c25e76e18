"""StateStore: push history, the drop guard's memory, file modes, atomic writes, no key."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from psykhe_cli import state
from psykhe_cli.config import Secret, Settings, key_fingerprint
from psykhe_cli.errors import ConfigError
from psykhe_cli.full_syncs import FullSync, FullSyncs
from psykhe_cli.state import PushRecord, StateStore, Target

KEY = "sk_test_RECOGNISABLE_key_0123456789"
TARGET = Target(base_url="https://api.psykhe.dev", key_fingerprint=key_fingerprint(KEY))
OTHER_KEY = Target(base_url="https://api.psykhe.dev", key_fingerprint=key_fingerprint("sk_b"))
OTHER_URL = Target(base_url="http://127.0.0.1:8080", key_fingerprint=key_fingerprint(KEY))


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state" / "psykhe")


def record_full_sync(
    store: StateStore,
    target: Target,
    *,
    products: int,
    variants: int | None = None,
    ingestion_id: int = 99,
) -> FullSync | None:
    """A soft_replace to ``target`` that COMPLETED, remembered as a push remembers one."""
    sync = FullSync(products=products, variants=variants, ingestion_id=ingestion_id)
    store.remember_pending(target, sync)
    store.settle_full_sync(target, ingestion_id, completed=True)
    return store.full_syncs(target).completed


def _record(target: Target = TARGET, **values: object) -> PushRecord:
    return PushRecord.start(target, mode="soft_replace", **values)


def test_empty_store_knows_nothing_and_creates_nothing(store: StateStore) -> None:
    assert store.last_push() is None
    assert store.pushes() == []
    assert store.full_syncs(TARGET).completed is None
    assert not store.state_dir.exists()


def test_save_push_then_last_push_round_trips(store: StateStore) -> None:
    record = _record(
        ingestion_ids=(477021,),
        lines=3,
        products=2,
        variants=3,
        bytes_sent=120,
        feed_sha256="ab" * 32,
        time="2026-11-26T06:00:00Z",
    )
    store.save_push(record)
    assert store.last_push() == record
    assert store.last_push(TARGET) == record
    assert store.last_push(OTHER_KEY) is None
    assert store.last_push(OTHER_URL) is None


def test_save_push_again_updates_the_same_entry(store: StateStore) -> None:
    running = _record(ingestion_ids=(1,))
    store.save_push(running)
    store.save_push(_record(ingestion_ids=(2,)))
    store.save_push(replace(running, status="completed", exit_code=0))
    records = store.pushes()
    assert [(r.ingestion_ids, r.status) for r in records] == [((2,), None), ((1,), "completed")]
    assert len((store.state_dir / "history.jsonl").read_text().splitlines()) == 2


def test_last_push_filters_by_target(store: StateStore) -> None:
    store.save_push(_record(TARGET, ingestion_ids=(1,)))
    store.save_push(_record(OTHER_URL, ingestion_ids=(2,)))
    assert store.last_push(TARGET).ingestion_ids == (1,)  # type: ignore[union-attr]
    assert store.last_push().ingestion_ids == (2,)  # type: ignore[union-attr]


def test_history_is_capped(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "MAX_HISTORY", 3)
    for n in range(5):
        store.save_push(_record(ingestion_ids=(n,)))
    assert [r.ingestion_ids for r in store.pushes()] == [(2,), (3,), (4,)]


def test_damaged_history_lines_are_skipped(store: StateStore) -> None:
    store.save_push(_record(ingestion_ids=(1,)))
    path = store.state_dir / "history.jsonl"
    good = path.read_text()
    path.write_text(
        "not json\n[]\n"
        + json.dumps({"mode": "insert"})
        + "\n"
        + good
        + json.dumps({**json.loads(good), "ingestion_ids": ["x"]})
        + "\n\xff\n"
    )
    assert [r.ingestion_ids for r in store.pushes()] == [(1,)]


def test_history_ignores_unknown_fields(store: StateStore) -> None:
    store.save_push(_record(ingestion_ids=(1,)))
    path = store.state_dir / "history.jsonl"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "from_the_future": True}) + "\n")
    assert store.last_push().ingestion_ids == (1,)  # type: ignore[union-attr]


def test_full_sync_is_remembered_per_target(store: StateStore) -> None:
    saved = record_full_sync(store, TARGET, products=1000, variants=2500, ingestion_id=7)
    assert store.full_syncs(TARGET).completed == saved
    assert (saved.products, saved.variants, saved.ingestion_id) == (1000, 2500, 7)
    assert store.full_syncs(OTHER_KEY).completed is None
    assert store.full_syncs(OTHER_URL).completed is None
    record_full_sync(store, OTHER_URL, products=5)
    record_full_sync(store, TARGET, products=900)
    assert store.full_syncs(TARGET).completed.products == 900  # type: ignore[union-attr]
    assert store.full_syncs(OTHER_URL).completed.products == 5  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text",
    [
        "{",
        "[]",
        '{"targets": []}',
        '{"targets": {"x": 1}}',
    ],
)
def test_damaged_full_sync_file_is_a_config_error(store: StateStore, text: str) -> None:
    store.state_dir.mkdir(parents=True)
    (store.state_dir / "full-syncs.json").write_text(text)
    with pytest.raises(ConfigError, match=r"full-syncs\.json is damaged"):
        store.full_syncs(TARGET)


def test_full_sync_with_bad_count_is_a_config_error(store: StateStore) -> None:
    record_full_sync(store, TARGET, products=10)
    path = store.state_dir / "full-syncs.json"
    path.write_text(path.read_text().replace('"products": 10', '"products": "10"'))
    with pytest.raises(ConfigError) as caught:
        store.full_syncs(TARGET)
    assert caught.value.hint is not None and "delete it" in caught.value.hint


def test_files_are_private_and_writes_leave_no_temp_files(store: StateStore) -> None:
    store.save_push(_record())
    record_full_sync(store, TARGET, products=3)
    assert stat.S_IMODE(store.state_dir.stat().st_mode) == 0o700
    names = sorted(p.name for p in store.state_dir.iterdir())
    assert names == [".lock", "full-syncs.json", "history.jsonl"]
    for path in store.state_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_loose_state_dir_is_tightened(store: StateStore) -> None:
    store.state_dir.mkdir(parents=True, mode=0o755)
    store.state_dir.chmod(0o755)
    store.save_push(_record())
    assert stat.S_IMODE(store.state_dir.stat().st_mode) == 0o700


def test_state_files_never_hold_the_key(store: StateStore, tmp_path: Path) -> None:
    settings = Settings(
        base_url="https://api.psykhe.dev",
        api_key=Secret(KEY),
        key_source="PSYKHE_API_KEY",
        config_path=tmp_path / "config.toml",
        state_dir=store.state_dir,
    )
    target = Target.of(settings)
    assert target == TARGET
    StateStore.of(settings).save_push(_record(target, ingestion_ids=(1,)))
    record_full_sync(StateStore.of(settings), target, products=1)
    for path in store.state_dir.iterdir():
        text = path.read_text()
        assert not any(KEY[i : i + 8] in text for i in range(len(KEY) - 7)), path


def test_failed_write_leaves_old_file_and_no_temp(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save_push(_record(ingestion_ids=(1,)))
    before = (store.state_dir / "history.jsonl").read_text()

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        store.save_push(_record(ingestion_ids=(2,)))
    assert (store.state_dir / "history.jsonl").read_text() == before
    assert sorted(p.name for p in store.state_dir.iterdir()) == [".lock", "history.jsonl"]


def test_unwritable_state_dir_raises_os_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError):
        StateStore(blocker / "psykhe").save_push(_record())


def test_push_record_json_shape(store: StateStore) -> None:
    record = _record(ingestion_ids=(5, 6), time="2026-11-26T06:00:00Z", push_id="abc")
    assert record.to_json() == {
        "push_id": "abc",
        "time": "2026-11-26T06:00:00Z",
        "base_url": "https://api.psykhe.dev",
        "key_fingerprint": TARGET.key_fingerprint,
        "mode": "soft_replace",
        "ingestion_ids": [5, 6],
        "lines": 0,
        "products": 0,
        "variants": 0,
        "bytes_sent": 0,
        "feed_sha256": None,
        "status": None,
        "exit_code": None,
    }
    assert PushRecord.from_json(record.to_json()) == record
    assert record.target == TARGET


def test_new_records_get_distinct_ids_and_utc_times() -> None:
    first, second = _record(), _record()
    assert first.push_id != second.push_id
    assert first.time.endswith("Z") and first.time[10] == "T"


def test_target_name_is_url_and_fingerprint() -> None:
    assert TARGET.name == f"https://api.psykhe.dev key:{TARGET.key_fingerprint}"
    assert FullSync(products=1).variants is None


def test_a_pending_full_sync_becomes_the_baseline_once_completed(
    store: StateStore, tmp_path: Path
) -> None:
    record_full_sync(store, TARGET, products=100, variants=300, ingestion_id=1)
    first = store.new_baseline_file()
    store.remember_pending(TARGET, FullSync(products=50, variants=50, ingestion_id=2), first)
    second = store.new_baseline_file()
    store.remember_pending(TARGET, FullSync(products=200, variants=200, ingestion_id=3), second)
    syncs = store.full_syncs(TARGET)
    assert [p.ingestion_id for p in syncs.pending] == [2, 3]
    assert syncs.reference is not None and syncs.reference.ingestion_id == 3
    kept = [store.baseline_path(p) for p in syncs.pending]
    assert all(path is not None and path.exists() for path in kept)
    assert not first.exists() and not second.exists()  # moved into baselines/
    assert store.settle_full_sync(TARGET, 3, completed=True)
    syncs = store.full_syncs(TARGET)
    assert syncs == FullSyncs(completed=syncs.completed, pending=())
    assert syncs.completed is not None and syncs.completed.ingestion_id == 3
    assert kept[0] is not None and not kept[0].exists()  # accepted before 3: superseded
    assert not store.settle_full_sync(TARGET, 2, completed=True)  # no longer pending
    assert store.full_syncs(OTHER_KEY) == FullSyncs()


def test_a_failed_pending_full_sync_is_dropped(store: StateStore) -> None:
    record_full_sync(store, TARGET, products=100, variants=300, ingestion_id=1)
    store.remember_pending(TARGET, FullSync(products=500, variants=900, ingestion_id=2))
    assert store.full_syncs(TARGET).reference.ingestion_id == 2  # type: ignore[union-attr]
    assert store.settle_full_sync(TARGET, 2, completed=False)
    syncs = store.full_syncs(TARGET)
    assert syncs.pending == ()
    assert syncs.completed is not None and syncs.completed.ingestion_id == 1


def test_the_sync_lock_is_shared_by_inserts_and_exclusive_for_a_full_sync(
    store: StateStore,
) -> None:
    from psykhe_cli.errors import GuardRefused

    with store.sync_lock(TARGET, exclusive=False), store.sync_lock(TARGET, exclusive=False):
        with pytest.raises(GuardRefused, match=f"pid {os.getpid()}, started 20"):
            store.sync_lock(TARGET, exclusive=True).__enter__()
        with pytest.raises(GuardRefused, match=r"^an insert push to"):
            store.sync_lock(TARGET, exclusive=True).__enter__()
        with store.sync_lock(OTHER_URL, exclusive=True):
            pass  # another target: another lock
    with (
        store.sync_lock(TARGET, exclusive=True),
        pytest.raises(GuardRefused, match="a soft_replace push to"),
    ):
        store.sync_lock(TARGET, exclusive=False, wait=0.1).__enter__()


def test_products_files_left_by_a_killed_push_are_removed_live_ones_kept(
    store: StateStore,
) -> None:
    import subprocess
    import sys

    mine = store.new_baseline_file()
    os.utime(mine, (0, 0))  # however old: this process holds it
    made_by_a_dead_process = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from psykhe_cli.state import StateStore; "
            "print(StateStore(sys.argv[1]).new_baseline_file())",
            str(store.state_dir),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    folder = store.state_dir / "baselines"
    old, recent = folder / ".new-old.tmp", folder / ".new-recent.tmp"  # an earlier version's
    old.touch()
    recent.touch()
    os.utime(old, (0, 0))
    fresh = store.new_baseline_file()
    assert not Path(made_by_a_dead_process).exists() and not old.exists()
    assert mine.exists() and recent.exists() and fresh.exists()


def test_a_temp_file_a_killed_writer_left_is_removed_by_the_next_write(store: StateStore) -> None:
    import subprocess
    import sys

    store.save_push(_record())
    killed = (  # a writer that dies between its temp file and the rename
        "import os, sys; from pathlib import Path; from psykhe_cli.leftovers import claim; "
        "print(claim(Path(sys.argv[1]), '.history.jsonl.', '.tmp')[0]); os._exit(9)"
    )
    left = subprocess.run(
        [sys.executable, "-c", killed, str(store.state_dir)], capture_output=True, text=True
    ).stdout.strip()
    assert Path(left).exists()
    store.save_push(_record())
    assert not Path(left).exists()
    assert sorted(p.name for p in store.state_dir.iterdir()) == [".lock", "history.jsonl"]


def test_a_possibly_applied_full_sync_stays_until_a_later_one_completes(
    store: StateStore,
) -> None:
    record_full_sync(store, TARGET, products=67, variants=201, ingestion_id=1)
    store.remember_pending(TARGET, FullSync(products=60, variants=180, ingestion_id=2))
    kept = store.new_baseline_file()
    lost = store.remember_possibly_applied(TARGET, FullSync(products=1000, variants=3000), kept)
    assert lost.ingestion_id is None and lost.products_file is not None
    syncs = store.full_syncs(TARGET)
    assert syncs.possibly_applied == (lost,)
    assert syncs.reference == lost
    # the pending one was accepted before it: completing says nothing of what came after
    assert store.settle_full_sync(TARGET, 2, completed=True)
    assert store.full_syncs(TARGET).possibly_applied == (lost,)
    path = store.baseline_path(lost)
    assert path is not None and path.exists()
    store.remember_pending(TARGET, FullSync(products=50, variants=150, ingestion_id=3))
    assert store.settle_full_sync(TARGET, 3, completed=False)  # FAILED: nothing changes
    assert store.full_syncs(TARGET).possibly_applied == (lost,)
    store.remember_pending(TARGET, FullSync(products=50, variants=150, ingestion_id=4))
    assert store.settle_full_sync(TARGET, 4, completed=True)
    syncs = store.full_syncs(TARGET)
    assert syncs.possibly_applied == ()
    assert syncs.completed is not None and syncs.completed.ingestion_id == 4
    assert not path.exists()


def test_a_possibly_applied_sync_naming_a_file_outside_baselines_is_damage(
    store: StateStore,
) -> None:
    store.remember_possibly_applied(TARGET, FullSync(products=5, variants=5))
    path = store.state_dir / "full-syncs.json"
    document = json.loads(path.read_text())
    (entry,) = document["targets"].values()
    entry["possibly_applied"][0]["products_file"] = "../../elsewhere"
    path.write_text(json.dumps(document))
    with pytest.raises(ConfigError, match=r"full-syncs\.json is damaged"):
        store.full_syncs(TARGET)
