"""A feed's records against a memory: per block where it is checked (``Sieve``), folded in
feed order (``Tally``) into ``Changes`` and the memory the push leaves if it completes.

A record is *new* (its key is not in the memory), *changed* (its content hash differs) or
*unchanged*; a memory's record the feed does not carry is *absent*. A ``Sieve`` runs in the
validation workers (forked after it was made: the memory is theirs without a copy) and, for
``--only-changed``, keeps only the new and changed records for the body. A worker that was
not forked cannot see the memory: its sieve keeps every record and the ``Tally`` compares
them in the calling process (``Sifted.blind``) — more bytes sent, never fewer.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psykhe_cli.catalog.hashing import (
    FIELDS,
    content_hashes,
    field_hashes,
    identifiers_of,
    key_hashes,
    products_of,
    raw_hashes,
)
from psykhe_cli.catalog.memory import Encoded, Memory, numpy_module
from psykhe_cli.catalog.spill import Touched

UNCHANGED, CHANGED, NEW = 0, 1, 2

#: the memories of the sieves made in this process (and the workers forked from it)
_MEMORIES: dict[str, Memory | None] = {}


@dataclass(frozen=True)
class Sifted:
    """One block's records compared: each accepted record's status and row in the memory
    (-1: none); which were *touched* (their line not byte for byte as remembered: parsed and
    hashed), with their key, line, content and field hashes, and which counted fields differ
    from the memory's. A ``blind`` sieve (no memory to see) touched every record and left
    the comparison to the ``Tally`` (``rows`` and ``differs`` None)."""

    keys: Any
    status: Any
    touched: Any
    raws: Any
    contents: Any
    fields: Any
    rows: Any = None
    differs: Any = None
    blind: bool = False


class Sieve:
    """Compares each block's records with ``memory`` (None: none is trusted, every record is
    new); with ``only_changed``, keeps only the new and changed ones. Pickled to a worker by
    its token: a forked worker finds the memory it inherited."""

    def __init__(self, memory: Memory | None, *, only_changed: bool) -> None:
        self.token = secrets.token_hex(8)
        self.only_changed = only_changed
        self.memory = memory
        self.blind = False
        _MEMORIES[self.token] = memory

    def __reduce__(self) -> tuple[Any, ...]:
        return (_sieve_of, (self.token, self.only_changed))

    def close(self) -> None:
        """The check is over: forget the memory here."""
        _MEMORIES.pop(self.token, None)
        _BY_LINE.pop(id(self.memory), None)

    def __call__(
        self, records: list[bytes], identifiers: tuple[list[str], list[Any]] | None = None
    ) -> tuple[Any, Sifted]:
        """Which of ``records`` to keep (None: all), and what was found. ``identifiers``:
        their product and variant identifiers, when the caller knows them already."""
        np = numpy_module()
        parsed = products_of(records) if identifiers is None else None
        if identifiers is None:
            identifiers = identifiers_of(parsed or [])
        raws = raw_hashes(records, np)
        product_ids, variant_ids = identifiers

        def keys_of(touched: Any) -> Any:
            chosen = touched.tolist()
            pids, vids = [product_ids[i] for i in chosen], [variant_ids[i] for i in chosen]
            return key_hashes(pids, vids, np)

        if self.blind:  # the memory is not here: everything hashed, compared by the Tally
            products = parsed if parsed is not None else products_of(records)
            every = np.ones(len(raws), dtype=bool)
            status = np.full(len(raws), NEW, np.uint8)
            keys = keys_of(np.arange(len(raws)))
            contents, fields = content_hashes(products, np), field_hashes(products, np)
            return None, Sifted(keys, status, every, raws, contents, fields, blind=True)
        touched_products: list[Any] = []

        def contents_of(touched: Any) -> Any:
            chosen = touched.tolist()
            if parsed is not None:
                touched_products.extend(parsed[i] for i in chosen)
            else:
                touched_products.extend(products_of([records[i] for i in chosen]))
            return content_hashes(touched_products, np)

        def fields_of(moved: Any) -> Any:
            return field_hashes([touched_products[i] for i in moved.tolist()], np)

        answer = judge(self.memory, keys_of, raws, contents_of, fields_of)
        if not self.only_changed or self.memory is None:
            return None, answer
        return answer.status != UNCHANGED, answer


def _sieve_of(token: str, only_changed: bool) -> Sieve:
    """A sieve unpickled in a worker: the memory it inherited, or blind without one."""
    sieve = Sieve.__new__(Sieve)
    sieve.token, sieve.only_changed = token, only_changed
    sieve.blind = token not in _MEMORIES
    sieve.memory = _MEMORIES.get(token)
    return sieve


def judge(
    memory: Memory | None,
    keys_of: Callable[[Any], Any],
    raws: Any,
    contents_of: Callable[[Any], Any],
    fields_of: Callable[[Any], Any],
) -> Sifted:
    """Records (``raws``: their lines' hashes) against ``memory``: a line remembered byte for
    byte is unchanged, found by its hash alone; the others are *touched*:
    ``keys_of(indexes)`` and ``contents_of(indexes)`` hash their keys and content, and
    ``fields_of(indexes among the touched)`` the fields of the new and changed ones."""
    np = numpy_module()
    count, width = len(raws), len(FIELDS)
    rows = np.full(count, -1, np.int64)
    touched = np.ones(count, dtype=bool)
    remembered = memory is not None and len(memory) > 0
    if remembered:
        assert memory is not None
        order, ordered = _by_line(memory)
        at = np.minimum(np.searchsorted(ordered, raws), len(ordered) - 1)
        same_line = ordered[at] == raws
        rows[same_line] = order[at[same_line]]
        touched = ~same_line
    indexes = np.flatnonzero(touched)
    keys = keys_of(indexes)
    contents = contents_of(indexes)
    status = np.full(count, UNCHANGED, np.uint8)
    fields = np.zeros((len(indexes), width), np.uint16)
    differs = np.zeros((len(indexes), width), dtype=bool)
    if not remembered:
        status[indexes] = NEW
        fields[:] = fields_of(np.arange(len(indexes)))
        return Sifted(keys, status, touched, raws[indexes], contents, fields, rows, differs)
    assert memory is not None
    at, known = memory.find(keys)
    touched_rows = np.where(known, at, -1)
    rows[indexes] = touched_rows
    same = known & (memory.contents[at] == contents)
    verdicts = np.where(known, np.where(same, UNCHANGED, CHANGED), NEW).astype(np.uint8)
    status[indexes] = verdicts
    moved = verdicts != UNCHANGED
    fields[moved] = fields_of(np.flatnonzero(moved))
    fields[~moved] = memory.fields[touched_rows[~moved]]  # the same content: the same fields
    changed = verdicts == CHANGED
    differs[changed] = fields[changed] != memory.fields[touched_rows[changed]]
    return Sifted(keys, status, touched, raws[indexes], contents, fields, rows, differs)


#: per memory of this process: its rows in the order of their lines' hashes, and those hashes
_BY_LINE: dict[int, tuple[Memory, Any, Any]] = {}


def _by_line(memory: Memory) -> tuple[Any, Any]:
    """``memory``'s rows sorted by line hash, and the sorted hashes: made once per process
    (each worker makes its own: the push's process holds none)."""
    np = numpy_module()
    known = _BY_LINE.get(id(memory))
    if known is None or known[0] is not memory:
        order = np.argsort(memory.raws, kind="stable").astype(np.int32)
        known = _BY_LINE[id(memory)] = (memory, order, memory.raws[order])
    return known[1], known[2]


@dataclass(frozen=True, kw_only=True)
class Changes:
    """What a push changes against the trusted memory (counts None without one)."""

    #: the memory compared with: ``{"ingestion_id", "at", "variants"}``, or None
    baseline: dict[str, Any] | None
    new: int | None
    changed: int | None
    unchanged: int | None
    absent: int | None
    #: records put in requests
    sent: int
    #: for the changed records: how many changed each field, most first
    fields: dict[str, int] = field(default_factory=dict)
    #: why no memory is trusted, when none is
    reason: str | None = None

    @property
    def share_changed(self) -> float:
        """The percentage of the memory's variants this push changes."""
        if self.baseline is None or self.changed is None or not self.baseline["variants"]:
            return 0.0
        return 100.0 * self.changed / int(self.baseline["variants"])

    def to_json(self) -> dict[str, Any]:
        """``"changes"`` in ``push --json``."""
        return {
            "baseline": self.baseline,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "absent": self.absent,
            "sent": self.sent,
            "fields": dict(self.fields),
            "reason": self.reason,
        }


class Tally:
    """Blocks' ``Sifted`` answers folded in feed order: ``Changes``, and the records a
    completed push leaves in the memory. Holds a byte or two per remembered record, the new
    records' keys, and the touched records' hashes (every line's when no memory is trusted;
    in files in ``spill`` when given one: see ``spill.py``); it reads the memory itself only
    for a blind sieve's answers."""

    def __init__(self, memory: Memory | None, target: str, *, spill: Path | None = None) -> None:
        np = numpy_module()
        self.memory = memory
        self.target = target
        size = len(memory) if memory is not None else 0
        #: per remembered record: the feed carries it; its last line changed it
        self._seen = np.zeros(size, dtype=bool)
        self._changed = np.zeros(size, dtype=bool)
        self._new: list[Any] = []
        #: the touched records' hashes: in files in ``spill``, or here without one
        self._touched = Touched(spill)
        self._update: Memory | None = None
        self._field_counts = np.zeros(len(FIELDS), np.int64)

    def add(self, sifted: Sifted, left_out: tuple[int, ...] = ()) -> None:
        """Fold one block's answer in, but for the records ``left_out`` (found errors)."""
        np = numpy_module()
        if sifted.blind:
            sifted = _judged_blind(self.memory, sifted)
        status, rows, touched = sifted.status, sifted.rows, sifted.touched
        hashed = [sifted.keys, sifted.raws, sifted.contents, sifted.fields, sifted.differs]
        if left_out:  # the touched' hashes are those of the touched kept
            kept = np.ones(len(status), dtype=bool)
            kept[list(left_out)] = False
            hashed = [array[kept[touched]] for array in hashed]
            status, rows, touched = status[kept], rows[kept], touched[kept]
        keys, raws, contents, fields, differs = hashed
        if self.memory is not None:
            found = rows >= 0
            self._seen[rows[found]] = True
            self._changed[rows[found]] = status[found] == CHANGED  # a later line decides
            self._new.append(keys[rows[touched] < 0])
            self._field_counts += differs.sum(axis=0)
        self._touched.add(keys, contents, raws, fields)

    def changes(self, *, sent: int, reason: str | None = None) -> Changes:
        """What this feed changes (counts by distinct record, its last line deciding)."""
        memory = self.memory
        if memory is None:
            return Changes(
                baseline=None,
                new=None,
                changed=None,
                unchanged=None,
                absent=None,
                sent=sent,
                reason=reason,
            )
        np = numpy_module()
        new = len(np.unique(np.concatenate(self._new))) if self._new else 0
        seen, changed = int(self._seen.sum()), int(self._changed.sum())
        counted = sorted(
            ((name, int(n)) for name, n in zip(FIELDS, self._field_counts, strict=True) if n),
            key=lambda item: (-item[1], FIELDS.index(item[0])),
        )
        baseline = {"ingestion_id": memory.ingestion_id, "at": memory.at, "variants": len(memory)}
        return Changes(
            baseline=baseline,
            new=new,
            changed=changed,
            unchanged=seen - changed,
            absent=len(memory) - seen,
            sent=sent,
            fields=dict(counted),
        )

    def update(self) -> Memory:
        """The touched records (new, changed, or written otherwise), as a memory to merge
        into the confirmed one (built once)."""
        if self._update is None:
            self._update = self._touched.memory(self.target)
        return self._update

    def replacement(self) -> Memory:
        """The feed's records: the memory a completed full sync leaves."""
        update = self.update()
        if self.memory is None:
            return update
        return self.memory.rows(self._seen).merged(update)

    def encoded_update(self) -> Encoded:
        """``update()``, as its file's bytes, built a column at a time (from the spill)."""
        return Encoded(lambda: self._touched.encoding(self.target))

    def encoded_replacement(self) -> Encoded:
        """``replacement()``, as its file's bytes."""
        memory = self.memory
        if memory is None:
            return self.encoded_update()
        return Encoded(lambda: memory.merged_encoding(self.update(), kept=self._seen))

    def close(self) -> None:
        """Let the touched records' files go."""
        self._touched.close()


def _judged_blind(memory: Memory | None, sifted: Sifted) -> Sifted:
    """A blind sieve's answer (every record hashed) compared with ``memory`` here."""
    judged: list[Any] = []

    def contents_of(touched: Any) -> Any:
        judged.append(touched)
        return sifted.contents[touched]

    def fields_of(moved: Any) -> Any:
        return sifted.fields[judged[0][moved]]

    return judge(memory, lambda touched: sifted.keys[touched], sifted.raws, contents_of, fields_of)


def compare_records(memory: Memory | None, blocks: Iterable[list[bytes]]) -> Changes:
    """``Changes`` of normalized records (``{"operation":…,"product_data":{…}}`` lines, in
    blocks) against ``memory``, in this process: e.g. a kept body before it is sent again."""
    target = memory.target if memory is not None else ""
    sieve, tally, sent = Sieve(memory, only_changed=False), Tally(memory, target), 0
    try:
        for block in blocks:
            records = [line for line in block if line.strip()]
            sent += len(records)
            if records:
                tally.add(sieve(records)[1])
    finally:
        sieve.close()
    return tally.changes(sent=sent)


def batched(lines: Iterable[bytes], size: int = 4096) -> Iterable[list[bytes]]:
    """``lines`` in lists of ``size`` (for ``compare_records``)."""
    iterator = iter(lines)
    while batch := list(itertools.islice(iterator, size)):
        yield batch
