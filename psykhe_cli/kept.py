"""The bodies of a target's last completed full syncs, kept as they were sent (``restore``).

    $XDG_STATE_HOME/psykhe/kept/        mode 0700
      index.json                        per target: each kept body's ingestion id, date,
                                        counts, size and SHA-256; pending or completed
      <slug>-<ingestion id>.jsonl.gz    the gzip body, byte for byte as sent, mode 0600

A soft_replace's body is handed over the moment the server accepts it (``keep_pending``: a
hard link to the spool's file where both are on one file system, else a copy) and is
*pending* until its ingestion settles (``settle``): COMPLETED keeps it, drops the pending ones
accepted before it (their outcome is not known) and the completed ones beyond
``keep_full_syncs``; FAILED deletes it. ``push/history.py`` decides when; this module stores.

Every change happens under ``kept/.lock``; the index is replaced atomically (``statewrite``).
A body whose run was killed before its index entry was written is not listed, and the next
change removes it (``leftovers.sweep_unlisted``). A body is sent again from a spool's own link to
it (``KeptFile.held``), once its size and SHA-256 are what was recorded when it
was kept: a damaged body is never sent.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from psykhe_cli.errors import ConfigError, InputError, UsageError
from psykhe_cli.full_syncs import utc_now
from psykhe_cli.leftovers import sweep_unlisted
from psykhe_cli.spool import SpoolPart, link_or_copy
from psykhe_cli.statefiles import MiB, read_state_file
from psykhe_cli.statewrite import ensure_private_dir, locked, replace_file
from psykhe_cli.target import Target

KEPT_DIR = "kept"
INDEX_FILE = "index.json"
LOCK_FILE = ".lock"
#: a few hundred bytes per kept body
_INDEX_LIMIT = 4 * MiB
_CHUNK = MiB


class KeptFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What is known of an accepted full sync's body when it is handed over."""

    ingestion_id: int
    products: int
    variants: int
    #: its JSON Lines, uncompressed
    lines: int
    raw_bytes: int
    #: of the gzip body as sent
    sha256: str


class KeptBody(KeptFacts, frozen=True, kw_only=True):
    """One kept body: the full sync it was, and what its file must be."""

    #: when the server accepted it, ISO-8601 UTC
    time: str
    #: the gzip file: its name in ``kept/``, and its size
    file: str
    size: int
    #: False until its ingestion is seen COMPLETED
    completed: bool = False


@dataclass(frozen=True)
class KeptFile:
    """A kept body to send again: its file in ``kept/`` and what was kept of it."""

    path: Path
    body: KeptBody

    def held(self, adopt: Callable[[Path], Path]) -> KeptFile:
        """The body as ``adopt`` (a spool's) holds it for this run — a link where it can be,
        so what becomes of the kept file meanwhile cannot change what is sent — once its size
        and SHA-256 are what was kept; ``InputError`` (nothing sent) when it is gone, shorter,
        longer or altered."""
        try:
            path = adopt(self.path)
            size, sha256 = _measure(path)
        except FileNotFoundError as exc:
            raise self._damaged(exc.strerror or str(exc)) from None
        if size != self.body.size:
            raise self._damaged(f"{size:,} bytes where {self.body.size:,} were kept")
        if sha256 != self.body.sha256:
            raise self._damaged("its SHA-256 is not the one it was kept with")
        return KeptFile(path, self.body)

    def part(self) -> SpoolPart:
        """The file as the one part of a push: its bytes go as they are."""
        body = self.body
        return SpoolPart(self.path, lines=body.lines, raw_bytes=body.raw_bytes, size=body.size)

    def _damaged(self, why: str) -> InputError:
        return InputError(
            f"the kept body of full sync {self.body.ingestion_id} ({self.path}) is damaged: {why}",
            hint="restore another one (psykhe restore --list), or push the catalog again "
            "with --mode soft_replace",
            nothing_sent=True,
        )


def _measure(path: Path) -> tuple[int, str]:
    """The size and SHA-256 of the file at ``path``."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class _Index(msgspec.Struct, frozen=True):
    version: int
    targets: dict[str, list[KeptBody]]


class KeptBodies:
    """The kept bodies of one target."""

    def __init__(self, state_dir: Path, target: Target) -> None:
        self.folder = Path(state_dir) / KEPT_DIR
        self.target = target

    def path(self, body: KeptBody) -> Path:
        """Where ``body``'s file is."""
        return self.folder / Path(body.file).name

    def completed(self) -> list[KeptBody]:
        """The target's kept bodies whose ingestion completed, newest first."""
        bodies = self._read().targets.get(self.target.name, [])
        return [body for body in reversed(bodies) if body.completed]

    def find(self, ingestion_id: int) -> KeptFile:
        """The completed body of ``ingestion_id``; ``UsageError`` naming those kept."""
        bodies = self.completed()
        for body in bodies:
            if body.ingestion_id == ingestion_id:
                return KeptFile(self.path(body), body)
        kept = ", ".join(str(b.ingestion_id) for b in bodies) or "none"
        raise UsageError(
            f"no full sync {ingestion_id} is kept for {self.target.base_url} (kept: {kept})",
            hint="psykhe restore --list shows them",
        )

    # -- changes ---------------------------------------------------------------------------
    def keep_pending(self, body: Path, facts: KeptFacts) -> KeptBody:
        """Keep the accepted body at ``body`` (a file psykhe wrote), pending its outcome."""
        with self._locked() as index:
            name = f"{self.target.slug}-{facts.ingestion_id}.jsonl.gz"
            link_or_copy(body, self.folder / name)
            kept = KeptBody(
                **msgspec.structs.asdict(facts),
                time=utc_now(),
                file=name,
                size=(self.folder / name).stat().st_size,
            )
            others = index.get(self.target.name, [])
            index[self.target.name] = [
                *(b for b in others if b.ingestion_id != kept.ingestion_id),
                kept,
            ]
        return kept

    def settle(self, ingestion_id: int, *, completed: bool, keep: int) -> None:
        """The ingestion ended: a pending body of it is kept (``completed``) or deleted; the
        completed ones beyond the newest ``keep`` are deleted."""
        if not (self.folder / INDEX_FILE).exists():
            return  # nothing was ever kept: nothing to settle, no directory to make
        with self._locked() as index:
            bodies = index.get(self.target.name, [])
            ids = [b.ingestion_id for b in bodies if not b.completed]
            if ingestion_id in ids:
                at = next(i for i, b in enumerate(bodies) if b.ingestion_id == ingestion_id)
                after = bodies[at + 1 :]
                if completed:
                    done = msgspec.structs.replace(bodies[at], completed=True)
                    # those pending before it: their outcome is not known, and it replaced them
                    bodies = [*(b for b in bodies[:at] if b.completed), done, *after]
                else:
                    bodies = [*bodies[:at], *after]
            done_ones = [b for b in bodies if b.completed]
            beyond = {b.ingestion_id for b in done_ones[: max(0, len(done_ones) - keep)]}
            bodies = [b for b in bodies if b.ingestion_id not in beyond]
            if bodies:
                index[self.target.name] = bodies
            else:
                index.pop(self.target.name, None)

    # -- files -----------------------------------------------------------------------------
    def _read(self) -> _Index:
        path = self.folder / INDEX_FILE
        data = read_state_file(path, _INDEX_LIMIT)
        if data is None:
            return _Index(version=1, targets={})
        try:
            return msgspec.json.decode(data, type=_Index)
        except (msgspec.ValidationError, msgspec.DecodeError):
            raise ConfigError(
                f"the state file {path} is damaged",
                hint="move the kept/ folder away: psykhe keeps the next full syncs anew",
            ) from None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, list[KeptBody]]]:
        """The index's targets, to change; written back (and the unlisted files removed)
        when the block ends without an error."""
        ensure_private_dir(self.folder.parent)
        with locked(self.folder / LOCK_FILE):
            targets = dict(self._read().targets)
            before = {name: list(bodies) for name, bodies in targets.items()}
            listed = {b.file for bodies in before.values() for b in bodies}
            yield targets
            if targets != before:
                self._write(_Index(version=1, targets=targets))
            kept = {b.file for bodies in targets.values() for b in bodies}
            for gone in listed - kept:
                with contextlib.suppress(OSError):
                    (self.folder / gone).unlink()
            sweep_unlisted(self.folder, {*kept, INDEX_FILE, LOCK_FILE}, suffix=".jsonl.gz")

    def _write(self, index: _Index) -> None:
        data = msgspec.json.format(msgspec.json.encode(index)) + b"\n"
        replace_file(self.folder / INDEX_FILE, data)
