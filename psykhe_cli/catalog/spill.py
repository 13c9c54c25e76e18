"""The touched records' hashes of one push, kept as its blocks arrive, and the sorted memory
they make, built one column at a time.

A push with no memory to compare with touches every record: 40 bytes each, 40 MB at 1M
variants. Held in the push's process, they and their sorted copy doubled its peak. With a
``folder`` they go to four column files there instead (``.touched-….spill``, 0600, each held
locked by ``leftovers.claim`` while this process lives, so a killed run's are swept:
``CatalogStore.sweep``); the memory is then written from them: the keys argsorted, a key
given twice found a chunk at a time, then each column gathered from its mapped file a
``_CHUNK`` of records at a time, its pages let go after each. The process holds the rows
chosen (4 bytes a record), one column's pages and one chunk.

Without a folder (a dry run, ``compare_records``), or once the disk refused a write, the
hashes are kept in memory as numpy pieces.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from psykhe_cli.catalog.hashing import FIELDS
from psykhe_cli.catalog.memory import Memory, numpy_module
from psykhe_cli.leftovers import claim

PREFIX, SUFFIX = ".touched-", ".spill"
#: keys, contents, line hashes: ``uint64``; fields: ``uint16`` × ``len(FIELDS)``
_DTYPES = ("<u8", "<u8", "<u8", "<u2")
#: records gathered at a time
_CHUNK = 1 << 17


class Touched:
    """The touched records' hashes (keys, contents, line hashes, fields), in feed order."""

    def __init__(self, folder: Path | None = None) -> None:
        self.count = 0
        self._pieces: list[list[Any]] | None = None if folder is not None else [[], [], [], []]
        self._files: list[tuple[Path, int]] = []
        if folder is not None:
            try:
                for _ in _DTYPES:
                    self._files.append(claim(folder, PREFIX, SUFFIX))
            except OSError:
                self._in_memory()

    def add(self, keys: Any, contents: Any, raws: Any, fields: Any) -> None:
        """One block's touched records."""
        columns = (keys, contents, raws, fields)
        if self._pieces is None:
            try:
                for (_, fd), column, dtype in zip(self._files, columns, _DTYPES, strict=True):
                    _write_all(fd, _bytes_of(column, dtype))
            except OSError:  # the disk is full: what is spilled comes back, the rest stays
                self._in_memory()
        if self._pieces is not None:
            for pieces, column in zip(self._pieces, columns, strict=True):
                pieces.append(column)
        self.count += len(keys)

    def memory(self, target: str) -> Memory:
        """The records as a memory (a key given twice: its last line), in this process."""
        chosen = self._chosen()
        columns = [_joined(list(self._gathered(column, chosen))) for column in range(4)]
        return Memory(
            target=target, keys=columns[0], contents=columns[1], raws=columns[2], fields=columns[3]
        )

    def encoding(self, target: str) -> Iterator[bytes | memoryview]:
        """``self.memory(target).encode()``, holding the rows chosen and a chunk of it."""
        chosen = self._chosen()
        columns = (self._gathered(column, chosen) for column in range(4))
        return Memory.empty(target).pieces(len(chosen), columns)

    def close(self) -> None:
        """Remove the column files (their locks go with their descriptors)."""
        files, self._files = self._files, []
        for path, fd in files:
            with contextlib.suppress(OSError):
                os.unlink(path)
            os.close(fd)

    # -- building --------------------------------------------------------------------------
    def _chosen(self) -> Any:
        """The rows to keep, in the order of their keys: for a key given twice, its last."""
        np = numpy_module()
        with self._column(0) as keys:
            order = np.argsort(keys, kind="stable")
            # a row is kept unless the next in key order has its key: compared a chunk at a
            # time, never a sorted copy of every key
            last = np.ones(len(order), dtype=bool)
            for start in range(0, max(len(order) - 1, 0), _CHUNK):
                pair = keys[order[start : start + _CHUNK + 1]]
                last[start : start + len(pair) - 1] = pair[1:] != pair[:-1]
        chosen = order if last.all() else order[last]  # no key twice (the usual feed): as is
        del order
        return chosen.astype(np.uint32) if len(chosen) < 1 << 32 else chosen

    def _gathered(self, column: int, chosen: Any) -> Iterator[Any]:
        """Column ``column``'s rows ``chosen``, a chunk at a time."""
        np = numpy_module()
        if not len(chosen):
            yield self._empty(column)
            return
        for start in range(0, len(chosen), _CHUNK):
            with self._column(column) as values:
                native = values[chosen[start : start + _CHUNK]]
            yield native.astype(np.uint16 if column == 3 else np.uint64, copy=False)

    def _empty(self, column: int) -> Any:
        np = numpy_module()
        if column == 3:
            return np.zeros((0, len(FIELDS)), np.uint16)
        return np.zeros(0, np.uint64)

    @contextlib.contextmanager
    def _column(self, column: int) -> Iterator[Any]:
        """Column ``column`` whole: its pieces joined, or its file mapped (its pages let go
        once the caller is done)."""
        np = numpy_module()
        if self._pieces is not None:
            pieces = self._pieces[column]
            if len(pieces) > 1:  # joined once, kept joined: its pieces let go
                pieces[:] = [_joined(pieces)]
            yield pieces[0] if pieces else self._empty(column)
            return
        fd = self._files[column][1]
        size = os.fstat(fd).st_size
        if not size:
            yield self._empty(column)
            return
        mapped = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
        try:
            values = np.frombuffer(mapped, dtype=_DTYPES[column])
            yield values.reshape(-1, len(FIELDS)) if column == 3 else values
            del values
            mapped.madvise(mmap.MADV_DONTNEED)
        finally:
            with contextlib.suppress(BufferError):  # a view still alive: unmapped when freed
                mapped.close()

    def _in_memory(self) -> None:
        """Keep the hashes in memory from now on, those spilled read back."""
        np = numpy_module()
        pieces: list[list[Any]] = [[], [], [], []]
        for column, (_, fd) in enumerate(self._files):
            # the records of whole blocks only: a block cut short by the error is added again
            size = (
                self.count
                * np.dtype(_DTYPES[column]).itemsize
                * (len(FIELDS) if column == 3 else 1)
            )
            values = np.frombuffer(os.pread(fd, size, 0) if size else b"", _DTYPES[column])
            if len(values) * values.itemsize != size:
                raise OSError("a spilled column was cut short")
            pieces[column].append(values.reshape(-1, len(FIELDS)) if column == 3 else values)
        self.close()
        self._pieces = pieces


def _joined(pieces: list[Any]) -> Any:
    np = numpy_module()
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


def _bytes_of(array: Any, dtype: str) -> memoryview:
    np = numpy_module()
    flat = np.ascontiguousarray(array.astype(dtype, copy=False)).reshape(-1)
    return memoryview(flat.view(np.uint8))


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]
