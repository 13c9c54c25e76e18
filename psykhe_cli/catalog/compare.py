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
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from psykhe_cli.catalog.hashing import (
    FIELDS,
    content_hashes,
    field_hashes,
    key_hashes,
    products_of,
)
from psykhe_cli.catalog.memory import Memory, numpy_module

UNCHANGED, CHANGED, NEW = 0, 1, 2

#: the memories of the sieves made in this process (and the workers forked from it)
_MEMORIES: dict[str, Memory | None] = {}


@dataclass(frozen=True)
class Sifted:
    """One block's records compared: every accepted record's key hash and status, and the
    content and field hashes of those not unchanged (of all, when ``blind``)."""

    keys: Any
    status: Any
    contents: Any
    fields: Any
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

    def __call__(self, records: list[bytes]) -> tuple[Any, Sifted]:
        """Which of ``records`` to keep (None: all), and what was found."""
        np = numpy_module()
        products = products_of(records)
        keys, contents = key_hashes(products, np), content_hashes(products, np)
        if self.blind:
            status = np.full(len(keys), NEW, np.uint8)
            return None, Sifted(keys, status, contents, field_hashes(products, np), blind=True)
        status = classify(self.memory, keys, contents)
        moved = np.flatnonzero(status != UNCHANGED)
        fields = field_hashes([products[i] for i in moved.tolist()], np)
        kept = status != UNCHANGED if self.only_changed and self.memory is not None else None
        return kept, Sifted(keys, status, contents[moved], fields)


def _sieve_of(token: str, only_changed: bool) -> Sieve:
    """A sieve unpickled in a worker: the memory it inherited, or blind without one."""
    sieve = Sieve.__new__(Sieve)
    sieve.token, sieve.only_changed = token, only_changed
    sieve.blind = token not in _MEMORIES
    sieve.memory = _MEMORIES.get(token)
    return sieve


def classify(memory: Memory | None, keys: Any, contents: Any) -> Any:
    """Each record's status against ``memory``: ``NEW``, ``CHANGED`` or ``UNCHANGED``."""
    np = numpy_module()
    if memory is None or not len(memory):
        return np.full(len(keys), NEW, np.uint8)
    rows, found = memory.find(keys)
    same = found & (memory.contents[rows] == contents)
    return np.where(found, np.where(same, UNCHANGED, CHANGED), NEW).astype(np.uint8)


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
    completed push leaves in the memory."""

    def __init__(self, memory: Memory | None, target: str) -> None:
        self.memory = memory
        self.target = target
        self._keys: list[Any] = []
        self._status: list[Any] = []
        self._moved: list[tuple[Any, Any, Any]] = []
        self._field_counts = [0] * len(FIELDS)

    def add(self, sifted: Sifted, left_out: tuple[int, ...] = ()) -> None:
        """Fold one block's answer in, but for the records ``left_out`` (found errors)."""
        np = numpy_module()
        keys, status, contents, fields = sifted.keys, sifted.status, sifted.contents, sifted.fields
        if left_out:
            kept = np.ones(len(keys), dtype=bool)
            kept[list(left_out)] = False
            if not sifted.blind:  # contents and fields are the moved records'
                contents, fields = (
                    contents[kept[status != UNCHANGED]],
                    fields[kept[status != UNCHANGED]],
                )
            else:
                contents, fields = contents[kept], fields[kept]
            keys, status = keys[kept], status[kept]
        if sifted.blind:
            status = classify(self.memory, keys, contents)
            moved = np.flatnonzero(status != UNCHANGED)
            contents, fields = contents[moved], fields[moved]
        moved_keys = keys[status != UNCHANGED]
        self._keys.append(keys)
        self._status.append(status)
        self._moved.append((moved_keys, contents, fields))
        if self.memory is not None and len(moved_keys):
            rows, found = self.memory.find(moved_keys)
            differ = (fields[found] != self.memory.fields[rows[found]]).sum(axis=0)
            self._field_counts = [
                a + int(b) for a, b in zip(self._field_counts, differ, strict=True)
            ]

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
        keys, status = self._joined()
        distinct, last = np.unique(keys[::-1], return_index=True)
        final = status[::-1][last]
        found = int(memory.find(distinct)[1].sum()) if len(distinct) else 0
        counted = sorted(
            ((name, n) for name, n in zip(FIELDS, self._field_counts, strict=True) if n),
            key=lambda item: (-item[1], FIELDS.index(item[0])),
        )
        return Changes(
            baseline={
                "ingestion_id": memory.ingestion_id,
                "at": memory.at,
                "variants": len(memory),
            },
            new=int((final == NEW).sum()),
            changed=int((final == CHANGED).sum()),
            unchanged=int((final == UNCHANGED).sum()),
            absent=len(memory) - found,
            sent=sent,
            fields=dict(counted),
        )

    def _joined(self) -> tuple[Any, Any]:
        np = numpy_module()
        if not self._keys:
            return np.zeros(0, np.uint64), np.zeros(0, np.uint8)
        keys, status = np.concatenate(self._keys), np.concatenate(self._status)
        self._keys, self._status = [keys], [status]
        return keys, status

    def update(self) -> Memory:
        """The new and changed records, as a memory to merge into the confirmed one."""
        np = numpy_module()
        if not self._moved:
            return Memory.empty(self.target)
        keys, contents, fields = (np.concatenate(part) for part in zip(*self._moved, strict=True))
        self._moved = [(keys, contents, fields)]
        return Memory.of_records(self.target, keys, contents, fields)

    def replacement(self) -> Memory:
        """The feed's records: the memory a completed full sync leaves."""
        update = self.update()
        memory = self.memory
        if memory is None:
            return update
        np = numpy_module()
        keys, status = self._joined()
        kept = memory.without(np.setdiff1d(memory.keys, keys[status == UNCHANGED]))
        return kept.merged(update)

    def moved_keys(self) -> Any:
        """The keys of the new and changed records."""
        return self.update().keys


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
