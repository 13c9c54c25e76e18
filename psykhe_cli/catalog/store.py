"""A target's catalog memory on disk: the confirmed memory and the pending updates.

    $XDG_STATE_HOME/psykhe/catalog/           mode 0700
      <slug>.memory                           the confirmed memory (``memory.py``'s format)
      <slug>.<n>.pending                      an update sent, its outcome not settled yet
      <slug>.<n>.pending.json                 its state: ingestion ids, outcomes, kind
      .touched-….spill                        what a running push's update is made of

An update is written before its push's first byte (``begin``), told each ingestion id the
server accepts (``accepted``) and marked whole once every request was (``complete``). Whoever
learns an outcome settles it (``settle``): once every id has ended, all COMPLETED promote it
(a *replace* update becomes the memory, a *merge* update is merged into it), all FAILED drop
it, anything else forgets its records. A push that ends without knowing (exit 8, an
interruption) forgets them at once (``abandon``). Until then ``load`` leaves the update's
records out of what it trusts — they are sent again — and so it does for an update its push
left unfinished (killed: its lock is free), which the next push forgets for good.

Every file is read bounded and checked whole (``memory.decode``, msgspec for the state), and
written atomically (temp file, fsync, rename, 0600) under ``catalog/.lock``. Nothing here
raises for a memory it cannot use: ``load`` says why it trusts none.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from hashlib import blake2b
from pathlib import Path
from typing import Any

import msgspec

from psykhe_cli.catalog.memory import Encoded, Memory, MemoryDamaged, decode
from psykhe_cli.catalog.spill import PREFIX as SPILL_PREFIX
from psykhe_cli.catalog.spill import SUFFIX as SPILL_SUFFIX
from psykhe_cli.errors import ConfigError
from psykhe_cli.full_syncs import utc_now
from psykhe_cli.leftovers import claim, sweep_files, try_lock
from psykhe_cli.locks import lock_exclusively
from psykhe_cli.statefiles import open_state_file, read_state_file
from psykhe_cli.target import Target

CATALOG_DIR = "catalog"
#: 32 bytes a record: 20,000,000 variants
MEMORY_LIMIT = 640 * 1024 * 1024
_STATE_LIMIT = 64 * 1024
#: a memory file's magic line, header and digest take more than this
_SMALLEST = 64


class _PendingState(msgspec.Struct):
    target: str
    sequence: int
    replace: bool
    whole: bool
    created: str
    ingestion_ids: list[int] = []
    #: ingestion id (as text) → "completed" or "failed"
    outcomes: dict[str, str] = {}
    complete: bool = False


@dataclass(frozen=True)
class Trusted:
    """What ``load`` found: the memory to compare with (None: send everything), and why
    none is trusted (None when one is)."""

    memory: Memory | None
    reason: str | None


class CatalogStore:
    """The catalog memory of one target in the state directory."""

    def __init__(self, state_dir: Path, target: Target) -> None:
        self.folder = Path(state_dir) / CATALOG_DIR
        self.target = target
        self._slug = target.slug
        #: the descriptors holding this process's pending updates locked (``begin``)
        self._held: dict[int, int] = {}

    @property
    def path(self) -> Path:
        """The confirmed memory's file."""
        return self.folder / f"{self._slug}.memory"

    # -- reading ---------------------------------------------------------------------------
    def load(self, max_age_days: float) -> Trusted:
        """The memory to compare with: the confirmed one less the records of every update
        whose outcome is not settled; None, with the reason, when none can be trusted."""
        try:
            confirmed = self._confirmed()
        except (MemoryDamaged, ConfigError, OSError) as exc:
            return Trusted(None, f"the catalog memory {self.path} cannot be used ({_why(exc)})")
        if confirmed is None:
            return Trusted(None, "no catalog memory for this target yet")
        if confirmed.target != self.target.name:
            return Trusted(None, f"the catalog memory {self.path} is another target's")
        age = _age_days(confirmed.refreshed_at)
        if age is None or age > max_age_days:
            return Trusted(
                None,
                f"the catalog memory was last refreshed by a whole feed {_ago(age)}, more "
                f"than --baseline-max-age {max_age_days:g} days",
            )
        for sequence, state in self._states():
            if not _settled(state):
                confirmed = confirmed.without(self._pending_keys(sequence))
        return Trusted(confirmed, None)

    def unsettled(self) -> list[int]:
        """The ingestion ids of complete updates whose outcome is not known yet."""
        ids: list[int] = []
        for _, state in self._states():
            if state.complete:
                ids += [i for i in state.ingestion_ids if str(i) not in state.outcomes]
        return ids

    def _confirmed(self) -> Memory | None:
        return _read_memory(self.path)

    def _states(self) -> list[tuple[int, _PendingState]]:
        """Every pending update of this target (a damaged state file: forgotten)."""
        found = []
        for path in sorted(self.folder.glob(f"{self._slug}.*.pending.json")):
            sequence = int(path.name.split(".")[1]) if path.name.split(".")[1].isdigit() else -1
            try:
                data = read_state_file(path, _STATE_LIMIT)
                state = msgspec.json.decode(data or b"", type=_PendingState)
            except (ConfigError, msgspec.DecodeError, msgspec.ValidationError):
                state = None
            if state is None or sequence < 0 or state.target != self.target.name:
                continue
            found.append((sequence, state))
        return found

    def _pending_keys(self, sequence: int) -> Any:
        try:
            memory = _read_memory(self._pending_path(sequence))
        except (MemoryDamaged, ConfigError, OSError):
            memory = None
        if memory is None:  # its records cannot be told: trust none of this target's
            return self._confirmed_keys()
        return memory.keys

    def _confirmed_keys(self) -> Any:
        confirmed = self._confirmed()
        return confirmed.keys if confirmed is not None else []

    # -- a push's update -------------------------------------------------------------------
    def begin(self, update: Memory | Encoded, *, replace: bool, whole: bool) -> int:
        """Before the first byte: keep ``update`` (a *replace* one becomes the memory, else
        it is merged in); its number. Held locked while this process lives."""
        with self._locked():
            sequence = time.time_ns()
            state = _PendingState(
                target=self.target.name,
                sequence=sequence,
                replace=replace,
                whole=whole,
                created=utc_now(),
            )
            self._write(self._pending_path(sequence).name, update.encode())
            # locked before the state names it: a sweep never takes a live push's update
            fd = os.open(self._pending_path(sequence), os.O_RDONLY)
            try_lock(fd)
            self._held[sequence] = fd
            self._save_state(sequence, state)
        return sequence

    def accepted(self, sequence: int, ingestion_id: int) -> None:
        """The server accepted one request of update ``sequence``."""
        self._change(
            sequence,
            lambda s: msgspec.structs.replace(s, ingestion_ids=[*s.ingestion_ids, ingestion_id]),
        )

    def complete(self, sequence: int) -> None:
        """Every request of update ``sequence`` was accepted: its outcomes decide."""
        self._change(sequence, lambda s: msgspec.structs.replace(s, complete=True))
        self._release(sequence)

    def abandon(self, sequence: int) -> None:
        """Update ``sequence`` may or may not have been applied: forget its records now."""
        with self._locked():
            self._forget(sequence)
        self._release(sequence)

    def settle(self, ingestion_id: int, *, completed: bool) -> None:
        """Ingestion ``ingestion_id`` ended: settle the update it belongs to, once all of
        that update's ingestions have ended."""
        with self._locked():
            for sequence, state in self._states():
                if not state.complete or ingestion_id not in state.ingestion_ids:
                    continue
                outcome = "completed" if completed else "failed"
                state = msgspec.structs.replace(
                    state, outcomes={**state.outcomes, str(ingestion_id): outcome}
                )
                if not _settled(state):
                    self._save_state(sequence, state)
                elif set(state.outcomes.values()) == {"completed"}:
                    self._promote(sequence, state)
                elif set(state.outcomes.values()) == {"failed"}:
                    self._remove(sequence)
                else:
                    self._forget(sequence)

    def scratch(self) -> Path:
        """The folder where a push spills what its update is made of (``catalog.spill``)."""
        self._ensure()
        return self.folder

    def sweep(self) -> None:
        """Forget the updates whose push ended unfinished (killed): no process holds them;
        remove the spill files such a push left."""
        sweep_files(self.folder, SPILL_PREFIX, SPILL_SUFFIX)
        with self._locked():
            for sequence, state in self._states():
                if not state.complete and sequence not in self._held and self._free(sequence):
                    self._forget(sequence)

    # -- settling --------------------------------------------------------------------------
    def _promote(self, sequence: int, state: _PendingState) -> None:
        update = _read_memory(self._pending_path(sequence))
        confirmed = self._usable_confirmed()
        if update is None:
            return self._forget(sequence)
        if confirmed is not None and confirmed.sequence > sequence:
            return self._forget(sequence)  # a later update is in already: this one is older
        base = Memory.empty(self.target.name) if confirmed is None else confirmed
        refreshed = utc_now() if state.whole else base.refreshed_at
        memory = replace(
            update if state.replace else base,
            target=self.target.name,
            ingestion_id=max(state.ingestion_ids) if state.ingestion_ids else None,
            at=utc_now(),
            refreshed_at=refreshed,
            sequence=sequence,
        )
        pieces = memory.encode() if state.replace else memory.merged_encoding(update)
        self._write(self.path.name, pieces)
        self._remove(sequence)

    def _forget(self, sequence: int) -> None:
        """Forget what update ``sequence`` sent: its records leave the confirmed memory (a
        full sync's, or one that cannot be read: the whole memory)."""
        confirmed = self._usable_confirmed()
        update = None
        with contextlib.suppress(MemoryDamaged, ConfigError):
            update = _read_memory(self._pending_path(sequence))
        state = dict(self._states()).get(sequence)
        if confirmed is not None:
            if update is None or (state is not None and state.replace):
                with contextlib.suppress(OSError):
                    self.path.unlink()
            else:
                self._write(self.path.name, confirmed.without(update.keys).encode())
        self._remove(sequence)

    def _usable_confirmed(self) -> Memory | None:
        try:
            confirmed = self._confirmed()
        except (MemoryDamaged, ConfigError, OSError):
            return None
        return confirmed if confirmed is not None and confirmed.target == self.target.name else None

    # -- files -----------------------------------------------------------------------------
    def _pending_path(self, sequence: int) -> Path:
        return self.folder / f"{self._slug}.{sequence}.pending"

    def _change(self, sequence: int, change: Callable[[_PendingState], _PendingState]) -> None:
        with self._locked():
            state = dict(self._states()).get(sequence)
            if state is not None:  # gone: another push forgot it (its records are resent)
                self._save_state(sequence, change(state))

    def _save_state(self, sequence: int, state: _PendingState) -> None:
        self._write(f"{self._pending_path(sequence).name}.json", [msgspec.json.encode(state)])

    def _remove(self, sequence: int) -> None:
        for suffix in (".json", ""):
            with contextlib.suppress(OSError):
                Path(f"{self._pending_path(sequence)}{suffix}").unlink()

    def _free(self, sequence: int) -> bool:
        try:
            fd = os.open(self._pending_path(sequence), os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return True
        try:
            return try_lock(fd)
        finally:
            os.close(fd)

    def _release(self, sequence: int) -> None:
        fd = self._held.pop(sequence, None)
        if fd is not None:
            os.close(fd)

    def _ensure(self) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.folder.stat().st_mode & 0o077:
            self.folder.chmod(0o700)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._ensure()
        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            lock_exclusively(fd)
            yield
        finally:
            os.close(fd)

    def _write(self, name: str, pieces: Iterable[bytes | memoryview]) -> None:
        # as state.py writes: a locked temp file (a killed writer's is swept), then renamed
        sweep_files(self.folder, f".{name}.", ".tmp")
        temp, fd = claim(self.folder, f".{name}.", ".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                for piece in pieces:
                    handle.write(piece)
                handle.flush()
                os.fsync(handle.fileno())
                os.chmod(temp, 0o600)
                os.replace(temp, self.folder / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise


def _read_memory(path: Path) -> Memory | None:
    """The memory in ``path``, None if there is none; ``MemoryDamaged`` or ``ConfigError``
    (not a regular file, too large, unreadable) if it cannot be used.

    The file is read once, in pieces, to check its digest, then mapped: only the pages a
    comparison touches count in this process's memory (and forked workers share them).
    Files are replaced by renaming, never written in place, so what was checked is mapped."""
    if not os.path.lexists(path):
        return None
    with open_state_file(path) as handle:
        fd = handle.fileno()
        size = os.fstat(fd).st_size
        if size > MEMORY_LIMIT:
            raise MemoryDamaged(f"larger than {MEMORY_LIMIT >> 20} MiB")
        if size < _SMALLEST:
            raise MemoryDamaged("not a catalog memory")
        digest = blake2b(digest_size=32)
        position = 0
        while position < size - 32:
            piece = os.pread(fd, min(1 << 20, size - 32 - position), position)
            if not piece:
                raise MemoryDamaged("it changed while it was read")
            digest.update(piece)
            position += len(piece)
        if digest.digest() != os.pread(fd, 32, size - 32):
            raise MemoryDamaged("its digest does not match")
        mapped = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
    return decode(mapped, digest_checked=True)


def _settled(state: _PendingState) -> bool:
    return state.complete and all(str(i) in state.outcomes for i in state.ingestion_ids)


def _age_days(when: str | None) -> float | None:
    if when is None:
        return None
    try:
        then = datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (datetime.now(timezone.utc) - then).total_seconds() / 86400


def _ago(days: float | None) -> str:
    if days is None:
        return "never"
    return f"{days:.1f} days ago"


def _why(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return exc.message if isinstance(exc, ConfigError) else str(exc)
