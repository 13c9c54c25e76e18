"""A block's accepted records handed to the consumer's ``RecordSieve`` where the block is
checked: the records it leaves out never reach the encoder."""

from __future__ import annotations

import itertools
import operator
from typing import Any, Protocol

from psykhe_cli.schema import PRODUCT_KEY, VARIANT_KEY
from psykhe_cli.validate.events import Encoder, RecordSieve

_PRODUCT_OF = operator.attrgetter(PRODUCT_KEY)
_VARIANT_OF = operator.attrgetter(VARIANT_KEY)


class Sifting(Protocol):
    """What ``sift`` needs of a block's parameters (``blocks.BlockParams``)."""

    @property
    def sieve(self) -> RecordSieve | None: ...

    @property
    def encode(self) -> Encoder | None: ...


def sift(
    lines: list[bytes],
    accepted: range | list[int],
    rewritten: dict[int, bytes],
    identified: tuple[list[Any], tuple[list[str], list[Any]] | None],
    params: Sifting,
) -> tuple[list[bytes], Any, Any, Any]:
    """``(records, kept, answer, encoded)`` of a block's ``lines`` (those ``accepted``, as
    ``rewritten`` where they are; ``identified``: their keys, and their identifiers when
    known): which the sieve keeps (None: all, and nothing is done here), its answer, and the
    kept records — encoded with ``params.encode``, else as they are."""
    assert params.sieve is not None
    records = [rewritten.get(i) or lines[i].removesuffix(b"\r") + b"\n" for i in accepted]
    keys, identifiers = identified
    if identifiers is None:
        identifiers = list(map(_PRODUCT_OF, keys)), list(map(_VARIANT_OF, keys))
    return sift_records(records, identifiers, params)


def sift_records(
    records: list[bytes], identifiers: tuple[list[str], list[Any]], params: Sifting
) -> tuple[list[bytes], Any, Any, Any]:
    """``sift`` of records already normalized (a shop export's rows), with their product
    and variant ``identifiers``."""
    assert params.sieve is not None
    kept, answer = params.sieve(records, identifiers)
    if kept is None:
        return [], kept, answer, None
    chosen = list(itertools.compress(records, kept))
    if params.encode is None:
        return chosen, kept, answer, None
    return [], kept, answer, params.encode(b"".join(chosen), len(chosen)) if chosen else None
