"""SQLite state of one sandbox: ingestions and the per-client catalog, and their processing.

One file (``--db PATH``, or a temporary file removed at shutdown: a million-product catalog
would not fit the sandbox's memory budget in RAM), in WAL mode so the HTTP side keeps reading
while the worker writes. Every operation opens its own short-lived connection, so any thread
may call any method. Processing applies a whole ingestion in ONE transaction: the catalog sees
all of it (COMPLETED) or none of it (FAILED, interrupted, crashed).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

CREATED, STARTED, COMPLETED, FAILED = 2, 3, 4, 5
#: longest line the worker reads; a longer one fails the ingestion
MAX_LINE_BYTES = 16 * 1024 * 1024
_BATCH = 2000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ingestions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    status INTEGER NOT NULL,
    file_identifier TEXT NOT NULL,
    body_bytes INTEGER NOT NULL,
    metrics TEXT,
    error_code TEXT,
    error_message TEXT,
    error_line INTEGER,
    forced_outcome TEXT,
    spool_path TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS products (
    client_id TEXT NOT NULL,
    product_identifier TEXT NOT NULL,
    variant_identifier TEXT NOT NULL,
    data TEXT NOT NULL,
    active INTEGER NOT NULL,
    ingestion_id INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    -- a rowid table: product rows are far too wide for WITHOUT ROWID to pay off
    UNIQUE (client_id, product_identifier, variant_identifier)
);
"""

_UPSERT = """
INSERT INTO products (client_id, product_identifier, variant_identifier, data, active,
                      ingestion_id, updated_at)
VALUES (?, ?, ?, ?, 1, ?, ?)
ON CONFLICT (client_id, product_identifier, variant_identifier) DO UPDATE SET
    data = excluded.data, active = 1, ingestion_id = excluded.ingestion_id,
    updated_at = excluded.updated_at
"""


def utc_now() -> str:
    """The current time as the API writes it: ISO-8601 UTC with microseconds and ``Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LineError(ValueError):
    """Raised for a body line that is not a usable product line."""


@dataclass(frozen=True)
class ProductLine:
    """One parsed product line: its key and its ``product_data`` as JSON text."""

    product_identifier: str
    variant_identifier: str
    data: str


def parse_line(raw: bytes) -> ProductLine:
    """A body line → ProductLine, or LineError saying why it is not one."""
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise LineError(f"not valid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise LineError("not a JSON object")
    product = record.get("product_data")
    if not isinstance(product, dict):
        raise LineError("product_data is missing or not an object")
    product_identifier = product.get("product_identifier")
    if not isinstance(product_identifier, str) or not product_identifier:
        raise LineError("product_data.product_identifier is missing or not a non-empty string")
    # A product sent without variant_identifier is stored as its one variant, keyed "".
    variant_identifier = product.get("variant_identifier")
    if variant_identifier is None:
        variant_identifier = ""
    if not isinstance(variant_identifier, str):
        raise LineError("product_data.variant_identifier is not a string")
    return ProductLine(product_identifier, variant_identifier, orjson.dumps(product).decode())


def _spool_lines(path: Path) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) of a spooled body, one line in memory at a time; None: too long."""
    with path.open("rb") as spool:
        number = 0
        while line := spool.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                while (rest := spool.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                    pass
                yield number, None
                continue
            yield number, line


@dataclass
class _Tally:
    lines: int = 0
    failed_lines: int = 0
    first_error: tuple[int, str] | None = None

    def fail(self, number: int, reason: str) -> None:
        self.failed_lines += 1
        if self.first_error is None:
            self.first_error = (number, reason)


class Store:
    """The ingestions and catalogs of one sandbox, in one SQLite file."""

    def __init__(self, path: Path, spool_dir: Path) -> None:
        self.path = path
        self.spool_dir = spool_dir
        spool_dir.mkdir(parents=True, exist_ok=True)
        #: bumped by reset(); work queued before a reset must not touch the new state
        self.generation = 0
        self._processing = threading.Lock()
        self._busy: sqlite3.Connection | None = None
        with self._connect() as db:
            db.execute("PRAGMA journal_mode = WAL")
            db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout = 120000")
            db.execute("PRAGMA synchronous = NORMAL")
            yield db
        finally:
            db.close()

    # -- ingestions ----------------------------------------------------------------------

    def create_ingestion(
        self,
        *,
        client_id: str,
        mode: str,
        file_identifier: str,
        body_bytes: int,
        spool_path: Path | None,
        forced_outcome: str | None = None,
        rejected: tuple[str, str] | None = None,
    ) -> int:
        """Record an ingestion: CREATED, or FAILED at once when ``rejected`` (code, message)."""
        now = utc_now()
        status, (error_code, error_message) = (
            (FAILED, rejected) if rejected else (CREATED, (None, None))
        )
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO ingestions (client_id, mode, status, file_identifier, body_bytes,"
                " error_code, error_message, forced_outcome, spool_path, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    client_id,
                    mode,
                    status,
                    file_identifier,
                    body_bytes,
                    error_code,
                    error_message,
                    forced_outcome,
                    str(spool_path) if spool_path else None,
                    now,
                    now,
                ),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def get_ingestion(
        self, ingestion_id: int, client_id: str | None = None
    ) -> dict[str, Any] | None:
        """The public ``data`` of one ingestion (None if unknown or another client's)."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM ingestions WHERE id = ?", (ingestion_id,)).fetchone()
        if row is None or (client_id is not None and row["client_id"] != client_id):
            return None
        return public_view(row)

    def list_ingestions(self) -> list[dict[str, Any]]:
        """Every ingestion, oldest first, with the sandbox-only details."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM ingestions ORDER BY id").fetchall()
        return [sandbox_view(row) for row in rows]

    def unfinished(self) -> list[int]:
        """Ids of ingestions still to process (after a restart), oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT id FROM ingestions WHERE status IN (?, ?)"
                " AND NOT (status = ? AND forced_outcome IS 'stalled') ORDER BY id",
                (CREATED, STARTED, STARTED),
            ).fetchall()
        return [row["id"] for row in rows]

    def mark_started(self, ingestion_id: int, generation: int) -> str | None:
        """CREATED → STARTED; returns the forced outcome (``stalled``/``failed``) if any."""
        with self._processing, self._connect() as db:
            if generation != self.generation:
                return "stalled"  # queued before a reset: leave the new state alone
            db.execute(
                "UPDATE ingestions SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
                (STARTED, utc_now(), ingestion_id, CREATED),
            )
            row = db.execute(
                "SELECT forced_outcome FROM ingestions WHERE id = ?", (ingestion_id,)
            ).fetchone()
        return None if row is None else row["forced_outcome"]

    # -- processing ----------------------------------------------------------------------

    def process(self, ingestion_id: int, generation: int) -> None:
        """Apply one STARTED ingestion to its client's catalog, all or nothing."""
        with self._processing:
            if generation != self.generation:
                return
            with self._connect() as db:
                self._busy = db
                try:
                    self._process(db, ingestion_id)
                finally:
                    self._busy = None

    def _process(self, db: sqlite3.Connection, ingestion_id: int) -> None:
        row = db.execute("SELECT * FROM ingestions WHERE id = ?", (ingestion_id,)).fetchone()
        if row is None or row["status"] != STARTED:
            return
        spool = Path(row["spool_path"]) if row["spool_path"] else None
        if spool is None or not spool.exists():
            self._finish_failed(
                db, ingestion_id, _Tally(), ("spool_lost", "the spooled body is gone")
            )
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            tally = self._upsert_all(db, row, spool)
            error = self._failure(row, tally)
            if error is not None:
                db.execute("ROLLBACK")
                self._finish_failed(db, ingestion_id, tally, error)
            else:
                self._finish_completed(db, row, tally)
                db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        spool.unlink(missing_ok=True)

    @staticmethod
    def _failure(row: sqlite3.Row, tally: _Tally) -> tuple[str, str] | None:
        if tally.first_error is not None:
            line, reason = tally.first_error
            return "invalid_line", f"line {line}: {reason}"
        if row["forced_outcome"] == "failed":
            return "forced_failure", "failed by fault injection"
        return None

    @staticmethod
    def _upsert_all(db: sqlite3.Connection, row: sqlite3.Row, spool: Path) -> _Tally:
        tally = _Tally()
        batch: list[tuple[str, str, str, str, int, str]] = []
        now = utc_now()
        for number, raw in _spool_lines(spool):
            if raw is not None and not raw.strip():
                continue
            tally.lines += 1
            try:
                if raw is None:
                    raise LineError(f"longer than {MAX_LINE_BYTES} bytes")
                line = parse_line(raw)
            except LineError as exc:
                tally.fail(number, str(exc))
                continue
            if tally.failed_lines:
                continue  # the ingestion will fail: keep counting, stop writing
            batch.append(
                (
                    row["client_id"],
                    line.product_identifier,
                    line.variant_identifier,
                    line.data,
                    row["id"],
                    now,
                )
            )
            if len(batch) >= _BATCH:
                db.executemany(_UPSERT, batch)
                batch.clear()
        if batch and not tally.failed_lines:
            db.executemany(_UPSERT, batch)
        return tally

    @staticmethod
    def _finish_completed(db: sqlite3.Connection, row: sqlite3.Row, tally: _Tally) -> None:
        now = utc_now()
        deactivated = 0
        if row["mode"] == "soft_replace":
            deactivated = db.execute(
                "UPDATE products SET active = 0, updated_at = ?"
                " WHERE client_id = ? AND active = 1 AND ingestion_id != ?",
                (now, row["client_id"], row["id"]),
            ).rowcount
        upserted = db.execute(
            "SELECT COUNT(*) FROM products WHERE client_id = ? AND ingestion_id = ?",
            (row["client_id"], row["id"]),
        ).fetchone()[0]
        metrics = {
            "lines": tally.lines,
            "upserted": upserted,
            "deactivated": deactivated,
            "failed_lines": 0,
        }
        db.execute(
            "UPDATE ingestions SET status = ?, metrics = ?, spool_path = NULL, updated_at = ?"
            " WHERE id = ?",
            (COMPLETED, orjson.dumps(metrics).decode(), now, row["id"]),
        )

    @staticmethod
    def _finish_failed(
        db: sqlite3.Connection, ingestion_id: int, tally: _Tally, error: tuple[str, str]
    ) -> None:
        metrics = {
            "lines": tally.lines,
            "upserted": 0,
            "deactivated": 0,
            "failed_lines": tally.failed_lines,
        }
        line = tally.first_error[0] if tally.first_error else None
        db.execute(
            "UPDATE ingestions SET status = ?, metrics = ?, error_code = ?, error_message = ?,"
            " error_line = ?, spool_path = NULL, updated_at = ? WHERE id = ?",
            (
                FAILED,
                orjson.dumps(metrics).decode(),
                error[0],
                error[1],
                line,
                utc_now(),
                ingestion_id,
            ),
        )

    # -- catalog, reset, shutdown --------------------------------------------------------

    def products(
        self,
        *,
        active: bool | None = None,
        client_id: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> tuple[int, list[dict[str, Any]]]:
        """(total matching, one page of products) ordered by client and key."""
        where: list[str] = ["1 = 1"]
        args: list[object] = []
        if active is not None:
            where.append("active = ?")
            args.append(int(active))
        if client_id is not None:
            where.append("client_id = ?")
            args.append(client_id)
        clause = " AND ".join(where)
        with self._connect() as db:
            total = db.execute(f"SELECT COUNT(*) FROM products WHERE {clause}", args).fetchone()[0]
            rows = db.execute(
                f"SELECT * FROM products WHERE {clause}"
                " ORDER BY client_id, product_identifier, variant_identifier LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
        return total, [product_view(row) for row in rows]

    def reset(self) -> None:
        """Forget every ingestion and product; ids start again at 1."""
        self.interrupt()
        with self._processing, self._connect() as db:
            self.generation += 1
            spools = [r[0] for r in db.execute("SELECT spool_path FROM ingestions") if r[0]]
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM ingestions")
            db.execute("DELETE FROM products")
            db.execute("DELETE FROM sqlite_sequence WHERE name = 'ingestions'")
            db.execute("COMMIT")
        for spool in spools:
            Path(spool).unlink(missing_ok=True)

    def interrupt(self) -> None:
        """Abort a running ``process`` (it rolls back; the ingestion stays STARTED)."""
        busy = self._busy
        if busy is not None:
            busy.interrupt()

    def close(self) -> None:
        """Wait for (after interrupting) any processing; the file is then consistent."""
        self.interrupt()
        with self._processing, self._connect() as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _trigger_source(mode: str) -> dict[str, Any]:
    return {"type": "client", "mode": mode, "comment": None, "metadata": None, "user": None}


def public_view(row: sqlite3.Row) -> dict[str, Any]:
    """The documented ``data`` of ``GET /v1/ingestion/{id}``."""
    return {
        "id": row["id"],
        "client_id": row["client_id"],
        "trigger_source": _trigger_source(row["mode"]),
        "product_metrics": orjson.loads(row["metrics"]) if row["metrics"] else None,
        "file_identifier": row["file_identifier"],
        "status": row["status"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def sandbox_view(row: sqlite3.Row) -> dict[str, Any]:
    """The public view plus what only the sandbox shows: why it failed, forced outcome."""
    error = None
    if row["error_code"]:
        error = {
            "code": row["error_code"],
            "message": row["error_message"],
            "line": row["error_line"],
        }
    return {
        **public_view(row),
        "body_bytes": row["body_bytes"],
        "error": error,
        "forced_outcome": row["forced_outcome"],
    }


def product_view(row: sqlite3.Row) -> dict[str, Any]:
    """One catalog entry as ``GET /_sandbox/products`` shows it."""
    return {
        "client_id": row["client_id"],
        "product_identifier": row["product_identifier"],
        "variant_identifier": row["variant_identifier"],
        "active": bool(row["active"]),
        "ingestion_id": row["ingestion_id"],
        "updated_at": row["updated_at"],
        "data": orjson.loads(row["data"]),
    }
