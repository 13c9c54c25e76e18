"""Local memory in the state directory: the history of pushes and the drop guard's last counts.

    $XDG_STATE_HOME/psykhe/          mode 0700
      history.jsonl                  one PushRecord a line, oldest first (``psykhe status --last``)
      full-syncs.json                per target: the last completed soft_replace (the baseline),
                                     those accepted whose outcome is not known yet (pending), and
                                     those sent whole and never answered (possibly applied)
      baselines/                     the product identifiers of each of those (``plan.py``)
      locks/                         one lock file per target: one full sync at a time
      kept/                          the bodies of the last completed full syncs (``kept.py``)

A *target* (``target.py``) is the canonical base URL plus the named profile, or without one
the key's fingerprint (``config.key_fingerprint``), never the key. An entry an earlier version
keyed by another spelling of the URL is found under the canonical one; under a profile, one
keyed by the key is found too. Every file is read by ``statefiles.py``: a regular file of
bounded size, ``full-syncs.json`` validated whole. Every write replaces its file atomically
(temp file, fsync, rename; mode 0600) under an advisory lock, so two pushes from cron cannot
tear or interleave a file. Write methods raise ``OSError`` when the directory cannot be
written: after a successful upload the caller should warn, not fail. A damaged history line is
skipped (counted in ``skipped_lines``, for a warning); a damaged or inconsistent
``full-syncs.json`` is a ``ConfigError`` (the drop guard must not silently forget), and so is a
state file that is not a regular file, too large, or cannot be read, naming its path.

A soft_replace is remembered as *pending* the moment the server accepts it; whoever learns its
outcome (``settle_full_sync``) promotes it to the baseline on COMPLETED, dropping the pending
ones accepted before it, or drops it on FAILED. One sent whole whose answer never came is
remembered as *possibly applied* (no ingestion id) until a full sync remembered after it
completes. This module stores; ``push/history.py`` decides what is remembered and when.
``sync_lock`` is the per-target OS lock (``locks.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from psykhe_cli.config import Settings
from psykhe_cli.full_syncs import FullSync, FullSyncs, utc_now
from psykhe_cli.leftovers import claim, sweep_files
from psykhe_cli.locks import sync_lock
from psykhe_cli.statefiles import (
    HISTORY_TAIL,
    full_syncs_document,
    read_state_file,
    sync_entry,
)
from psykhe_cli.statewrite import ensure_private_dir, locked, replace_file
from psykhe_cli.target import Target as Target  # re-exported: callers import it from here

HISTORY_FILE = "history.jsonl"
FULL_SYNCS_FILE = "full-syncs.json"
LOCK_FILE = ".lock"
BASELINES_DIR = "baselines"
LOCKS_DIR = "locks"
#: the locks on the products files this process made, held until it ends (``leftovers.py``)
_HELD: list[int] = []
#: the history keeps this many pushes, dropping the oldest
MAX_HISTORY = 1000


@dataclass(frozen=True, kw_only=True)
class PushRecord:
    """One push as the history remembers it; save again (same ``push_id``) to update it."""

    push_id: str = field(default_factory=lambda: secrets.token_hex(8))
    #: when the push started, ISO-8601 UTC
    time: str = field(default_factory=utc_now)
    base_url: str
    key_fingerprint: str
    mode: str
    ingestion_ids: tuple[int, ...] = ()
    lines: int = 0
    products: int = 0
    variants: int = 0
    bytes_sent: int = 0
    #: SHA-256 of the gzip body sent (the same feed and level always give the same body)
    feed_sha256: str | None = None
    #: final status name (completed, failed, …) or an error code; None while running
    status: str | None = None
    exit_code: int | None = None

    @classmethod
    def start(cls, target: Target, *, mode: str, **values: Any) -> PushRecord:
        """A new record for a push to ``target``; ``values`` fill the other fields."""
        return cls(
            base_url=target.base_url, key_fingerprint=target.key_fingerprint, mode=mode, **values
        )

    @property
    def target(self) -> Target:
        """The target this push went to."""
        return Target(base_url=self.base_url, key_fingerprint=self.key_fingerprint)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``ingestion_ids`` as a list)."""
        data = asdict(self)
        data["ingestion_ids"] = list(self.ingestion_ids)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PushRecord:
        """Read a stored record; unknown keys are ignored. ``ValueError`` if it is unusable."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        ids = values.get("ingestion_ids", [])
        if not isinstance(ids, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in ids
        ):
            raise ValueError("ingestion_ids must be a list of integers")
        values["ingestion_ids"] = tuple(ids)
        for name in ("push_id", "time", "base_url", "key_fingerprint", "mode"):
            if not isinstance(values.get(name), str):
                raise ValueError(f"{name} must be a string")
        for name in ("lines", "products", "variants", "bytes_sent", "exit_code"):
            value = values.get(name, 0)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise ValueError(f"{name} must be an integer")
        for name in ("feed_sha256", "status"):
            if not isinstance(values.get(name), str | None):
                raise ValueError(f"{name} must be a string")
        try:
            return cls(**values)
        except TypeError as exc:
            raise ValueError(str(exc)) from None


class StateStore:
    """The state directory; created (mode 0700) on the first write."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        #: the numbers of the damaged history lines the last read skipped
        self.skipped_lines: list[int] = []

    @classmethod
    def of(cls, settings: Settings) -> StateStore:
        """The store in ``settings.state_dir``."""
        return cls(settings.state_dir)

    # --- history ------------------------------------------------------------------------------

    def save_push(self, record: PushRecord) -> None:
        """Add ``record`` to the history, or replace the saved one with the same ``push_id``."""
        with self._locked():
            records = [r for r in self._read_history() if r.push_id != record.push_id]
            records.append(record)
            lines = [json.dumps(r.to_json(), sort_keys=True) + "\n" for r in records]
            self._write(HISTORY_FILE, "".join(lines[-MAX_HISTORY:]))

    def pushes(self, target: Target | None = None) -> list[PushRecord]:
        """Saved pushes, oldest first; only those to ``target`` when given."""
        records = self._read_history()
        if target is None:
            return records
        return [r for r in records if r.target == target]

    def last_push(self, target: Target | None = None) -> PushRecord | None:
        """The most recently started push (to ``target`` when given), or None."""
        records = self.pushes(target)
        return records[-1] if records else None

    # --- the drop guard's memory --------------------------------------------------------------

    def full_syncs(self, target: Target) -> FullSyncs:
        """The completed, pending and possibly applied soft_replaces remembered for ``target``."""
        return self._syncs_of(self._entry(self._read_full_syncs(), target))

    def remember_pending(
        self, target: Target, sync: FullSync, products_file: Path | None = None
    ) -> FullSync:
        """Remember a soft_replace the server has just accepted; its outcome is not known.

        ``products_file`` (from ``new_baseline_file``) is moved into ``baselines/``.
        """

        def add(old: FullSyncs, sync: FullSync) -> FullSyncs:
            pending = tuple(p for p in old.pending if p.ingestion_id != sync.ingestion_id)
            return replace(old, pending=(*pending, sync))

        return self._remember(target, sync, products_file, add)

    def remember_possibly_applied(
        self, target: Target, sync: FullSync, products_file: Path | None = None
    ) -> FullSync:
        """Remember a soft_replace sent whole whose answer never came: it may be applied.

        ``products_file`` (from ``new_baseline_file``) is moved into ``baselines/``.
        """

        def add(old: FullSyncs, sync: FullSync) -> FullSyncs:
            return replace(old, possibly_applied=(*old.possibly_applied, sync))

        return self._remember(target, sync, products_file, add)

    def _remember(
        self,
        target: Target,
        sync: FullSync,
        products_file: Path | None,
        add: Callable[[FullSyncs, FullSync], FullSyncs],
    ) -> FullSync:
        """Number ``sync``, keep its products file, and ``add`` it to ``target``'s syncs."""
        with self._locked():
            syncs = self._read_full_syncs()
            old = self._syncs_of(self._entry(syncs, target))
            sync = self._kept(target, sync, old.next_sequence, products_file)
            self._save_syncs(syncs, target, add(old, sync))
        return sync

    def _kept(
        self, target: Target, sync: FullSync, sequence: int, products_file: Path | None
    ) -> FullSync:
        """``sync`` numbered ``sequence``, its products file moved into ``baselines/``."""
        name = None
        if products_file is not None:
            name = f"{target.slug}-{sync.ingestion_id or f's{sequence}'}.products"
            os.replace(products_file, self._baselines() / name)
        return replace(sync, sequence=sequence, products_file=name or sync.products_file)

    def settle_full_sync(self, target: Target, ingestion_id: int, *, completed: bool) -> bool:
        """A pending soft_replace ended: COMPLETED makes it the baseline (and drops the
        pending and possibly applied ones remembered before it), FAILED drops it. False when
        it was not pending."""
        with self._locked():
            syncs = self._read_full_syncs()
            old = self._syncs_of(self._entry(syncs, target))
            ids = [p.ingestion_id for p in old.pending]
            if ingestion_id not in ids:
                return False
            at = ids.index(ingestion_id)
            done = old.pending[at]
            if completed:
                before = [s for s in old.possibly_applied if s.sequence < done.sequence]
                new = FullSyncs(
                    completed=done,
                    pending=old.pending[at + 1 :],
                    possibly_applied=tuple(s for s in old.possibly_applied if s not in before),
                )
                gone = [old.completed, *old.pending[:at], *before]
            else:
                new = FullSyncs(
                    completed=old.completed,
                    pending=old.pending[:at] + old.pending[at + 1 :],
                    possibly_applied=old.possibly_applied,
                )
                gone = [done]
            self._save_syncs(syncs, target, new)
        for sync in gone:
            self._forget_files(sync)
        return True

    def baseline_path(self, sync: FullSync) -> Path | None:
        """The products file of ``sync``, when it has one."""
        if sync.products_file is None:
            return None
        return self.state_dir / BASELINES_DIR / Path(sync.products_file).name

    def new_baseline_file(self) -> Path:
        """A new empty file beside the baselines, for ``remember_pending`` to move in.

        It stays locked while this process lives; those a killed push left behind (no longer
        locked) are removed first (``leftovers.py``).
        """
        folder = self._baselines()
        sweep_files(folder, ".held-", ".tmp", legacy=".new-")
        path, fd = claim(folder, ".held-", ".tmp")
        _HELD.append(fd)  # released when the process ends: the file is needed until then
        return path

    # --- one sync at a time -------------------------------------------------------------------

    @contextlib.contextmanager
    def sync_lock(self, target: Target, *, exclusive: bool, wait: float = 0.0) -> Iterator[None]:
        """Hold ``target``'s sync lock (``locks.sync_lock``); ``GuardRefused`` naming the
        holder if it is taken (after waiting up to ``wait`` seconds)."""
        self._ensure_dir()
        folder = self.state_dir / LOCKS_DIR
        folder.mkdir(mode=0o700, exist_ok=True)
        path = folder / f"{target.slug}.lock"
        with sync_lock(path, base_url=target.base_url, exclusive=exclusive, wait=wait):
            yield

    # --- files --------------------------------------------------------------------------------

    def _read_history(self) -> list[PushRecord]:
        data = read_state_file(self.state_dir / HISTORY_FILE, HISTORY_TAIL, tail=True)
        records, self.skipped_lines = [], []
        for number, line in enumerate((data or b"").decode("utf-8", "replace").splitlines(), 1):
            try:
                parsed = json.loads(line)
                if not isinstance(parsed, dict):
                    raise ValueError("not an object")
                records.append(PushRecord.from_json(parsed))
            except (ValueError, RecursionError):  # nested deeper than the parser goes
                self.skipped_lines.append(number)  # one damaged line must not hide the others
        return records

    def _read_full_syncs(self) -> dict[str, dict[str, Any]]:
        """Every target's entry, under its canonical name, once the whole file is checked."""
        return full_syncs_document(self.state_dir / FULL_SYNCS_FILE)

    @staticmethod
    def _entry(syncs: dict[str, dict[str, Any]], target: Target) -> dict[str, Any] | None:
        """``target``'s entry; for a profile, what an earlier version kept under its key."""
        return syncs.get(target.name) or syncs.get(target.key_name)

    def _syncs_of(self, entry: dict[str, Any] | None) -> FullSyncs:
        if entry is None:
            return FullSyncs()
        completed, pending, possibly_applied = sync_entry(entry)
        return FullSyncs(
            completed=self._full_sync_from(completed) if completed is not None else None,
            pending=tuple(map(self._full_sync_from, pending)),
            possibly_applied=tuple(map(self._full_sync_from, possibly_applied)),
        )

    def _save_syncs(
        self, syncs: dict[str, dict[str, Any]], target: Target, value: FullSyncs
    ) -> None:
        entry: dict[str, Any] = {
            "base_url": target.base_url,
            "key_fingerprint": target.key_fingerprint,
        }
        if value.completed is not None:
            entry |= asdict(value.completed)
        if value.pending:
            entry["pending"] = [asdict(p) for p in value.pending]
        if value.possibly_applied:
            entry["possibly_applied"] = [asdict(p) for p in value.possibly_applied]
        syncs[target.name] = entry
        text = json.dumps({"version": 2, "targets": syncs}, indent=2, sort_keys=True)
        self._write(FULL_SYNCS_FILE, text + "\n")

    def _forget_files(self, sync: FullSync | None) -> None:
        path = self.baseline_path(sync) if sync is not None else None
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()

    def _baselines(self) -> Path:
        self._ensure_dir()
        folder = self.state_dir / BASELINES_DIR
        folder.mkdir(mode=0o700, exist_ok=True)
        return folder

    @staticmethod
    def _full_sync_from(fields: dict[str, Any]) -> FullSync:
        return FullSync(**fields)

    def _ensure_dir(self) -> None:
        ensure_private_dir(self.state_dir)

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return locked(self.state_dir / LOCK_FILE)

    def _write(self, name: str, text: str) -> None:
        replace_file(self.state_dir / name, text)
