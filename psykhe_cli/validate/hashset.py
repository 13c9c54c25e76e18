"""The only state that grows with the feed: exact sets of 64-bit hashes."""

from __future__ import annotations

from array import array
from collections.abc import Sequence


class HashSet64:
    """An exact set of 64-bit hashes in flat arrays, for duplicate and distinct counting.

    Memory: one 8-byte slot per entry in tables kept at most 3/4 full, i.e. 11-21 bytes per
    entry (a Python set of ints takes ~70). The feed's (product_identifier,
    variant_identifier) pairs cost that per accepted line, the distinct product_identifiers
    the same per product: ~21 MB for 1,000,000 lines of ~3 variants a product. The 16
    partitions (by the top 4 bits) grow one at a time, so growing never holds two copies of
    the whole set. With 64-bit hashes a false duplicate among 10**6 lines has probability
    ~3e-8. The value 0 marks an empty slot: a hash of 0 (probability 2**-64) goes unnoticed.
    """

    _PARTS = 16
    _SHIFT = 60

    def __init__(self) -> None:
        self._tables = [array("Q", bytes(8 * 4096)) for _ in range(self._PARTS)]
        self._masks = [4096 - 1] * self._PARTS
        self._used = [0] * self._PARTS
        self.size = 0

    def add_all(self, hashes: Sequence[int]) -> list[int]:
        """Add ``hashes``; return the indexes of those present before (or earlier in the batch)."""
        self._make_room(len(hashes))
        present: list[int] = []
        tables, masks, used, shift = self._tables, self._masks, self._used, self._SHIFT
        for index, value in enumerate(hashes):
            part = value >> shift
            table = tables[part]
            mask = masks[part]
            slot = value & mask
            held = table[slot]
            while held:
                if held == value:
                    present.append(index)
                    break
                slot = (slot + 1) & mask
                held = table[slot]
            else:
                table[slot] = value
                used[part] += 1
        self.size += len(hashes) - len(present)
        return present

    def reserve(self, coming: int) -> None:
        """Grow now, while the tables are small, for about ``coming`` more entries."""
        self._make_room(coming // self._PARTS + coming // (8 * self._PARTS))

    def _make_room(self, coming: int) -> None:
        # room for the whole batch in every partition, so no table can fill up mid-batch
        for part, table in enumerate(self._tables):
            while (self._used[part] + coming) * 4 > len(table) * 3:
                table = self._grown(table)
            self._tables[part] = table
            self._masks[part] = len(table) - 1

    @staticmethod
    def _grown(table: array[int]) -> array[int]:
        bigger = array("Q", bytes(16 * len(table)))
        mask = len(bigger) - 1
        for value in table:
            if value:
                slot = value & mask
                while bigger[slot]:
                    slot = (slot + 1) & mask
                bigger[slot] = value
        return bigger
