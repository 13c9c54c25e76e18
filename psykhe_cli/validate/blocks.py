"""One block of lines checked, in a worker process or in-process (rows: ``rows.py``)."""

from __future__ import annotations

import gc
import itertools
import operator
from array import array
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from psykhe_cli.feeds.blocks import non_blank_lines
from psykhe_cli.feeds.ranges import read_lines
from psykhe_cli.schema import (
    DOCUMENTED_OPERATIONS,
    ERROR,
    OPERATION_KEY,
    PRODUCT_DATA_KEY,
    PRODUCT_KEY,
    VARIANT_KEY,
)
from psykhe_cli.validate.events import Encoder, RecordSieve
from psykhe_cli.validate.fast import Decoders, not_none, not_none_at, prove_lines
from psykhe_cli.validate.identity import PAIR_MIX, pair_hash, product_hash, variant_hash
from psykhe_cli.validate.lines import Lines
from psykhe_cli.validate.rules import (
    Issue,
    Rejected,
    check_line,
    has_colon_escape,
    may_hold_long_integer,
    product_is_fine,
    wrap_bare,
)
from psykhe_cli.validate.sifting import sift

# -- one block of lines (runs in a worker process or in-process) --------------------------


class BlockParams(NamedTuple):
    """What a worker needs to know besides the block."""

    strict: bool
    want_records: bool
    #: keep every problem (for on_rejected); else at most this many per block
    keep_all: bool
    max_problems: int
    #: hash with blake2b, equal in every process, for workers that are not forked
    portable_hashes: bool = False
    #: encode the block's normalized lines here, instead of returning them (``BlockCodec``)
    encode: Encoder | None = None
    #: return the product identifier beside each product hash (``BlockResult.product_ids``)
    want_product_ids: bool = False
    sieve: RecordSieve | None = None  # compares the accepted records, keeps some


@dataclass
class BlockResult:
    """One block's findings, small enough to send back from a worker."""

    lines: int = 0
    variants: int = 0
    rejected_lines: int = 0
    errors: int = 0
    warnings: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    #: ``(line, level, code, message, product_identifier)``, in line order
    problems: list[tuple[int, str, str, str, str | None]] = field(default_factory=list)
    #: line number of each accepted line; pair_hashes, variant_hashes and records follow
    #: the same order
    accepted: array[int] = field(default_factory=lambda: array("Q"))
    pair_hashes: array[int] = field(default_factory=lambda: array("Q"))
    variant_hashes: array[int] = field(default_factory=lambda: array("Q"))
    product_hashes: array[int] = field(default_factory=lambda: array("Q"))
    #: the product identifier of each of ``product_hashes``, when asked for
    product_ids: list[str] | None = None
    records: list[bytes] = field(default_factory=list)
    #: ``(line, raw bytes, issues)`` of lines with an error, when asked for
    rejected: list[Rejected] = field(default_factory=list)
    #: ``(product_identifier, variant_identifier)`` of accepted lines, when cheap to keep
    keys: list[tuple[str, str | None]] | None = None
    #: product_identifier of the previous accepted line: consecutive variants hash it once
    last_pid: str | None = None
    #: the normalized lines encoded, instead of ``records`` (``BlockParams.encode``)
    encoded: Any = None
    compared: Any = None  # the sieve's answer
    kept: Any = None  # the accepted lines the sieve kept (None: all); only those are passed on

    def add(self, line: int, issues: list[Issue], pid: str | None, params: BlockParams) -> bool:
        """Count ``issues`` of ``line``; True when one of them is an error."""
        has_error = False
        for level, code, message in issues:
            level = ERROR if params.strict else level
            if level == ERROR:
                self.errors += 1
                has_error = True
            else:
                self.warnings += 1
            self.counts[code] = self.counts.get(code, 0) + 1
            if params.keep_all or len(self.problems) < params.max_problems:
                self.problems.append((line, level, code, message, pid))
        return has_error

    def accept(
        self, line: int, product: dict[str, Any], record: bytes | None, params: BlockParams
    ) -> None:
        """Count an accepted line and remember what deduplication needs (``record``: its
        normalized line, None unless ``params.want_records``)."""
        pid = product[PRODUCT_KEY]
        self.variants += 1
        self.accepted.append(line)
        portable = params.portable_hashes
        vid = product.get(VARIANT_KEY)
        self.pair_hashes.append(pair_hash(pid, vid, portable))
        self.variant_hashes.append(variant_hash(pid, vid, portable))
        if pid != self.last_pid:
            self.product_hashes.append(product_hash(pid, portable))
            self.last_pid = pid
            if params.want_product_ids:
                if self.product_ids is None:
                    self.product_ids = []
                self.product_ids.append(pid)
        if record is not None:
            self.records.append(record)


def check_block(
    block: bytes,
    first_line: int,
    params: BlockParams,
    decoders: Decoders | None = None,
    numpy: Any = None,
) -> BlockResult:
    """Check a block of whole JSON lines whose first line is ``first_line``.

    ``decoders``: what the proof learned of this run's products in this process, and learns
    from this block (``fast.Decoders``); without them, it learns from this block only.
    ``numpy``: the module when the caller loaded it (``lines.load_numpy``: the workers do),
    to vectorize; None for the same results without it.

    The cyclic garbage collector is paused meanwhile: a block's parsed lines are acyclic and
    freed when it ends, and collecting while thousands of them are alive doubled the cost.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        decoders = decoders or Decoders()
        lines = Lines(block, numpy)
        # a block whose every line opens an object holds no blank line: the common case,
        # told by the scan the proof needs anyway, so it pays nothing more
        if lines.each_opens_an_object():
            return _check_block(lines, first_line, params, decoders, numpy)
        # blank lines are dropped first, in C: checked one by one, a block of them took
        # seconds and a hundred MB (feeds.blocks.non_blank_lines)
        non_blank = non_blank_lines(block, first_line)
        if non_blank is None:
            return _check_block(lines, first_line, params, decoders, numpy)
        result = _check_block(Lines(non_blank.data, numpy), 0, params, decoders, numpy)
        _renumber(result, non_blank.numbers)
        result.lines = non_blank.lines
        return result
    finally:
        if collecting:
            gc.enable()


def _check_block(
    lines: Lines, first_line: int, params: BlockParams, decoders: Decoders, numpy: Any
) -> BlockResult:
    """The work of ``check_block``.

    This is the hot path of the whole program. ``fast.prove_lines`` proves most lines fine
    in C (msgspec against the table's types); only the others are looked at one by one, by
    ``check_line``, which reaches the verdicts. When the proof is refused for the block, every
    line is parsed with orjson in a few C-level calls and the common case is recognised per
    line. The accepted lines' numbers and hashes are then built with C-level maps.
    """
    result = BlockResult()
    block = lines.block
    result.lines = len(lines)
    proof = prove_lines(block, lines, decoders, numpy)
    objects: list[Any] | None = None
    if proof is None:
        exact_keys = has_colon_escape(block)
        exact_ints = may_hold_long_integer(block)
        if not (exact_keys or exact_ints):
            objects = _parse_all(block, lines.list())
        proven: list[Any] = [None] * len(lines)
        bare: list[int] = []
        unproven: list[int] = list(range(len(lines)))
    else:  # the lines left are few: each is looked at on its own
        exact_keys = exact_ints = True
        proven, bare, unproven = proof.products, proof.bare, proof.unproven
    want_records = params.want_records
    #: the records of accepted lines that are not sent as written
    rewritten = {i: wrap_bare(lines[i]) for i in bare} if want_records else {}
    operations = DOCUMENTED_OPERATIONS
    for index in unproven:
        raw = lines[index]
        obj = objects[index] if objects is not None else None
        product = obj.get(PRODUCT_DATA_KEY) if type(obj) is dict else None
        if not (
            type(product) is dict
            and type(operation := obj.get(OPERATION_KEY)) is str  # type: ignore[union-attr]
            and operation in operations
            and product_is_fine(product)
        ):
            raw = raw.removesuffix(b"\r")
            if not raw or raw.isspace():
                continue
            record, issues, product = check_line(
                raw, exact_keys=exact_keys, exact_ints=exact_ints, want_record=want_records
            )
            if product is not None:
                decoders.learn(product)
            pid = pid_of(product)
            if issues and result.add(first_line + index, issues, pid, params):
                result.rejected_lines += 1
                if params.keep_all:
                    result.rejected.append((first_line + index, raw, issues, pid))
                continue
            assert product is not None
            if record is not None and record[:-1] != raw:
                rewritten[index] = record
        vid = product.get(VARIANT_KEY)
        proven[index] = _Key(product[PRODUCT_KEY], vid if type(vid) is str else None)
    if proof is not None and all(proven[i] is None for i in unproven):
        keys, identifiers = proof.fine, proof.identifiers  # the rules accepted no other line
    else:
        keys, identifiers = not_none(proven), None
    accepted = range(len(proven)) if len(keys) == len(proven) else not_none_at(proven)
    result.accepted = _line_numbers(first_line, accepted, numpy)
    result.variants = len(keys)
    hashes = _hashes(
        keys, params.portable_hashes, identifiers, want_ids=params.want_product_ids, numpy=numpy
    )
    result.pair_hashes, result.variant_hashes, result.product_hashes, result.product_ids = hashes
    if not want_records:
        return result
    if params.sieve is not None:  # what it leaves out is not encoded (records: all kept)
        sifted = sift(lines.list(), accepted, rewritten, (keys, identifiers), params)
        result.records, result.kept, result.compared, result.encoded = sifted
        if result.kept is not None:
            return result
    if params.encode is None or b"\r" in block:
        every = lines.list()
        records = [rewritten.get(i) or every[i].removesuffix(b"\r") + b"\n" for i in accepted]
        if params.encode is None:
            result.records = records
            return result
        data = b"".join(records)
    else:  # the block as it is, but for the lines not sent as written
        left_out = [i for i in unproven if proven[i] is None]
        data = _spliced(block, lines, rewritten, left_out)
    result.encoded = params.encode(data, len(accepted))
    return result


def _spliced(block: bytes, lines: Lines, rewritten: dict[int, bytes], left_out: list[int]) -> bytes:
    """``block`` with the lines of ``rewritten`` replaced and those of ``left_out`` left out,
    each line ending in a newline: slices of the block, not a copy of each line."""
    exceptions = set(rewritten).union(left_out)
    if not exceptions:
        return block if not block or block.endswith(b"\n") else block + b"\n"
    view, position = memoryview(block), 0
    pieces: list[bytes | memoryview] = []
    for index in sorted(exceptions):
        start, end = lines.span(index)
        if start > position:
            pieces.append(view[position:start])
        if index in rewritten:
            pieces.append(rewritten[index])
        position = end + 1  # past its newline
    pieces.append(view[position:])
    data = b"".join(pieces)
    return data if not data or data.endswith(b"\n") else data + b"\n"


class _Key(NamedTuple):
    """The identifiers of a line accepted by the rules, read like a proven line's struct."""

    product_identifier: str
    variant_identifier: str | None


_PRODUCT_OF = operator.attrgetter(PRODUCT_KEY)
_VARIANT_OF = operator.attrgetter(VARIANT_KEY)


def _line_numbers(first_line: int, indexes: range | list[int], numpy: Any) -> array[int]:
    """``first_line`` plus each index, as an array (with ``numpy``: ~100x faster)."""
    if numpy is None:
        return array("Q", map(first_line.__add__, indexes))
    if isinstance(indexes, range):
        numbers = numpy.arange(first_line, first_line + len(indexes), dtype=numpy.uint64)
    else:
        numbers = numpy.array(indexes, dtype=numpy.uint64) + numpy.uint64(first_line)
    return array("Q", numbers.tobytes())


def _hashes(
    keys: list[Any],
    portable: bool,
    identifiers: tuple[list[str], list[str]] | None = None,
    *,
    want_ids: bool = False,
    numpy: Any = None,
) -> tuple[array[int], array[int], array[int], list[str] | None]:
    """The pair hash and the variant hash of each key, and the product hash of each first
    variant of a product (consecutive variants hashed once): ``pair_hash``, ``variant_hash``
    and ``product_hash``, over a block; with ``want_ids``, the product identifier of each
    product hash too.

    With ``numpy`` (the workers load it), two C-level maps of ``hash`` and vector
    arithmetic; the same values without it. ``identifiers``: the keys' product and variant
    identifiers, when known already.
    """
    if identifiers is None:
        identifiers = list(map(_PRODUCT_OF, keys)), list(map(_VARIANT_OF, keys))
    pids, vids = identifiers
    if portable or numpy is None or not pids:
        firsts = [pid for pid, _ in itertools.groupby(pids)]
        flags = itertools.repeat(portable)
        pairs = array("Q", map(pair_hash, pids, vids, flags))
        variants = array("Q", map(variant_hash, pids, vids, flags))
        products = array("Q", map(product_hash, firsts, flags))
        return pairs, variants, products, firsts if want_ids else None
    count = len(pids)
    of_products = numpy.fromiter(map(hash, pids), numpy.int64, count).view(numpy.uint64)
    of_variants = numpy.fromiter(map(hash, vids), numpy.int64, count)
    pairs = (of_products * numpy.uint64(PAIR_MIX)) ^ of_variants.view(numpy.uint64)
    # a line without a variant_identifier is its product's one record: its pair's hash
    variants = numpy.where(of_variants == hash(None), pairs, of_variants.view(numpy.uint64))
    firsts = numpy.flatnonzero(numpy.concatenate(([True], of_products[1:] != of_products[:-1])))
    ids = list(map(pids.__getitem__, firsts.tolist())) if want_ids else None
    return (
        array("Q", pairs.tobytes()),
        array("Q", variants.tobytes()),
        array("Q", of_products[firsts].tobytes()),
        ids,
    )


class RangeResult(NamedTuple):
    """``check_range``'s answer: the block's result (lines numbered from 1) and where it was."""

    result: BlockResult
    #: file offset and length of the lines checked (the lines that start in the range)
    start: int
    length: int
    #: a line starting in the range runs past the line cap: nothing else was checked
    too_long: bool = False
    #: the path named another file than ``check_range``'s ``same``: nothing was checked
    changed: bool = False


def check_range(
    path: str,
    start: int,
    end: int,
    params: BlockParams,
    same: tuple[int, int] | None = None,
    decoders: Decoders | None = None,
    numpy: Any = None,
) -> RangeResult:
    """Check the lines of a plain file that start in ``[start, end)``, read here (see
    ``feeds.ranges.read_lines``: which lines, ``same``, the BOM and the line cap).

    A worker reads its own part of the file: the parent then hands over two numbers, not a
    megabyte. Lines are numbered from 1: the parent, which knows how many came before,
    renumbers them. ``decoders``, ``numpy``: as ``check_block``'s.
    """
    read = read_lines(path, start, end, same)
    if read.changed:
        return RangeResult(BlockResult(), start, 0, changed=True)
    if read.too_long:
        lines_before = read.data.count(b"\n")
        return RangeResult(BlockResult(lines=lines_before), read.start, 0, True)
    if not read.data:  # no line starts in the range
        return RangeResult(BlockResult(), read.start, 0)
    checked = check_block(read.data, 1, params, decoders, numpy)
    return RangeResult(checked, read.start, len(read.data))


def _renumber(result: BlockResult, numbers: array[int]) -> None:
    """Renumber a result whose lines were numbered from 0: line ``n`` is ``numbers[n]``."""
    number = numbers.__getitem__
    result.accepted = array("Q", map(number, result.accepted))
    result.problems = [(number(n), *rest) for n, *rest in result.problems]  # type: ignore[misc]
    result.rejected = [(number(n), *rest) for n, *rest in result.rejected]  # type: ignore[misc]


def rebase(result: BlockResult, offset: int) -> None:
    """Renumber a result whose lines were numbered from 1: add ``offset`` to every number."""
    if not offset:
        return
    import numpy as np  # loaded with the workers, the only ones to number from 1

    shifted = np.frombuffer(result.accepted, dtype=np.uint64) + np.uint64(offset)
    result.accepted = array("Q", shifted.tobytes())
    result.problems = [
        (n + offset, lv, code, msg, pid) for n, lv, code, msg, pid in result.problems
    ]
    result.rejected = [(n + offset, raw, issues, pid) for n, raw, issues, pid in result.rejected]


def _parse_all(block: bytes, lines: list[bytes]) -> list[Any] | None:
    """Every line parsed, or None when one does not parse or some object repeats a key.

    The caller has made sure no line spells a colon as an escape, so the colon counts of the
    raw lines and of their re-serialization agree exactly when no key is repeated.
    """
    try:
        objects = list(map(orjson.loads, lines))  # blank lines fail too: fine, rare
    except orjson.JSONDecodeError:
        return None
    # every line parsed, so the block holds no other bytes with a colon than those lines
    if block.count(b":") != orjson.dumps(objects).count(b":"):
        return None
    return objects


def pid_of(product: dict[str, Any] | None) -> str | None:
    """A product's identifier, None when it has none that is text."""
    if product is None:
        return None
    pid = product.get(PRODUCT_KEY)
    return pid if type(pid) is str else None
