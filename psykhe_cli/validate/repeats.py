"""Records a feed gives twice: which line first gave each one, and whether for the same product.

The server keeps one record per variant id (``blocks.variant_hash``: the variant_identifier,
or a product's own record when it has none). A line whose record an earlier line gave already
is a repeat; ``FirstSeen`` answers, for each, the earlier line and whether it was the same
product (the same ``pair_hash``) or another one.
"""

from __future__ import annotations

from array import array
from typing import NamedTuple

from psykhe_cli.validate.hashset import HashSet64

#: below this many repeats in a batch, each earlier line is looked up by ``array.index``
_FEW = 8


class Repeat(NamedTuple):
    """A line whose record an earlier line gave already."""

    #: its position in the batch given to ``FirstSeen.add_all``
    position: int
    #: the line that gave the record first, and that line's pair hash
    first_line: int
    first_pair: int


class FirstSeen:
    """The first line of each record of a feed, to name it when a later line repeats it.

    Memory: the ``HashSet64`` of variant hashes (8 bytes a record) finds repeats at the speed
    it always had; three append-only arrays (variant hash, line, pair hash: 24 bytes a line,
    24 MB for 1,000,000 lines, no per-entry objects) are searched only when a batch holds a
    repeat, for the earliest line of each record repeated.
    """

    def __init__(self) -> None:
        self._set = HashSet64()
        self._variants: array[int] = array("Q")
        self._lines: array[int] = array("Q")
        self._pairs: array[int] = array("Q")

    def add_all(self, variants: array[int], lines: array[int], pairs: array[int]) -> list[Repeat]:
        """Add a batch of accepted lines (in feed order); return its repeats, in order."""
        repeated = self._set.add_all(variants)
        self._variants.extend(variants)
        self._lines.extend(lines)
        self._pairs.extend(pairs)
        if not repeated:
            return []
        first = self._first_positions({variants[index] for index in repeated})
        return [
            Repeat(index, self._lines[at], self._pairs[at])
            for index in repeated
            for at in (first[variants[index]],)
        ]

    def _first_positions(self, wanted: set[int]) -> dict[int, int]:
        """The position in the arrays of the first line of each variant hash of ``wanted``."""
        if len(wanted) <= _FEW:  # a C loop that stops at the first match
            return {value: self._variants.index(value) for value in wanted}
        from psykhe_cli.validate.lines import load_numpy

        np = load_numpy()
        every = np.frombuffer(self._variants, dtype=np.uint64)
        candidates = np.fromiter(wanted, dtype=np.uint64, count=len(wanted))
        hits = np.flatnonzero(np.isin(every, candidates))
        values, first = np.unique(every[hits], return_index=True)
        return dict(zip(values.tolist(), hits[first].tolist(), strict=True))
