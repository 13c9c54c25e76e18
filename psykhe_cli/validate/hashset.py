"""Exact sets of 64-bit hashes: with ``repeats.FirstSeen``, the state that grows with the feed."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

#: below this many entries a Python set is cheaper than starting numpy
_SMALL = 1 << 14
#: the filter in front of the sorted runs: 2**24 bits (2 MB), two set per entry in one byte
_FILTER_BITS = 24


class HashSet64:
    """An exact set of 64-bit hashes, for duplicate and distinct counting.

    Small sets are Python sets. Past ``_SMALL`` entries the set becomes sorted numpy runs
    merged like a binary counter (a log-structured merge), with a Bloom filter in front: a
    batch is sorted once, and only the few hashes the filter cannot rule out are looked up
    in the runs, by vectorised binary search. The new hashes become a run of their own.
    Every step is a C loop over a whole batch, where a hash table probed from Python cost
    a microsecond per hash in the process that merges the workers' results, and a binary
    search of every hash in every run most of a microsecond.

    Memory: 8 bytes per entry and the 2 MB filter, plus the two runs being merged (at most
    ~1.5x the largest run) for a moment: ~10 MB, with up to ~12 MB more while merging, for
    1,000,000 entries; ~70 bytes per entry below ``_SMALL``. With 64-bit hashes a false
    duplicate among 10**6 lines has a probability of ~3e-8; the filter only saves work.
    """

    def __init__(self) -> None:
        self._small: set[int] | None = set()
        #: sorted, disjoint runs, largest first
        self._runs: list[Any] = []
        self._filter: Any = None
        self.size = 0

    def add_all(self, hashes: Sequence[int]) -> list[int]:
        """Add ``hashes``; return the indexes of those present before (or earlier in the batch)."""
        small = self._small
        if small is None:
            return self._add_batch(hashes, want_indexes=True)
        present = []
        for index, value in enumerate(hashes):
            if value in small:
                present.append(index)
            else:
                small.add(value)
        self._grown()
        return present

    def count_new(self, hashes: Sequence[int]) -> int:
        """Add ``hashes``; return how many distinct ones were not present before."""
        small = self._small
        if small is None:
            return self._add_batch(hashes, want_indexes=False)
        before = len(small)
        small.update(hashes)
        self._grown()
        return len(small) - before

    def sorted(self) -> Any:
        """Every hash in the set, once, as a sorted numpy ``uint64`` array (a copy)."""
        from psykhe_cli.validate.lines import load_numpy

        np = load_numpy()
        if self._small is not None:
            values = np.fromiter(self._small, dtype=np.uint64, count=len(self._small))
        else:
            values = np.concatenate(self._runs) if self._runs else np.zeros(0, np.uint64)
        values.sort()
        return values

    def _grown(self) -> None:
        assert self._small is not None
        self.size = len(self._small)
        if self.size > _SMALL:
            self._grow_up()

    def _grow_up(self) -> None:
        from psykhe_cli.validate.lines import load_numpy

        np = load_numpy()
        assert self._small is not None
        run = np.fromiter(self._small, dtype=np.uint64, count=len(self._small))
        run.sort()
        self._filter = np.zeros(1 << (_FILTER_BITS - 3), dtype=np.uint8)
        self._mark(*self._filter_slots(run))
        self._runs, self._small = [run], None

    @overload
    def _add_batch(self, hashes: Sequence[int], want_indexes: Literal[True]) -> list[int]: ...
    @overload
    def _add_batch(self, hashes: Sequence[int], want_indexes: Literal[False]) -> int: ...
    def _add_batch(self, hashes: Sequence[int], want_indexes: bool) -> list[int] | int:
        """Add a batch to the sorted runs: the indexes of the hashes present before (or
        earlier in the batch), or, without ``want_indexes``, how many distinct ones are new."""
        import numpy as np

        if not len(hashes):
            return [] if want_indexes else 0
        if isinstance(hashes, array) and hashes.typecode == "Q":
            batch = np.frombuffer(hashes, dtype=np.uint64)  # the workers' arrays, not copied
        else:
            batch = np.fromiter(hashes, dtype=np.uint64, count=len(hashes))
        ordered = np.sort(batch)
        byte, bits = self._filter_slots(ordered)
        maybe = np.flatnonzero((self._filter[byte] & bits) == bits)
        repeated = ordered[1:] == ordered[:-1]  # later copies within the batch
        if len(maybe):
            needles = ordered[maybe]
            found = np.zeros(len(maybe), dtype=bool)
            for run in self._runs:
                at = np.minimum(np.searchsorted(run, needles), len(run) - 1)
                found |= run[at] == needles
            maybe = maybe[found]  # now: the indexes in ``ordered`` of hashes present before
        present: list[int] = []
        if len(maybe) or repeated.any():
            if want_indexes:
                present = self._present(batch, ordered[maybe])
            fresh = np.ones(len(ordered), dtype=bool)
            fresh[1:] = ~repeated
            fresh[maybe] = False
            ordered, byte, bits = ordered[fresh], byte[fresh], bits[fresh]
        if len(ordered):
            self._mark(byte, bits)
            self._push(ordered)
            self.size += len(ordered)
        return present if want_indexes else len(ordered)

    @staticmethod
    def _present(batch: Any, before: Any) -> list[int]:
        """Indexes of ``batch`` whose hash is in ``before`` or earlier in the batch."""
        import numpy as np

        order = np.argsort(batch, kind="stable")  # equal hashes: the first one first
        values = batch[order]
        again = np.zeros(len(values), dtype=bool)
        again[1:] = values[1:] == values[:-1]
        again |= np.isin(values, before)
        return sorted(order[again].tolist())

    def _filter_slots(self, values: Any) -> tuple[Any, Any]:
        """Each value's byte of the filter (its top bits) and two bits in it (lower bits).

        Both bits in one byte: a lookup is one gather. Sorted values give sorted bytes.
        """
        import numpy as np

        byte = (values >> np.uint64(64 - _FILTER_BITS + 3)).astype(np.intp)
        low = values.astype(np.uint8)  # the lowest 8 bits: two bit numbers of 3 bits
        one = np.uint8(1)
        bits = (one << (low & np.uint8(7))) | (one << ((low >> np.uint8(3)) & np.uint8(7)))
        return byte, bits

    def _mark(self, byte: Any, bits: Any) -> None:
        """Set the filter's ``bits`` in each ``byte`` (sorted)."""
        import numpy as np

        starts = np.flatnonzero(np.concatenate(([True], byte[1:] != byte[:-1])))
        self._filter[byte[starts]] |= np.bitwise_or.reduceat(bits, starts)

    def _push(self, run: Any) -> None:
        import numpy as np

        runs = self._runs
        runs.append(run)
        while len(runs) > 1 and len(runs[-2]) <= 2 * len(runs[-1]):
            newer = runs.pop()
            older = runs.pop()
            merged = np.concatenate((older, newer))
            del older, newer
            merged.sort(kind="stable")  # timsort: two sorted runs merge in linear time
            runs.append(merged)


@dataclass(frozen=True)
class ProductHashes:
    """A feed's distinct product identifiers as sorted 64-bit hashes, and how to hash more.

    The hashes are those the run's validation made (``identity.product_hash``): salted per
    interpreter unless ``portable``, so they compare only with hashes made by ``hashes_of``
    in the same process, never with hashes stored by another run.
    """

    #: sorted numpy ``uint64`` array
    sorted: Any
    portable: bool

    def hashes_of(self, identifiers: Sequence[str]) -> Any:
        """The hashes of ``identifiers`` made as the feed's were, as a numpy array."""
        import itertools

        import numpy as np

        from psykhe_cli.validate.identity import product_hash

        if not self.portable:
            hashed = map(hash, identifiers)
            return np.fromiter(hashed, np.int64, len(identifiers)).view(np.uint64)
        flags = itertools.repeat(True)
        return np.fromiter(map(product_hash, identifiers, flags), np.uint64, len(identifiers))

    def contains(self, hashes: Any) -> Any:
        """A boolean numpy array: which of ``hashes`` are the feed's."""
        import numpy as np

        found = self.sorted
        contained = np.zeros(len(hashes), dtype=bool)
        if not len(found):
            return contained
        # sorted needles walk the array once, where others jump about it (~5x slower)
        order = np.argsort(hashes)
        needles = hashes[order]
        at = np.minimum(np.searchsorted(found, needles), len(found) - 1)
        contained[order] = found[at] == needles
        return contained
