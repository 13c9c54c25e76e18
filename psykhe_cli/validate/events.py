"""What a feed check yields, what its consumer asks for, and how accepted lines are encoded.

Validation knows nothing of where accepted lines go: a consumer that wants each block's lines
turned into something else where the block is checked (compressed, in the workers) supplies
a ``BlockCodec``; the engine hands its pieces on as ``Encoded``, in feed order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from psykhe_cli.validate.report import Problem

OnProblem = Callable[[Problem], None]
OnRecords = Callable[[list[bytes]], None]
OnRejected = Callable[[str, int, bytes, list[Problem]], None]
OnProgress = Callable[[int, int], None]
OnProducts = Callable[[list[str]], None]
OnNotice = Callable[[str], None]

#: encodes one block's normalized lines (their bytes, how many); runs where the block is
#: checked, so it must pickle (a module-level function, or a ``functools.partial`` of one)
Encoder = Callable[[bytes, int], Any]


class BlockCodec(Protocol):
    """How the consumer wants each JSON Lines block's accepted lines encoded."""

    def encoder(self) -> Encoder:
        """The encoder of the next block, asked once per block in feed order (so it may
        change from block to block, e.g. a compression level paced by the link)."""
        ...


class RecordSieve(Protocol):
    """Compares each block's accepted records where the block is checked (in the workers);
    it must pickle. ``psykhe push`` supplies one (``catalog.Sieve``)."""

    def __call__(
        self, records: list[bytes], identifiers: tuple[list[str], list[Any]]
    ) -> tuple[Any, Any]:
        """Which of ``records`` (normalized lines; ``identifiers``: their product and
        variant identifiers) to keep — a sequence of booleans, or None for all — and an
        answer handed back as ``Compared``, in feed order."""
        ...


@dataclass(frozen=True)
class Wanted:
    """What a consumer asks the producer for, beyond the report and the problems.

    - ``records``: the normalized JSON Lines (each ending in ``b"\\n"``) of every line
      without an error, as ``Records``: wrapped lines byte-exact (only CR/LF and a leading BOM
      removed), bare products wrapped as ``{"operation":"insert","product_data":…}`` around
      the user's bytes, ``action`` renamed ``operation``, CSV rows as wrapped JSON.
    - ``codec`` (with ``records``): each JSON Lines block's records are encoded where they are
      checked (in the workers, which keeps both cores busy) and arrive as ``Encoded`` pieces
      instead of ``Records``; so do the rows of a shop export read in parts by the workers.
      Other CSV rows still come as ``Records``, in input order with the pieces. A block
      whose lines become errors only once merged (a variant id given earlier) is encoded
      again without them, in the calling process.
    - ``rejected``: each line (CSV row) with an error, as ``RejectedLine``.
    - ``products``: the product identifiers of the accepted lines, in input order, each
      product once (its first time), as ``Products``.
    - ``product_hashes``: the report's ``product_hashes`` holds the feed's distinct products
      as sorted hashes (``ProductHashes``), to compare with other identifiers.
    - ``sieve`` (with ``records``): each block's records are compared where they are checked
      (``RecordSieve``); only those it keeps are passed on, and its answers come as
      ``Compared``, each before its block's records.
    """

    records: bool = False
    codec: BlockCodec | None = None
    rejected: bool = False
    products: bool = False
    product_hashes: bool = False
    sieve: RecordSieve | None = None


@dataclass(frozen=True)
class Compared:
    """A ``RecordSieve``'s answer for one block (or one batch of CSV rows), and the indexes
    of the records it was given that became errors once merged (a variant id an earlier
    block gave): they are not passed on."""

    answer: Any
    left_out: tuple[int, ...] = ()


@dataclass(frozen=True)
class Records:
    """Normalized JSON Lines of accepted lines, in input order."""

    lines: list[bytes]


@dataclass(frozen=True)
class Encoded:
    """One block's accepted lines as the ``BlockCodec``'s encoder made them (never empty)."""

    piece: Any


@dataclass(frozen=True)
class RejectedLine:
    """A line (CSV row) with an error: its raw bytes and every problem found on it."""

    file: str
    line: int
    raw: bytes
    problems: list[Problem]


@dataclass(frozen=True)
class Products:
    """Product identifiers seen for the first time, in input order."""

    identifiers: list[str]


@dataclass(frozen=True)
class Notice:
    """What the user should know that is not a problem (e.g. the format a feed was read as)."""

    text: str


@dataclass(frozen=True)
class Progress:
    """Lines checked and raw bytes read so far (at most ~10 times a second)."""

    lines: int
    bytes_read: int


#: what ``FeedCheck`` yields, in input order
Event = Problem | Records | Encoded | RejectedLine | Products | Notice | Progress | Compared
