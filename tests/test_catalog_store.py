"""The catalog memory on disk (``psykhe_cli/catalog/store.py``): what is trusted, and how a
pending update settles."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from psykhe_cli.catalog import Memory, Sieve, Tally
from psykhe_cli.catalog.store import CatalogStore
from psykhe_cli.target import Target
from tests.helpers import product

TARGET = Target(base_url="http://127.0.0.1:9", key_fingerprint="abc")


def records(prices: dict[str, float]) -> list[bytes]:
    return [
        orjson.dumps({"operation": "insert", "product_data": product(pid, price=price)}) + b"\n"
        for pid, price in prices.items()
    ]


def compared(memory: Memory | None, prices: dict[str, float]) -> Tally:
    sieve, tally = Sieve(memory, only_changed=True), Tally(memory, TARGET.name)
    tally.add(sieve(records(prices))[1])
    sieve.close()
    return tally


def settled(store: CatalogStore, tally: Tally, ingestion_id: int, *, completed: bool) -> None:
    update = store.begin(tally.update(), replace=tally.memory is None, whole=True)
    store.accepted(update, ingestion_id)
    store.complete(update)
    store.settle(ingestion_id, completed=completed)


def test_a_completed_update_is_trusted_and_a_failed_one_changes_nothing(tmp_path: Path) -> None:
    store = CatalogStore(tmp_path, TARGET)
    assert store.load(7).reason == "no catalog memory for this target yet"
    settled(store, compared(None, {"A": 1, "B": 2}), 1, completed=True)
    memory = store.load(7).memory
    assert memory is not None and len(memory) == 2 and memory.ingestion_id == 1
    assert oct(os.stat(store.path).st_mode & 0o777) == "0o600"
    settled(store, compared(memory, {"A": 5}), 2, completed=False)
    assert compared(store.load(7).memory, {"A": 5}).changes(sent=1).changed == 1


def test_an_unsettled_update_is_not_trusted_and_an_abandoned_one_is_forgotten(
    tmp_path: Path,
) -> None:
    store = CatalogStore(tmp_path, TARGET)
    settled(store, compared(None, {"A": 1, "B": 2}), 1, completed=True)
    update = store.begin(
        compared(store.load(7).memory, {"A": 5}).update(), replace=False, whole=False
    )
    store.accepted(update, 2)
    store.complete(update)
    assert store.unsettled() == [2]
    assert len(store.load(7).memory or []) == 1  # A is not trusted until 2 is known
    store.abandon(update)
    assert len(store.load(7).memory or []) == 1 and store.unsettled() == []


def test_a_memory_of_another_target_or_damaged_is_not_trusted(tmp_path: Path) -> None:
    store = CatalogStore(tmp_path, TARGET)
    settled(store, compared(None, {"A": 1}), 1, completed=True)
    other = Target(base_url="http://127.0.0.1:9", key_fingerprint="xyz")
    os.replace(store.path, CatalogStore(tmp_path, other).path)
    assert CatalogStore(tmp_path, other).load(7).reason.endswith("is another target's")
    CatalogStore(tmp_path, other).path.write_bytes(b"PSYKHE-CATALOG 2\n{}\n" + bytes(80))
    assert "cannot be used (its digest does not match)" in (
        CatalogStore(tmp_path, other).load(7).reason or ""
    )


def test_the_update_of_a_killed_push_is_forgotten_by_the_next(tmp_path: Path) -> None:
    store = CatalogStore(tmp_path, TARGET)
    settled(store, compared(None, {"A": 1, "B": 2}), 1, completed=True)
    script = f"""
import sys
sys.path.insert(0, {str(Path.cwd())!r})
from tests.test_catalog_store import TARGET, compared
from psykhe_cli.catalog.store import CatalogStore
store = CatalogStore({str(tmp_path)!r}, TARGET)
store.begin(compared(store.load(7).memory, {{"B": 9}}).update(), replace=False, whole=False)
"""
    subprocess.run([sys.executable, "-c", script], check=True)  # ends without completing it
    assert len(store.load(7).memory or []) == 1
    store.sweep()
    memory = store.load(7).memory
    assert memory is not None and len(memory) == 1  # B forgotten: it is sent again
    assert not list((tmp_path / "catalog").glob("*.pending*"))
