"""A block's lines, split lazily; numpy, loaded once for whoever vectorizes with it."""

from __future__ import annotations

import itertools
import os
import sys
from typing import Any

from psykhe_cli.feeds.blocks import split_lines

_NEWLINE, _BRACE = ord("\n"), ord("{")
_PLUS_ONE = (1).__add__
_BLAS_THREADS = "OPENBLAS_NUM_THREADS"


class Lines:
    """The lines of a block without their newlines, as ``split_lines`` gives them, split
    only when asked to.

    With ``numpy`` (the module, passed by whoever loaded it: the workers) the newlines are
    found in one vector scan and a line is sliced when it is asked for: once a block is
    decoded in one call, the proof needs only the few lines it leaves. Without it (None) the
    block is split at once.
    """

    def __init__(self, block: bytes, numpy: Any = None) -> None:
        self.block = block
        self._numpy = numpy
        self._split: list[bytes] | None = None
        self._ends: list[int] | None = None
        if numpy is None:
            self._split = split_lines(block)
            self._count = len(self._split)
        else:
            self._newlines = numpy.flatnonzero(numpy.frombuffer(block, numpy.uint8) == _NEWLINE)
            self._count = len(self._newlines) + (0 if block.endswith(b"\n") else bool(block))

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> bytes:
        if self._split is not None:
            return self._split[index]
        start, end = self.span(index)
        return self.block[start:end]

    def list(self) -> list[bytes]:
        """Every line."""
        if self._split is None:
            self._split = split_lines(self.block)
        return self._split

    def span(self, index: int) -> tuple[int, int]:
        """Where line ``index`` starts in the block, and where its newline is (or the end)."""
        ends = self._ends
        if ends is None:
            if self._numpy is None:  # each newline: past the one before, and the line
                lengths = map(_PLUS_ONE, map(len, self.list()))
                ends = list(itertools.accumulate(lengths, initial=-1))[1:]
            else:
                ends = self._newlines.tolist()
                if len(ends) < self._count:
                    ends.append(len(self.block))
            self._ends = ends
        return (ends[index - 1] + 1 if index else 0), ends[index]

    def each_opens_an_object(self) -> bool:
        """True when every line starts with ``{``: none is blank."""
        if not self._count:
            return True
        if self._numpy is None:
            return all(map(bytes.startswith, self.list(), itertools.repeat(b"{")))
        numpy = self._numpy
        data = numpy.frombuffer(self.block, numpy.uint8)
        starts = self._newlines[: self._count - 1] + 1
        return bool(data[0] == _BRACE and (data[starts] == _BRACE).all())


def load_numpy() -> Any:
    """Import numpy (once) without OpenBLAS threads: nothing here multiplies matrices, and
    its threads spun for ~0.1 s of CPU at import, on a core the workers need.

    Importing it costs ~0.1 s, more than checking a small feed: only the workers load it, and
    hand it to the code that vectorizes (``Lines``, ``fast.prove_lines``, ``blocks``).
    """
    if "numpy" not in sys.modules:
        saved = os.environ.get(_BLAS_THREADS)
        os.environ[_BLAS_THREADS] = "1"
        try:
            import numpy  # noqa: F401
        finally:
            if saved is None:
                del os.environ[_BLAS_THREADS]
            else:
                os.environ[_BLAS_THREADS] = saved
    return sys.modules["numpy"]
