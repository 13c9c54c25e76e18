"""The touched records spilled to files (``psykhe_cli/catalog/spill.py``): the memory built
from them is the one built in memory, and what a killed push left is swept by the next."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from psykhe_cli.catalog import Memory, Sieve, Tally, spill
from psykhe_cli.catalog.spill import Touched
from psykhe_cli.catalog.store import CatalogStore
from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import FAST, catalog, psykhe, write_feed
from tests.test_catalog_store import TARGET, compared, records, settled


def _tally(memory: Memory | None, blocks: list[dict[str, float]], spill: Path | None) -> Tally:
    sieve, tally = Sieve(memory, only_changed=False), Tally(memory, TARGET.name, spill=spill)
    for prices in blocks:
        tally.add(sieve(records(prices))[1])
    sieve.close()
    return tally


def _spills(folder: Path) -> list[Path]:
    return sorted(folder.glob(".touched-*.spill"))


@pytest.mark.parametrize("chunk", [2, 3, 1 << 17])
def test_touched_spilled_builds_the_memory_built_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(spill, "_CHUNK", chunk)  # keys twice across a chunk's edge too
    # a key given twice (B): its last line decides, in either
    blocks = [{"C": 3, "B": 2, "A": 1}, {"E": 5, "B": 7}, {}, {"D": 4, "C": 8}]
    spilled, kept = _tally(None, blocks, tmp_path), _tally(None, blocks, None)
    assert len(_spills(tmp_path)) == 4
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in _spills(tmp_path))
    whole = b"".join(kept.update().encode())
    last_lines = _tally(None, [{"A": 1}, {"E": 5, "B": 7}, {"D": 4, "C": 8}], None)
    assert whole == b"".join(last_lines.update().encode())
    assert b"".join(spilled.encoded_update().encode()) == whole
    assert b"".join(spilled.update().encode()) == whole
    assert len(spilled.update()) == 5
    spilled.close()
    assert _spills(tmp_path) == []


def test_touched_replacement_encoded_is_the_replacement(tmp_path: Path) -> None:
    store = CatalogStore(tmp_path, TARGET)
    settled(store, compared(None, {"A": 1, "B": 2, "C": 3, "D": 4}), 1, completed=True)
    memory = store.load(7).memory
    tally = _tally(memory, [{"B": 9, "D": 4, "F": 6}], store.scratch())
    assert b"".join(tally.encoded_replacement().encode()) == b"".join(tally.replacement().encode())
    assert len(tally.replacement()) == 3  # A and C gone, F new
    tally.close()


def test_touched_nothing_touched_is_an_empty_memory(tmp_path: Path) -> None:
    touched = Touched(tmp_path)
    assert len(touched.memory(TARGET.name)) == 0
    assert b"".join(touched.encoding(TARGET.name)) == b"".join(Memory.empty(TARGET.name).encode())
    touched.close()


def test_touched_a_killed_pushs_spill_is_swept_never_a_live_ones(tmp_path: Path) -> None:
    store = CatalogStore(tmp_path, TARGET)
    script = f"""
import sys
sys.path.insert(0, {str(Path.cwd())!r})
from tests.test_catalog_spill import _tally
from psykhe_cli.catalog.store import CatalogStore
from tests.test_catalog_store import TARGET
tally = _tally(None, [{{"A": 1, "B": 2}}], CatalogStore({str(tmp_path)!r}, TARGET).scratch())
print("spilled", flush=True)
sys.stdin.read()
"""
    with subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as live:
        try:
            assert live.stdout is not None and live.stdout.readline() == "spilled\n"
            spilled = _spills(store.folder)
            assert len(spilled) == 4
            store.sweep()  # its owner lives: left alone
            assert _spills(store.folder) == spilled
            live.send_signal(signal.SIGKILL)
            assert live.wait(30) == -signal.SIGKILL
        finally:
            if live.poll() is None:
                live.kill()
                live.wait()
    assert _spills(store.folder) == spilled  # SIGKILL runs no cleanup
    store.sweep()
    assert _spills(store.folder) == []


def test_touched_a_full_disk_keeps_the_rest_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = [{"C": 3, "B": 2}, {"A": 1, "B": 7}, {"D": 4}]
    whole = b"".join(_tally(None, blocks, None).update().encode())
    written: list[int] = []
    write = spill._write_all

    def full_after_five(fd: int, data: memoryview) -> None:
        if len(written) == 5:  # the second block's keys written, then no room for the rest
            raise OSError(28, "No space left on device")
        written.append(fd)
        write(fd, data)

    monkeypatch.setattr(spill, "_write_all", full_after_five)
    tally = _tally(None, blocks, tmp_path)
    assert _spills(tmp_path) == []  # read back, let go
    assert b"".join(tally.encoded_update().encode()) == whole


def test_touched_a_push_leaves_no_spill_and_a_memory(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(30))
    out = psykhe("push", str(feed), "--mode", "soft_replace", "--yes", *FAST, env=env)
    assert out.returncode == 0, out.stderr
    folder = home / "state" / "psykhe" / "catalog"
    assert _spills(folder) == []
    (memory,) = folder.glob("*.memory")
    assert memory.stat().st_size > 30 * 40
