"""``Memory``: a target's records as sorted hashes, and the one file format they are kept in.

Four numpy arrays, one row per record, sorted by key (no key twice): ``keys``, ``contents``
and ``raws`` (the line as written; ``uint64``), ``fields`` (``uint16``, one column per
``hashing.FIELDS``). 40 bytes a record: a 1,000,000-variant memory is ~40 MB on disk and in
memory. Compared with a block's records by ``searchsorted``, never through a dictionary.

The file: a magic line, one JSON line (the target, the ingestion it was confirmed by, when,
when a push last carried a whole feed, the count and the fields), the arrays' bytes, and a
blake2b digest of everything before it. ``decode`` refuses anything else, so a torn,
truncated or edited file is never read as a smaller memory.
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from hashlib import blake2b
from typing import Any

from psykhe_cli.catalog.hashing import FIELDS

MAGIC = b"PSYKHE-CATALOG 2\n"
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
    raws: Any
    fields: Any
    #: the ingestion whose completion confirmed it last, and when (ISO-8601 UTC)
    ingestion_id: int | None = None
    at: str | None = None
    #: when a push that carried a whole feed last completed (``--baseline-max-age``)
    refreshed_at: str | None = None
    #: the order of the last pending update taken in (``store.py``): older ones are not
    sequence: int = 0
    #: the ``mmap`` of its file, when read from one (its pages are let go after merging)
    mapped: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def empty(cls, target: str) -> Memory:
        """A memory of no record."""
        np = numpy_module()
        return cls(
            target=target,
            keys=np.zeros(0, np.uint64),
            contents=np.zeros(0, np.uint64),
            raws=np.zeros(0, np.uint64),
            fields=np.zeros((0, len(FIELDS)), np.uint16),
        )

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, keys: Any) -> tuple[Any, Any]:
        """For each of ``keys``: its row here (clipped) and whether it is here."""
        return _found(self.keys, keys)

    def merged(self, update: Memory) -> Memory:
        """This memory with ``update``'s records added or replacing its own: one copy of
        each array, the new records inserted where they sort (no sort of the whole)."""
        np = numpy_module()
        rows, found = self.find(update.keys)
        new = ~found
        at = rows[new]
        if len(self.keys):  # past the last key: inserted at the end
            at = np.where(self.keys[at] < update.keys[new], at + 1, at)
        arrays = {
            name: np.insert(getattr(self, name), at, getattr(update, name)[new], axis=0)
            for name in ("keys", "contents", "raws", "fields")
        }
        if found.any():  # where the records already here moved to, once the new ones are in
            moved = rows[found] + np.searchsorted(at, rows[found], side="right")
            for name in ("contents", "raws", "fields"):
                arrays[name][moved] = getattr(update, name)[found]
        return replace(self, **arrays)

    def without(self, keys: Any) -> Memory:
        """This memory, forgetting the records of ``keys``."""
        np = numpy_module()
        if not len(keys) or not len(self.keys):
            return self
        kept = ~np.isin(self.keys, keys)
        return self.rows(kept)

    def rows(self, chosen: Any) -> Memory:
        """This memory's records ``chosen`` (a boolean mask or sorted indexes)."""
        return replace(
            self,
            keys=self.keys[chosen],
            contents=self.contents[chosen],
            raws=self.raws[chosen],
            fields=self.fields[chosen],
        )

    def encode(self) -> Iterator[bytes | memoryview]:
        """The file's bytes, in pieces (the arrays are not copied; when mapped from a file,
        its pages are let go after each ``_CHUNK`` records written)."""
        return self.pieces(len(self.keys), (self._chunks(getattr(self, name)) for name in _ARRAYS))

    def _chunks(self, array: Any) -> Iterator[Any]:
        if self.mapped is None:
            yield array
            return
        for start in range(0, max(len(array), 1), _CHUNK):
            yield array[start : start + _CHUNK]
            self.mapped.madvise(mmap.MADV_DONTNEED)  # once written: the next is asked for

    def merged_encoding(self, update: Memory, *, kept: Any = None) -> Iterator[bytes | memoryview]:
        """``self.merged(update).encode()``, a piece of ``_CHUNK`` records at a time (and,
        when this memory is mapped from its file, its pages let go after each); ``kept``: a
        boolean mask of this memory's records to keep (``self.rows(kept).merged(update)``)."""
        np = numpy_module()
        index = None if kept is None else np.flatnonzero(kept)
        keys = self.keys if index is None else self.keys[index]
        rows, found = _found(keys, update.keys)
        new = ~found
        at = rows[new]
        if len(keys):
            at = np.where(keys[at] < update.keys[new], at + 1, at)
        replaced = rows[found]
        size = len(keys)

        def arrays() -> Iterator[Any]:
            for name in _ARRAYS:
                source, changes = getattr(self, name), getattr(update, name)
                pieces = []
                for start in range(0, max(size, 1), _CHUNK):
                    end = min(start + _CHUNK, size)
                    if index is None:
                        chunk = np.array(source[start:end])
                    else:  # gathered: a copy already
                        chunk = (
                            keys[start:end].copy() if name == "keys" else source[index[start:end]]
                        )
                    lo, hi = np.searchsorted(replaced, [start, end])
                    chunk[replaced[lo:hi] - start] = changes[found][lo:hi]
                    last = end == size  # the records sorting after every one go at the end
                    lo, hi = np.searchsorted(at, [start, end], side="left")
                    hi = len(at) if last else hi
                    pieces.append(np.insert(chunk, at[lo:hi] - start, changes[new][lo:hi], axis=0))
                    if self.mapped is not None:
                        self.mapped.madvise(mmap.MADV_DONTNEED)
                yield pieces

        return self.pieces(size + int(new.sum()), arrays())

    def pieces(self, count: int, arrays: Iterable[Any]) -> Iterator[bytes | memoryview]:
        """The file's bytes: this memory's header for ``count`` records, then ``arrays`` in
        the file's order, each an array or its pieces (a list, or an iterator: each let go
        once written)."""
        header = {
            "target": self.target,
            "ingestion_id": self.ingestion_id,
            "at": self.at,
            "refreshed_at": self.refreshed_at,
            "count": count,
            "sequence": self.sequence,
            "fields": list(FIELDS),
        }
        digest = blake2b(digest_size=_DIGEST)
        for start in (MAGIC, json.dumps(header, sort_keys=True).encode() + b"\n"):
            digest.update(start)
            yield start
        for parts, dtype in zip(arrays, _DTYPES, strict=True):
            for part in parts if isinstance(parts, list | Iterator) else [parts]:
                piece = _bytes_of(part, dtype)
                digest.update(piece)
                yield piece
        yield digest.digest()


@dataclass(frozen=True)
class Encoded:
    """A memory's file, its bytes made only when written (``store.CatalogStore.begin``)."""

    pieces: Callable[[], Iterator[bytes | memoryview]]

    def encode(self) -> Iterator[bytes | memoryview]:
        """The file's bytes, in pieces."""
        return self.pieces()


_ARRAYS = ("keys", "contents", "raws", "fields")
#: records merged at a time
_CHUNK = 1 << 18
_DTYPES = ("<u8", "<u8", "<u8", "<u2")


def _bytes_of(array: Any, dtype: str) -> memoryview:
    """The bytes of ``array`` as ``dtype`` (little-endian), flat, copied only if need be."""
    np = numpy_module()
    flat = np.ascontiguousarray(array.astype(dtype, copy=False)).reshape(-1)
    return memoryview(flat.view(np.uint8))


def _found(sorted_keys: Any, keys: Any) -> tuple[Any, Any]:
    """For each of ``keys``: its row in ``sorted_keys`` (clipped) and whether it is there."""
    np = numpy_module()
    if not len(sorted_keys):
        return np.zeros(len(keys), np.intp), np.zeros(len(keys), bool)
    rows = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return rows, sorted_keys[rows] == keys


def decode(data: Any, *, digest_checked: bool = False) -> Memory:
    """The memory a file holds (its bytes, or an ``mmap`` of it: ``mapped``);
    ``MemoryDamaged`` unless it is whole and consistent (``digest_checked``: its digest was
    checked already, as the file was read)."""
    np = numpy_module()
    view = memoryview(data)
    if len(view) < len(MAGIC) + _DIGEST or bytes(view[: len(MAGIC)]) != MAGIC:
        raise MemoryDamaged("not a catalog memory")
    if not digest_checked and not digest_matches(view):
        raise MemoryDamaged("its digest does not match")
    end = bytes(view[len(MAGIC) : len(MAGIC) + _HEADER_LIMIT]).find(b"\n")
    if end < 0:
        raise MemoryDamaged("no header")
    start = len(MAGIC) + end + 1
    header = _header(bytes(view[len(MAGIC) : start - 1]))
    count = header["count"]
    width = len(FIELDS)
    if len(view) - _DIGEST - start != count * (24 + 2 * width):
        raise MemoryDamaged("its size does not match its count")
    keys = np.frombuffer(view, dtype="<u8", count=count, offset=start)
    contents = np.frombuffer(view, dtype="<u8", count=count, offset=start + 8 * count)
    raws = np.frombuffer(view, dtype="<u8", count=count, offset=start + 16 * count)
    fields = np.frombuffer(view, dtype="<u2", count=count * width, offset=start + 24 * count)
    if count > 1 and not bool(np.all(keys[1:] > keys[:-1])):
        raise MemoryDamaged("its keys are not sorted")
    return Memory(
        target=header["target"],
        keys=keys.astype(np.uint64, copy=False),
        contents=contents.astype(np.uint64, copy=False),
        raws=raws.astype(np.uint64, copy=False),
        fields=fields.astype(np.uint16, copy=False).reshape(count, width),
        ingestion_id=header["ingestion_id"],
        at=header["at"],
        refreshed_at=header["refreshed_at"],
        sequence=header["sequence"],
        mapped=data if isinstance(data, mmap.mmap) else None,
    )


def digest_matches(data: Any) -> bool:
    """Whether the digest that ends ``data`` is its own."""
    view = memoryview(data)
    return blake2b(view[:-_DIGEST], digest_size=_DIGEST).digest() == bytes(view[-_DIGEST:])


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
