"""The compression level of each block of an upload that streams while the feed is checked.

Blocks are deflated independently (``deflate.py``), so each may have its own level. Whichever
of the CPU and the link is the bottleneck decides: while the link waits for bytes (everything
written was sent), a faster level gets the feed checked and sent sooner; once compressed bytes
pile up waiting to be sent, spare CPU time buys a smaller body, so the level goes up a step,
and comes down again when the link catches up. ``--compression-level`` pins one level instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from psykhe_cli.deflate import DEFAULT_LEVEL

#: levels worth stepping through. On the bench catalog, in 1 MiB blocks (size ÷ input, MB/s a
#: core): 2 (isal): 0.085, 1250; 3: 0.071, 366; 4: 0.066, 264; 5: 0.060, 236; 6: 0.059, 172;
#: 8: 0.058, 101. 1 (isal) is no faster than 2 and 16% larger, 7 is larger than 6, and 9 no
#: smaller than 8 at three quarters of its speed.
LADDER = (2, 3, 4, 5, 6, 8)
#: seconds of sending waiting (compressed bytes not yet taken by the link, at the rate it has
#: taken them so far) above which the link is the bottleneck: the level goes up a step
HIGH_WATER = 0.5
#: below this the link is about to run dry: the level goes down a step
LOW_WATER = 0.1
#: bytes the link must have taken before an idle link counts as a fast one (a level below the
#: start): until the socket buffers on both sides are full (megabytes), a slow link takes the
#: body as fast as it is made
BUFFERED = 8 * 1024 * 1024
#: blocks between two changes: a level chosen now shows in the backlog only once the blocks
#: in flight in the workers ahead of it are written
SETTLE_BLOCKS = 4


class Pacer:
    """Chooses the level of each block to compress, from ``backlog()``: the seconds it would
    take the link to send what is written but not sent yet (NaN while nothing is known: the
    level stays), and ``sent()``, the bytes the link took so far. Called once per block, in
    feed order."""

    def __init__(
        self,
        backlog: Callable[[], float],
        sent: Callable[[], int] = lambda: BUFFERED,
        *,
        ladder: tuple[int, ...] = LADDER,
        start: int = DEFAULT_LEVEL,
        high: float = HIGH_WATER,
        low: float = LOW_WATER,
        settle: int = SETTLE_BLOCKS,
    ) -> None:
        self._backlog, self._sent = backlog, sent
        self._ladder = ladder
        self._high, self._low, self._settle = high, low, settle
        self._step = self._start = ladder.index(start)
        self._blocks = 0
        self._changed_at = 0
        #: how many blocks were given each level
        self.used: Counter[int] = Counter()

    def __call__(self) -> int:
        self._blocks += 1
        if self._blocks - self._changed_at >= self._settle:
            waiting = self._backlog()
            # below the start, only a link left idle justifies the bigger body: as soon as
            # bytes wait at all, go back up
            high = self._high if self._step >= self._start else 2 * self._low
            if waiting > high:
                self._move(+1)
            elif waiting < self._low and (self._step > self._start or self._sent() >= BUFFERED):
                self._move(-1)
        level = self._ladder[self._step]
        self.used[level] += 1
        return level

    def _move(self, by: int) -> None:
        step = min(max(self._step + by, 0), len(self._ladder) - 1)
        if step != self._step:
            self._step, self._changed_at = step, self._blocks

    def describe(self) -> str:
        """The levels given, e.g. ``3×12, 5×9, 8×436`` (blocks at each)."""
        return ", ".join(f"{level}×{count}" for level, count in sorted(self.used.items()))
