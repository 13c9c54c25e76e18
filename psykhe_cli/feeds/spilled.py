"""A mapping that keeps its latest entries in memory and the older ones on disk.

A WooCommerce variation may come long after its parent (the export is ordered by ID, and a
variation added later gets a new one), so every parent must stay findable to the end of the
file; most variations, though, follow their parent at once. ``SpilledMap`` keeps the latest
``recent`` entries as objects and writes older ones, encoded, to disk (created on the first
spill, in ``TMPDIR``, deleted when closed and by the system if the process dies), so memory
stays bounded whatever the export's size. On disk, the encoded values are appended to a
temporary file and a temporary SQLite database maps each key to where its value is: an
index of small rows, cheap to insert into in any order, and a value written once for all
the keys set to it together. Values already encoded (a worker's, ``set_encoded``) are kept
as bytes, and written a batch at a time.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable
from typing import IO, Generic, TypeVar

from psykhe_cli.errors import ConfigError

T = TypeVar("T")

#: entries kept as objects; past that the oldest are written to disk
RECENT = 4_096
#: spilled entries written at once
BATCH = 2_048


class SpilledMap(Generic[T]):
    """``str`` -> ``T``, as a dict that remembers every entry, in bounded memory.

    ``encode`` and ``decode`` turn a value into bytes and back exactly; a key set again
    replaces its value, as in a dict. ``close()`` deletes what was written to disk.
    """

    def __init__(
        self,
        encode: Callable[[T], bytes],
        decode: Callable[[bytes], T],
        *,
        recent: int = RECENT,
        batch: int = BATCH,
    ) -> None:
        self._encode, self._decode = encode, decode
        # what waits to be written is in memory too: never more of it than ``recent``
        self._recent, self._batch = recent, max(1, min(batch, recent))
        #: the latest entries, oldest first (dicts keep insertion order)
        self._memory: dict[str, T] = {}
        #: spilled entries not yet written to disk (keys set together share their bytes)
        self._pending: dict[str, bytes] = {}
        self._db: sqlite3.Connection | None = None
        #: the encoded values written, one after another, and their size
        self._values: IO[bytes] | None = None
        self._written = 0

    def __setitem__(self, key: str, value: T) -> None:
        memory = self._memory
        memory.pop(key, None)  # set again: now the latest
        memory[key] = value
        if len(memory) > self._recent:
            oldest = next(iter(memory))
            self._pending[oldest] = self._encode(memory.pop(oldest))
            if len(self._pending) >= self._batch:
                self._flush()

    def set_encoded(self, keys: Iterable[str], blob: bytes) -> None:
        """Set each of ``keys`` to the value ``encode`` gave ``blob`` for, kept encoded: as
        older entries (decoded when got)."""
        memory, pending = self._memory, self._pending
        for key in keys:
            memory.pop(key, None)
            pending.pop(key, None)  # set again: written last
            pending[key] = blob
        if len(pending) >= self._batch:
            self._flush()

    def get(self, key: str) -> T | None:
        """The value of ``key``, None when it was never set."""
        value = self._memory.get(key)
        if value is not None:
            return value
        blob = self._pending.get(key)
        if blob is None and self._db is not None:
            found = self._execute("SELECT at, size FROM spilled WHERE key = ?", (key,)).fetchone()
            blob = self._read(*found) if found else None
        return None if blob is None else self._decode(blob)

    def close(self) -> None:
        """Forget everything; what was written to disk is deleted."""
        self._memory.clear()
        self._pending.clear()
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._values is not None:
            self._values.close()
            self._values = None

    def _flush(self) -> None:
        if self._db is None:
            # "": a private database on disk, deleted on close; no journal, as nothing is
            # recovered from it
            self._db = sqlite3.connect("", isolation_level=None)
            self._execute("PRAGMA journal_mode = OFF")
            self._execute(
                "CREATE TABLE spilled (key TEXT PRIMARY KEY, at INTEGER, size INTEGER) "
                "WITHOUT ROWID"
            )
        rows: list[tuple[str, int, int]] = []
        blobs: list[bytes] = []
        #: where each value is written, by its bytes' identity: keys set together share it
        placed: dict[int, tuple[int, int]] = {}
        for key, blob in self._pending.items():
            place = placed.get(id(blob))
            if place is None:
                place = placed[id(blob)] = (self._written, len(blob))
                blobs.append(blob)
                self._written += len(blob)
            rows.append((key, *place))
        self._write(b"".join(blobs))
        self._pending.clear()
        self._execute("BEGIN")
        self._execute("INSERT OR REPLACE INTO spilled VALUES (?, ?, ?)", rows, many=True)
        self._execute("COMMIT")

    def _write(self, data: bytes) -> None:
        try:
            if self._values is None:
                self._values = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
            self._values.write(data)
            self._values.flush()
        except OSError as exc:
            raise _no_room(exc) from None

    def _read(self, at: int, size: int) -> bytes:
        assert self._values is not None
        try:
            return os.pread(self._values.fileno(), size, at)
        except OSError as exc:
            raise _no_room(exc) from None

    def _execute(self, sql: str, parameters: object = (), *, many: bool = False) -> sqlite3.Cursor:
        assert self._db is not None
        try:
            if many:
                return self._db.executemany(sql, parameters)  # type: ignore[arg-type]
            return self._db.execute(sql, parameters)  # type: ignore[arg-type]
        except sqlite3.Error as exc:
            raise _no_room(exc) from None


def _no_room(exc: Exception) -> ConfigError:
    return ConfigError(
        f"cannot keep the export's earlier products in a temporary file: {exc}",
        hint="free space in TMPDIR, or set TMPDIR to a writable directory",
    )
