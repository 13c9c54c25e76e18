"""``Memory``: a target's records as sorted hashes, and the one file format they are kept in.

Three numpy arrays, one row per record, sorted by key (no key twice): ``keys`` and
``contents`` (``uint64``), ``fields`` (``uint16``, one column per ``hashing.FIELDS``). 32
bytes a record: a 1,000,000-variant memory is ~32 MB on disk and in memory. Compared with a
block's records by ``searchsorted``, never through a dictionary.

The file: a magic line, one JSON line (the target, the ingestion it was confirmed by, when,
when a push last carried a whole feed, the count and the fields), the three arrays' bytes,
and a blake2b digest of everything before it. ``decode`` refuses anything else, so a torn,
truncated or edited file is never read as a smaller memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from hashlib import blake2b
from typing import Any

from psykhe_cli.catalog.hashing import FIELDS

MAGIC = b"PSYKHE-CATALOG 1\n"
_DIGEST = 32
#: a header is a few hundred bytes
_HEADER_LIMIT = 64 * 1024


class MemoryDamaged(ValueError):
    """A memory file is not what psykhe writes."""


def numpy_module() -> Any:
    """numpy, loaded as validation loads it (``validate.lines.load_numpy``)."""
    from psykhe_cli.validate.lines import load_numpy

    return load_numpy()


@dataclass(frozen=True, kw_only=True)
class Memory:
    """What is believed of a target's records (see the module's docstring)."""

    #: ``Target.name`` of the target it describes
    target: str
    keys: Any
    contents: Any
    fields: Any
    #: the ingestion whose completion confirmed it last, and when (ISO-8601 UTC)
    ingestion_id: int | None = None
    at: str | None = None
    #: when a push that carried a whole feed last completed (``--baseline-max-age``)
    refreshed_at: str | None = None
    #: the order of the last pending update taken in (``store.py``): older ones are not
    sequence: int = 0

    @classmethod
    def empty(cls, target: str) -> Memory:
        """A memory of no record."""
        np = numpy_module()
        return cls(
            target=target,
            keys=np.zeros(0, np.uint64),
            contents=np.zeros(0, np.uint64),
            fields=np.zeros((0, len(FIELDS)), np.uint16),
        )

    @classmethod
    def of_records(cls, target: str, keys: Any, contents: Any, fields: Any) -> Memory:
        """A memory of the records given (in feed order; a key given twice: the last)."""
        np = numpy_module()
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        last = np.ones(len(keys), dtype=bool)
        last[:-1] = keys[1:] != keys[:-1]
        chosen = order[last]
        return cls(target=target, keys=keys[last], contents=contents[chosen], fields=fields[chosen])

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, keys: Any) -> tuple[Any, Any]:
        """For each of ``keys``: its row here (clipped) and whether it is here."""
        np = numpy_module()
        if not len(self.keys):
            return np.zeros(len(keys), np.intp), np.zeros(len(keys), bool)
        rows = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return rows, self.keys[rows] == keys

    def merged(self, update: Memory) -> Memory:
        """This memory with ``update``'s records added or replacing its own."""
        np = numpy_module()
        keys = np.concatenate((self.keys, update.keys))
        contents = np.concatenate((self.contents, update.contents))
        fields = np.concatenate((self.fields, update.fields))
        merged = Memory.of_records(self.target, keys, contents, fields)
        return replace(self, keys=merged.keys, contents=merged.contents, fields=merged.fields)

    def without(self, keys: Any) -> Memory:
        """This memory, forgetting the records of ``keys``."""
        np = numpy_module()
        if not len(keys) or not len(self.keys):
            return self
        kept = ~np.isin(self.keys, keys)
        return replace(
            self, keys=self.keys[kept], contents=self.contents[kept], fields=self.fields[kept]
        )

    def encode(self) -> list[bytes | memoryview]:
        """The file's bytes, in pieces (the arrays are not copied)."""
        header = {
            "target": self.target,
            "ingestion_id": self.ingestion_id,
            "at": self.at,
            "refreshed_at": self.refreshed_at,
            "count": len(self.keys),
            "sequence": self.sequence,
            "fields": list(FIELDS),
        }
        pieces: list[bytes | memoryview] = [
            MAGIC,
            json.dumps(header, sort_keys=True).encode() + b"\n",
            _bytes_of(self.keys, "<u8"),
            _bytes_of(self.contents, "<u8"),
            _bytes_of(self.fields, "<u2"),
        ]
        digest = blake2b(digest_size=_DIGEST)
        for piece in pieces:
            digest.update(piece)
        pieces.append(digest.digest())
        return pieces


def _bytes_of(array: Any, dtype: str) -> memoryview:
    """The bytes of ``array`` as ``dtype`` (little-endian), flat, copied only if need be."""
    np = numpy_module()
    flat = np.ascontiguousarray(array.astype(dtype, copy=False)).reshape(-1)
    return memoryview(flat.view(np.uint8))


def decode(data: bytes | bytearray | memoryview) -> Memory:
    """The memory a file holds; ``MemoryDamaged`` unless it is whole and consistent."""
    np = numpy_module()
    view = memoryview(data)
    if len(view) < len(MAGIC) + _DIGEST or bytes(view[: len(MAGIC)]) != MAGIC:
        raise MemoryDamaged("not a catalog memory")
    if blake2b(view[:-_DIGEST], digest_size=_DIGEST).digest() != bytes(view[-_DIGEST:]):
        raise MemoryDamaged("its digest does not match")
    end = bytes(view[len(MAGIC) : len(MAGIC) + _HEADER_LIMIT]).find(b"\n")
    if end < 0:
        raise MemoryDamaged("no header")
    start = len(MAGIC) + end + 1
    header = _header(bytes(view[len(MAGIC) : start - 1]))
    count = header["count"]
    width = len(FIELDS)
    if len(view) - _DIGEST - start != count * (16 + 2 * width):
        raise MemoryDamaged("its size does not match its count")
    keys = np.frombuffer(view, dtype="<u8", count=count, offset=start)
    contents = np.frombuffer(view, dtype="<u8", count=count, offset=start + 8 * count)
    fields = np.frombuffer(view, dtype="<u2", count=count * width, offset=start + 16 * count)
    if count > 1 and not bool(np.all(keys[1:] > keys[:-1])):
        raise MemoryDamaged("its keys are not sorted")
    return Memory(
        target=header["target"],
        keys=keys.astype(np.uint64, copy=False),
        contents=contents.astype(np.uint64, copy=False),
        fields=fields.astype(np.uint16, copy=False).reshape(count, width),
        ingestion_id=header["ingestion_id"],
        at=header["at"],
        refreshed_at=header["refreshed_at"],
        sequence=header["sequence"],
    )


def _header(line: bytes) -> dict[str, Any]:
    try:
        header = json.loads(line)
    except (ValueError, RecursionError):
        raise MemoryDamaged("its header is not JSON") from None
    ok = (
        isinstance(header, dict)
        and isinstance(header.get("target"), str)
        and _is_count(header.get("count"))
        and _is_count(header.get("sequence"))
        and header.get("fields") == list(FIELDS)
        and (header.get("ingestion_id") is None or _is_count(header.get("ingestion_id")))
        and all(isinstance(header.get(k), str | None) for k in ("at", "refreshed_at"))
    )
    if not ok:
        raise MemoryDamaged("its header is not what psykhe writes")
    checked: dict[str, Any] = header
    return checked


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
