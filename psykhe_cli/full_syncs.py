"""What is remembered of a target's full syncs (``full-syncs.json``, stored by ``state.py``):
the last completed one, those accepted and pending, those that may have been applied."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone


def utc_now() -> str:
    """The current time as ISO-8601 UTC with a ``Z``, as the state files store it."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True, kw_only=True)
class FullSync:
    """One soft_replace to a target: the last completed one, one accepted and pending, or one
    that may have been applied without an answer (no ingestion id)."""

    products: int
    variants: int | None = None
    ingestion_id: int | None = None
    time: str = field(default_factory=utc_now)
    #: the file (in ``baselines/``) of its product identifiers, when they were kept
    products_file: str | None = None
    #: the order it was remembered in among the target's syncs (0: before this was kept)
    sequence: int = 0


@dataclass(frozen=True, kw_only=True)
class FullSyncs:
    """What is remembered of a target's full syncs."""

    completed: FullSync | None = None
    #: accepted by the server, outcome not known yet; oldest first
    pending: tuple[FullSync, ...] = ()
    #: sent whole but never answered (lost answer, interrupted): the server may have applied
    #: them; kept until a full sync remembered after them completes; oldest first
    possibly_applied: tuple[FullSync, ...] = ()

    @property
    def reference(self) -> FullSync | None:
        """What the guard compares with: the largest of the completed, pending and possibly
        applied syncs."""
        known = [s for s in (self.completed, *self.pending, *self.possibly_applied) if s]
        return max(known, key=lambda s: (s.products, s.variants or 0), default=None)

    @property
    def next_sequence(self) -> int:
        """The ``sequence`` of the next sync remembered."""
        known = [s.sequence for s in (self.completed, *self.pending, *self.possibly_applied) if s]
        return max(known, default=0) + 1
