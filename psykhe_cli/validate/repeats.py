"""Records a feed gives twice: which line first gave each one, and whether for the same product.

The server keeps one record per variant id (``identity.variant_hash``: the variant_identifier,
or a product's own record when it has none). A line whose record an earlier line gave already
is a repeat; ``FirstSeen`` answers, for each, the earlier line and whether it was the same
product (the same ``pair_hash``) or another one.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Sequence
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
    it always had; two append-only arrays (variant hash, pair hash: 16 bytes a line, 16 MB
    for 1,000,000 lines, no per-entry objects) are searched only when a batch holds a
    repeat, for the earliest line of each record repeated. Line numbers are kept per block:
    a block of consecutive lines (every line accepted, none blank: the common case) costs
    two numbers, any other block an array of each line's offset from its first (2 bytes a
    line when the block spans fewer than 65,536 lines).
    """

    def __init__(self) -> None:
        self._set = HashSet64()
        self._variants: array[int] = array("Q")
        self._pairs: array[int] = array("Q")
        #: per block: where it starts in the arrays, and its first line
        self._batch_starts: array[int] = array("Q")
        self._batch_firsts: array[int] = array("Q")
        #: the offsets from their first of the lines of the blocks whose lines are not
        #: consecutive, by block
        self._scattered: dict[int, array[int]] = {}

    def add_all(
        self, variants: array[int], lines: Sequence[array[int]], pairs: array[int]
    ) -> list[Repeat]:
        """Add a batch of accepted lines (in feed order); return its repeats, in order.

        ``lines``: the batch's line numbers, block by block (each block's rising: the blocks
        of two feed files each count from 1).
        """
        repeated = self._set.add_all(variants)
        start = len(self._variants)
        for block in lines:
            self._add_lines(start, block)
            start += len(block)
        self._variants.extend(variants)
        self._pairs.extend(pairs)
        if not repeated:
            return []
        first = self._first_positions({variants[index] for index in repeated})
        return [
            Repeat(index, self._line_at(at), self._pairs[at])
            for index in repeated
            for at in (first[variants[index]],)
        ]

    def _add_lines(self, start: int, lines: array[int]) -> None:
        if not lines:
            return
        batch = len(self._batch_starts)
        self._batch_starts.append(start)
        self._batch_firsts.append(lines[0])
        # a block's accepted lines rise, each once: a span as long as the block is a run
        span = lines[-1] - lines[0]
        if span != len(lines) - 1:
            # kept as offsets from the first line, in 2 bytes where they fit (a shop export's
            # part: records of many lines each), not 8 a line
            first = lines[0]
            offsets = array("H" if span < 1 << 16 else "Q", [line - first for line in lines])
            self._scattered[batch] = offsets

    def _line_at(self, at: int) -> int:
        batch = bisect.bisect_right(self._batch_starts, at) - 1
        offset = at - self._batch_starts[batch]
        scattered = self._scattered.get(batch)
        if scattered is not None:
            offset = scattered[offset]
        return self._batch_firsts[batch] + offset

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
