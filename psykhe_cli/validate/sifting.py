"""A block's accepted records handed to the consumer's ``RecordSieve`` where the block is
checked: the records it leaves out never reach the encoder."""

from __future__ import annotations

import itertools
from typing import Any

from psykhe_cli.validate.events import Encoder, RecordSieve


def sift(
    lines: list[bytes],
    accepted: range | list[int],
    rewritten: dict[int, bytes],
    sieve: RecordSieve,
    encode: Encoder | None,
) -> tuple[list[bytes], Any, Any, Any]:
    """``(records, kept, answer, encoded)`` of a block's ``lines`` (those ``accepted``, as
    ``rewritten`` where they are): which the sieve keeps (None: all, and nothing is done
    here), its answer, and the kept records — encoded with ``encode``, else as they are."""
    records = [rewritten.get(i) or lines[i].removesuffix(b"\r") + b"\n" for i in accepted]
    kept, answer = sieve(records)
    if kept is None:
        return [], kept, answer, None
    chosen = list(itertools.compress(records, kept))
    if encode is None:
        return chosen, kept, answer, None
    return [], kept, answer, encode(b"".join(chosen), len(chosen)) if chosen else None
