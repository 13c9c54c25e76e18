"""``kept.py``: the store of kept full-sync bodies — pending, settled, pruned, verified."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from psykhe_cli.errors import ConfigError, InputError, UsageError
from psykhe_cli.kept import INDEX_FILE, KeptBodies, KeptFacts
from psykhe_cli.spool import Spool
from psykhe_cli.target import Target

TARGET = Target(base_url="https://api.example", key_fingerprint="f00d")
OTHER = Target(base_url="https://api.example", key_fingerprint="beef")


def spooled(tmp_path: Path, ingestion_id: int) -> tuple[Path, KeptFacts]:
    """A body file as a spool leaves it, and its facts."""
    data = f"body {ingestion_id}".encode() * 10
    path = tmp_path / f"spool-{ingestion_id}.gz"
    path.write_bytes(data)
    facts = KeptFacts(
        ingestion_id=ingestion_id,
        products=ingestion_id,
        variants=2 * ingestion_id,
        lines=2 * ingestion_id,
        raw_bytes=100,
        sha256=hashlib.sha256(data).hexdigest(),
    )
    return path, facts


def keep(tmp_path: Path, store: KeptBodies, *ids: int) -> None:
    for ingestion_id in ids:
        store.keep_pending(*spooled(tmp_path, ingestion_id))


def completed_ids(store: KeptBodies) -> list[int]:
    return [body.ingestion_id for body in store.completed()]


def files(store: KeptBodies) -> list[str]:
    return sorted(p.name.rsplit("-", 1)[1] for p in store.folder.glob("*.jsonl.gz"))


def test_kept_pending_is_not_listed_until_it_completes(tmp_path: Path) -> None:
    store = KeptBodies(tmp_path / "state", TARGET)
    keep(tmp_path, store, 1)
    assert completed_ids(store) == []
    store.settle(1, completed=True, keep=2)
    assert completed_ids(store) == [1]


def test_kept_completed_drops_the_pending_before_it_and_prunes_beyond_keep(
    tmp_path: Path,
) -> None:
    store = KeptBodies(tmp_path / "state", TARGET)
    keep(tmp_path, store, 1)
    store.settle(1, completed=True, keep=2)
    keep(tmp_path, store, 2, 3, 4)  # 2 and 3 never heard of again

    store.settle(4, completed=True, keep=2)
    assert completed_ids(store) == [4, 1]
    assert files(store) == ["1.jsonl.gz", "4.jsonl.gz"]

    keep(tmp_path, store, 5)
    store.settle(5, completed=True, keep=2)
    assert completed_ids(store) == [5, 4]
    assert files(store) == ["4.jsonl.gz", "5.jsonl.gz"]


def test_kept_failed_is_deleted_and_the_others_stay(tmp_path: Path) -> None:
    store = KeptBodies(tmp_path / "state", TARGET)
    keep(tmp_path, store, 1)
    store.settle(1, completed=True, keep=2)
    keep(tmp_path, store, 2)
    store.settle(2, completed=False, keep=2)
    assert completed_ids(store) == [1]
    assert files(store) == ["1.jsonl.gz"]


def test_kept_settle_of_an_unknown_id_changes_nothing_but_keep(tmp_path: Path) -> None:
    store = KeptBodies(tmp_path / "state", TARGET)
    store.settle(9, completed=True, keep=2)
    assert not store.folder.exists()  # nothing kept: no directory made
    keep(tmp_path, store, 1, 2)
    store.settle(1, completed=True, keep=2)
    store.settle(2, completed=True, keep=2)
    store.settle(9, completed=True, keep=1)  # keep_full_syncs lowered since
    assert completed_ids(store) == [2]


def test_kept_targets_are_apart(tmp_path: Path) -> None:
    mine, theirs = KeptBodies(tmp_path / "s", TARGET), KeptBodies(tmp_path / "s", OTHER)
    keep(tmp_path, mine, 1)
    mine.settle(1, completed=True, keep=2)
    assert completed_ids(theirs) == []
    with pytest.raises(UsageError, match=r"no full sync 1 is kept for https://api.example"):
        theirs.find(1)
    theirs.settle(1, completed=False, keep=0)
    assert completed_ids(mine) == [1]


def test_kept_body_is_held_by_a_spool_link_and_verified_by_size_and_sha256(
    tmp_path: Path,
) -> None:
    store = KeptBodies(tmp_path / "state", TARGET)
    keep(tmp_path, store, 1, 2)
    store.settle(1, completed=True, keep=2)
    store.settle(2, completed=True, keep=2)
    kept = store.find(1)
    (tmp_path / "tmp").mkdir()
    with Spool(directory=str(tmp_path / "tmp")) as spool:
        held = kept.held(spool.adopt)
        assert held.path.parent == spool.directory
        assert held.path.stat().st_ino == kept.path.stat().st_ino  # linked, not copied
        assert held.part().size == kept.body.size == kept.path.stat().st_size
        assert oct(kept.path.stat().st_mode & 0o777) == oct(0o600)
        store.settle(3, completed=True, keep=1)  # 1 pruned while it is being sent
        assert not kept.path.exists()
        assert held.path.read_bytes() == b"body 1" * 10

        other = store.find(2)
        other.path.write_bytes(other.path.read_bytes()[:-1] + b"!")
        with pytest.raises(InputError, match="its SHA-256 is not the one it was kept with"):
            other.held(spool.adopt)
        other.path.write_bytes(b"short")
        with pytest.raises(InputError, match="5 bytes where 60 were kept; nothing was sent"):
            other.held(spool.adopt)
        with pytest.raises(InputError, match=r"full sync 1 \(.*\) is damaged: No such file"):
            kept.held(spool.adopt)


def test_a_damaged_index_is_a_config_error_naming_it(tmp_path: Path) -> None:
    store = KeptBodies(tmp_path / "state", TARGET)
    keep(tmp_path, store, 1)
    (store.folder / INDEX_FILE).write_text('{"version": 1, "targets": {"x": [{"file": 3}]}}')
    with pytest.raises(ConfigError, match=r"the state file .*index.json is damaged"):
        store.completed()
