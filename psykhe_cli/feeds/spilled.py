"""A mapping that keeps its latest entries in memory and the older ones on disk.

A WooCommerce variation may come long after its parent (the export is ordered by ID, and a
variation added later gets a new one), so every parent must stay findable to the end of the
file; most variations, though, follow their parent at once. ``SpilledMap`` keeps the latest
``recent`` entries as objects and writes older ones, encoded, to a temporary SQLite database
(created on the first spill, in ``TMPDIR``, deleted when closed and by the system if the
process dies), so memory stays bounded whatever the export's size. Values already encoded
(a worker's, ``set_encoded``) are kept as bytes, and written to disk a batch at a time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Generic, TypeVar

from psykhe_cli.errors import ConfigError

T = TypeVar("T")

#: entries kept as objects; past that the oldest are written to disk
RECENT = 4_096
#: spilled entries written in one statement
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
        #: spilled entries not yet written to the database
        self._pending: dict[str, bytes] = {}
        self._db: sqlite3.Connection | None = None

    def __setitem__(self, key: str, value: T) -> None:
        memory = self._memory
        memory.pop(key, None)  # set again: now the latest
        memory[key] = value
        if len(memory) > self._recent:
            oldest = next(iter(memory))
            self._pending[oldest] = self._encode(memory.pop(oldest))
            if len(self._pending) >= self._batch:
                self._flush()

    def set_encoded(self, key: str, blob: bytes) -> None:
        """Set ``key`` to the value ``encode`` gave ``blob`` for, kept encoded: as an older
        entry (decoded when it is got)."""
        self._memory.pop(key, None)
        self._pending.pop(key, None)  # set again: written last
        self._pending[key] = blob
        if len(self._pending) >= self._batch:
            self._flush()

    def get(self, key: str) -> T | None:
        """The value of ``key``, None when it was never set."""
        value = self._memory.get(key)
        if value is not None:
            return value
        blob = self._pending.get(key)
        if blob is None and self._db is not None:
            found = self._execute("SELECT value FROM spilled WHERE key = ?", (key,)).fetchone()
            blob = found[0] if found else None
        return None if blob is None else self._decode(blob)

    def close(self) -> None:
        """Forget everything; the database on disk is deleted."""
        self._memory.clear()
        self._pending.clear()
        if self._db is not None:
            self._db.close()
            self._db = None

    def _flush(self) -> None:
        if self._db is None:
            # "": a private database on disk, deleted on close; no journal, as nothing is
            # recovered from it
            self._db = sqlite3.connect("", isolation_level=None)
            self._execute("PRAGMA journal_mode = OFF")
            self._execute("CREATE TABLE spilled (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID")
        rows = list(self._pending.items())
        self._pending.clear()
        self._execute("INSERT OR REPLACE INTO spilled VALUES (?, ?)", rows, many=True)

    def _execute(self, sql: str, parameters: object = (), *, many: bool = False) -> sqlite3.Cursor:
        assert self._db is not None
        try:
            if many:
                return self._db.executemany(sql, parameters)  # type: ignore[arg-type]
            return self._db.execute(sql, parameters)  # type: ignore[arg-type]
        except sqlite3.Error as exc:
            raise ConfigError(
                f"cannot keep the export's earlier products in a temporary file: {exc}",
                hint="free space in TMPDIR, or set TMPDIR to a writable directory",
            ) from None
