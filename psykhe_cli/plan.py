"""The deactivation plan of a soft_replace: what the feed would deactivate, add and keep.

The baseline is the product identifiers of the last full sync to the target (kept by
``state.py`` in ``baselines/``). Before a soft_replace is sent, every identifier of the baseline
is looked up among the feed's products: those missing would be **deactivated**, those present
are **kept**, and the feed's other products are **new**.

A *products file* holds the distinct identifiers of one feed, in feed order, as chunks of
``CHUNK`` identifiers, each a msgpack list, zlib-compressed, behind its 4-byte length::

    b"PSYKHE-PRODUCTS\\x01"  (len | zlib(msgpack([id, ...])))*

A products file keeps no count of records (variants) per product, so how many records a plan
touches is known exactly only in some cases (none deactivated, all of them, one record a
product); otherwise ``RecordCount`` gives the range it must lie in, never a guess.

A million identifiers of ~15 characters take ~4-6 MB. The comparison holds the feed's sorted
64-bit hashes (8 bytes a product, made while the feed was validated) and one chunk at a time:
no set of a million strings. Hashes are salted per process, so the baseline keeps identifiers,
and they are hashed again, as the feed's were, when compared.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

MAGIC = b"PSYKHE-PRODUCTS\x01"
#: identifiers per chunk: bounds what a reader holds at once
CHUNK = 1 << 16
#: identifiers the question and ``--json`` name
SAMPLE = 10
_LENGTH = struct.Struct("<I")


class ProductsFileError(ValueError):
    """Raised when a products file is damaged or not one."""


class ProductsWriter:
    """Writes a products file: ``add`` identifiers (each once) in order, then ``close``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._pending: list[str] = []
        self._handle: IO[bytes] | None = path.open("wb")
        self._handle.write(MAGIC)

    def add(self, identifiers: list[str]) -> None:
        """Append ``identifiers`` (the engine's ``on_products``)."""
        self._pending.extend(identifiers)
        self.count += len(identifiers)
        while len(self._pending) >= CHUNK:
            self._write(self._pending[:CHUNK])
            del self._pending[:CHUNK]

    def _write(self, identifiers: list[str]) -> None:
        import msgspec

        assert self._handle is not None
        data = zlib.compress(msgspec.msgpack.encode(identifiers), 1)
        self._handle.write(_LENGTH.pack(len(data)) + data)

    def close(self) -> None:
        """Write what is left and make it durable."""
        if self._handle is None:
            return
        if self._pending:
            self._write(self._pending)
            self._pending = []
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self._handle = None


def read_products(path: Path) -> Iterator[list[str]]:
    """The identifiers of a products file, a chunk at a time; ``ProductsFileError``."""
    import msgspec

    from psykhe_cli.errors import ConfigError
    from psykhe_cli.statefiles import open_state_file

    decoder = msgspec.msgpack.Decoder(list[str])
    try:
        opened = open_state_file(path)  # never a FIFO or a device: they could block or not end
    except ConfigError as exc:
        raise ProductsFileError(exc.message) from None
    with opened as handle:
        if handle.read(len(MAGIC)) != MAGIC:
            raise ProductsFileError(f"{path} is not a products file")
        while header := handle.read(_LENGTH.size):
            if len(header) < _LENGTH.size:
                raise ProductsFileError(f"{path} is truncated")
            (size,) = _LENGTH.unpack(header)
            data = handle.read(size)
            try:
                yield decoder.decode(zlib.decompress(data))
            except (zlib.error, msgspec.DecodeError) as exc:
                raise ProductsFileError(f"{path} is damaged: {exc}") from None


@dataclass(frozen=True)
class RecordCount:
    """How many variant records: exactly ``low`` when ``high == low``, else at least ``low``
    and at most ``high`` (None: no bound known)."""

    low: int
    high: int | None

    @property
    def exact(self) -> bool:
        """True when the count is known."""
        return self.high == self.low

    def text(self) -> str:
        """``12 records``, ``4 to 44 records``, ``at least 4 records``."""
        noun = "record" if self.exact and self.low == 1 else "records"
        if self.exact:
            return f"{self.low:,} {noun}"
        if self.high is None:
            return f"at least {self.low:,} {noun}"
        return f"{self.low:,} to {self.high:,} {noun}"

    def to_json(self) -> dict[str, int | None]:
        """``{"at_least": 4, "at_most": 44}``; the two are equal when the count is known."""
        return {"at_least": self.low, "at_most": self.high}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordCount:
        """The count ``to_json`` wrote."""
        return cls(data["at_least"], data["at_most"])

    @classmethod
    def known(cls, count: int) -> RecordCount:
        """A count known exactly."""
        return cls(count, count)


def _records(products: int, others: int, records: int | None) -> RecordCount:
    """The records of ``products`` of a catalog whose ``others`` products hold the rest of its
    ``records`` (None: not known): each product has one record at least."""
    if products == 0:
        return RecordCount(0, 0)
    if records is None:
        return RecordCount(products, None)
    if others == 0:
        return RecordCount(records, records)
    return RecordCount(products, max(products, records - others))


@dataclass
class Plan:
    """What a soft_replace would do to the baseline's products, and so to their records."""

    #: products in the baseline and not in the feed
    deactivate: int = 0
    #: products in the feed and not in the baseline
    new: int = 0
    #: products in both
    kept: int = 0
    #: the first ``SAMPLE`` identifiers that would be deactivated, in the baseline's order
    sample: list[str] = field(default_factory=list)
    #: the records (variants) of the feed, and of the baseline when it was remembered
    feed_records: int | None = None
    baseline_records: int | None = None

    @property
    def deactivate_records(self) -> RecordCount:
        """The baseline's records of the products it would deactivate."""
        return _records(self.deactivate, self.kept, self.baseline_records)

    @property
    def new_records(self) -> RecordCount:
        """The feed's records of its new products."""
        return _records(self.new, self.kept, self.feed_records)

    @property
    def kept_records(self) -> RecordCount:
        """The feed's records of the products it keeps."""
        return _records(self.kept, self.new, self.feed_records)

    @property
    def records_known(self) -> bool:
        """True when every count of records is exact, not a range."""
        counts = (self.deactivate_records, self.new_records, self.kept_records)
        return all(count.exact for count in counts)


#: said where a plan shows a range of records
#: (short enough for the question's panel at 80 columns)
RANGE_NOTE = "a range where psykhe cannot know the records per product"


def plan_counts(plan: Plan) -> list[tuple[str, str]]:
    """``("deactivate", "12 records (4 products)")``, then new and kept: the records, as the
    server counts them, with the products they belong to."""
    return [
        ("deactivate", counted(plan.deactivate_records, plan.deactivate)),
        ("new", counted(plan.new_records, plan.new)),
        ("kept", counted(plan.kept_records, plan.kept)),
    ]


def counted(records: RecordCount, products: int) -> str:
    """``12 records (4 products)``: the one way counts are written beside each other."""
    return f"{records.text()} ({products:,} {'product' if products == 1 else 'products'})"


def compare(
    feed: Any,
    feed_products: int,
    baseline: Path,
    *,
    plan_file: IO[bytes] | None = None,
    records: tuple[int | None, int | None] = (None, None),
) -> Plan:
    """Compare the feed (its ``ProductHashes``, ``feed_products`` distinct) with a baseline
    products file; every identifier that would be deactivated goes to ``plan_file``.
    ``records``: the feed's records and the baseline's, where known."""
    plan = Plan(feed_records=records[0], baseline_records=records[1])
    for identifiers in read_products(baseline):
        found = feed.contains(feed.hashes_of(identifiers))
        kept = int(found.sum())
        plan.kept += kept
        if kept == len(identifiers):
            continue
        missing = [identifiers[i] for i in (~found).nonzero()[0].tolist()]
        plan.deactivate += len(missing)
        plan.sample.extend(missing[: SAMPLE - len(plan.sample)])
        if plan_file is not None:
            plan_file.write(plan_lines(missing))
    plan.new = feed_products - plan.kept
    return plan


def compare_writing(
    feed: Any,
    feed_products: int,
    baseline: Path,
    plan_file: Path | None,
    records: tuple[int | None, int | None] = (None, None),
) -> Plan:
    """``compare``, writing ``--plan-file`` as ``outputs.OutputFile`` does; when the baseline
    cannot be read, an older plan file is withdrawn and the error raised."""
    from psykhe_cli.outputs import OutputFile

    output = OutputFile(plan_file, "--plan-file") if plan_file is not None else None
    try:
        handle = output.open() if output is not None else None
        plan = compare(feed, feed_products, baseline, plan_file=handle, records=records)
        if output is not None:
            output.commit()
    except (OSError, ProductsFileError):
        if output is not None:
            output.withdraw()  # no plan: an older one must not pass for this run's
        raise
    finally:
        if output is not None:
            output.abort()
    return plan


def withdraw_plan_file(plan_file: Path | None) -> None:
    """There is no plan this time: an older ``--plan-file`` must not pass for this run's."""
    if plan_file is not None:
        from psykhe_cli.outputs import OutputFile

        OutputFile(plan_file, "--plan-file").withdraw()


def plan_lines(identifiers: list[str]) -> bytes:
    """Lines of ``--plan-file``, one identifier each (see ``plan_line``)."""
    text = "\n".join(identifiers)
    if "\r" in text or text.count("\n") != len(identifiers) - 1:  # some hold a line break
        return b"".join(map(plan_line, identifiers))
    return (text + "\n").encode("utf-8", "surrogatepass")


def plan_line(identifier: str) -> bytes:
    """One line of ``--plan-file``: the identifier, JSON-quoted only if it holds a line break."""
    if "\n" in identifier or "\r" in identifier:
        import orjson

        return orjson.dumps(identifier) + b"\n"
    return identifier.encode("utf-8", "surrogatepass") + b"\n"
