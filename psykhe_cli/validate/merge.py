"""Block results folded, in input order, into the report and the events: counts, records
given twice (``FirstSeen``), distinct products (``HashSet64``).

A line whose variant id an earlier line gave (``identity.variant_hash``) is a repeat: of the same
product, a warning naming the earlier line (``duplicate_variant``; an error with ``--strict``);
of another product, an error naming both (``shared_variant_identifier``), as the server keeps
one record per variant id and one product would overwrite the other. The earlier line is kept
and the later one is the error: the earlier one was passed on, maybe sent, when the later one
is read."""

from __future__ import annotations

import bisect
import itertools
from array import array
from collections.abc import Callable
from typing import Any

import orjson

from psykhe_cli.feeds.blocks import split_lines
from psykhe_cli.feeds.ranges import read_again
from psykhe_cli.schema import ERROR, PRODUCT_DATA_KEY, PRODUCT_KEY, VARIANT_KEY, WARNING
from psykhe_cli.validate.blocks import BlockParams, BlockResult, check_block
from psykhe_cli.validate.events import (
    Compared,
    Encoded,
    Encoder,
    Event,
    Products,
    Records,
    RejectedLine,
    Wanted,
)
from psykhe_cli.validate.hashset import HashSet64, ProductHashes
from psykhe_cli.validate.identity import pair_hash, run_product_hashes
from psykhe_cli.validate.repeats import FirstSeen, Repeat
from psykhe_cli.validate.report import FeedReport, Problem, ValidationOptions
from psykhe_cli.validate.rules import Issue, Rejected


class Merger:
    """Folds block results, in input order, into the report and the events (``out``)."""

    def __init__(
        self, options: ValidationOptions, wanted: Wanted, out: list[Event], *, portable: bool
    ) -> None:
        #: encodes each JSON Lines block's records where it is checked, asked block by block
        self._codec = wanted.codec if wanted.records else None
        self.options = options
        self.wanted = wanted
        self.report = FeedReport()
        self.params = BlockParams(
            options.strict,
            wanted.records,
            wanted.rejected,
            options.max_problems,
            portable,
            want_product_ids=wanted.products,
            sieve=wanted.sieve if wanted.records else None,
        )
        self._out = out
        self._uncounted_ids: list[list[str]] = []
        self._seen = FirstSeen()
        self._products = HashSet64()
        #: product hashes not counted yet: the count is only read at the end, and a big
        #: batch costs the hash set far less than a block's
        self._uncounted: list[array[int]] = []
        self._uncounted_size = 0
        #: results merged into the counts, their duplicates not looked for yet (``flush``)
        self._staged: list[_Staged] = []
        self._staged_pairs = 0
        #: pairs staged before a flush: when records are wanted, one block's at first, so that
        #: the first records reach a streamed upload at once, doubling up to ``_PAIRS_BATCH``
        self._batch = 1 if wanted.records else _PAIRS_BATCH

    def next_params(self) -> BlockParams:
        """The parameters of the next JSON Lines block to check, in feed order."""
        if self._codec is None:
            return self.params
        encode: Encoder = self._codec.encoder()
        return self.params._replace(encode=encode)

    def merge(
        self,
        file: str,
        result: BlockResult,
        first_line: int,
        block: bytes | None,
        *,
        reread: tuple[str, int, int] | None = None,
        records_again: Callable[[], list[bytes]] | None = None,
    ) -> None:
        """Add one block's result; ``block`` (JSON Lines) lets duplicates be named.

        ``reread`` — (path, offset, length) — says where to read the block again when a
        worker read it and duplicates need naming (rare: only then is it read twice).
        ``records_again``: for rows whose records were encoded where they were checked (a
        shop export's part), makes them again, every accepted one, when duplicates need
        them: to name a rejected row's record and to encode the others without it.
        """
        report = self.report
        report.lines += result.lines
        report.variants += result.variants
        report.rejected_lines += result.rejected_lines
        report.errors += result.errors
        report.warnings += result.warnings
        for code, count in result.counts.items():
            report.counts_by_code[code] = report.counts_by_code.get(code, 0) + count
        self._staged.append((file, result, first_line, block, reread, records_again))
        self._staged_pairs += len(result.pair_hashes)
        if self._staged_pairs >= self._batch or len(self._staged) >= _STAGED_BLOCKS:
            self._batch = min(2 * max(self._staged_pairs, 1), _PAIRS_BATCH)
            self.flush()

    def flush(self) -> None:
        """Find the repeats of the results staged, and pass on what they found, in order.

        Variant hashes go to the hash set a few blocks at a time: a batch of 16k costs it
        about what one of a block's ~2,300 did. Problems and records come out a few blocks
        later (for a push, the first block's at once: see ``_batch``).
        """
        staged, self._staged, self._staged_pairs = self._staged, [], 0
        results = [result for _, result, *_ in staged]
        repeats: list[list[Repeat]] = [[] for _ in staged]
        ends = list(itertools.accumulate(len(result.variant_hashes) for result in results))
        found = self._seen.add_all(
            _joined([result.variant_hashes for result in results]),
            [result.accepted for result in results],
            _joined([result.pair_hashes for result in results]),
        )
        for repeat in found:
            which = bisect.bisect_right(ends, repeat.position)
            start = ends[which - 1] if which else 0
            repeats[which].append(repeat._replace(position=repeat.position - start))
        for staging, repeated in zip(staged, repeats, strict=True):
            self._pass_on(staging, repeated)

    def _pass_on(self, staged: _Staged, repeated: list[Repeat]) -> None:
        file, result, first_line, block, reread, records_again = staged
        problems, rejected = result.problems, result.rejected
        dropped: set[int] = set()
        #: every accepted line's record, made again (``records_again``; for a JSON Lines
        #: block, only if a line of it is dropped)
        again: list[bytes] | None = None
        if repeated:
            if block is None and reread is not None:
                block = read_again(*reread)
            if records_again is not None:
                again = records_again()
            problems, rejected, dropped = self._repeats(result, repeated, first_line, block, again)
        for line, level, code, message, pid in problems:
            self._problem(Problem(file, line, level, code, message, pid))
        if self.wanted.rejected:
            for line, raw, issues, pid in rejected:
                found = [Problem(file, line, self._level(lv), c, m, pid) for lv, c, m in issues]
                self._out.append(RejectedLine(file, line, raw, found))
        sieve = self.params.sieve
        if sieve is not None and result.keys is not None and result.records:  # CSV rows
            identifiers = [pid for pid, _ in result.keys], [vid for _, vid in result.keys]
            result.kept, result.compared = sieve(result.records, identifiers)
            if result.kept is not None:
                result.records = list(itertools.compress(result.records, result.kept))
        if result.compared is not None:
            self._out.append(Compared(result.compared, tuple(sorted(dropped))))
        records, kept = result.records, result.kept  # the records the sieve kept, only
        products, ids = result.product_hashes, result.product_ids
        if dropped:
            # each record's index among the accepted lines (an encoded block: no record here)
            every = range(len(records) if kept is None else len(kept))
            indexes = every if kept is None else itertools.compress(every, kept)
            records = [r for i, r in zip(indexes, records, strict=False) if i not in dropped]
            products, ids = self._products_kept(result, first_line, block, dropped)
        self._uncounted.append(products)
        if self.wanted.products:
            assert ids is not None or not products
            self._uncounted_ids.append(ids or [])
        self._uncounted_size += len(products)
        if self._uncounted_size >= _PRODUCTS_BATCH:
            self._count_products()
        if result.encoded is not None:
            if dropped:  # rare: the block's kept lines encoded again, here
                assert self._codec is not None
                if again is None:
                    assert block is not None
                    again = self._block_records(block, first_line)
                kept_again = [
                    record
                    for index, record in enumerate(again)
                    if index not in dropped and _kept(kept, index)
                ]
                if kept_again:
                    encode = self._codec.encoder()
                    self._out.append(Encoded(encode(b"".join(kept_again), len(kept_again))))
            elif len(result.accepted):
                self._out.append(Encoded(result.encoded))
        elif self.wanted.records and records:
            self._out.append(Records(records))

    def _products_kept(
        self, result: BlockResult, first_line: int, block: bytes | None, dropped: set[int]
    ) -> tuple[array[int], list[str]]:
        """The product hashes (and identifiers) of a block's accepted lines but ``dropped``:
        a product whose one line gives another's variant id is not sent, nor counted."""
        if result.keys is not None:
            pids = [pid for pid, _ in result.keys]
        else:
            assert block is not None
            lines = split_lines(block)
            pids = [
                (_product_of(lines[line - first_line].rstrip(b"\r")) or {}).get(PRODUCT_KEY, "")
                for line in result.accepted
            ]
        kept = (pid for index, pid in enumerate(pids) if index not in dropped)
        return run_product_hashes(kept, self.params.portable_hashes)

    def _block_records(self, block: bytes, first_line: int) -> list[bytes]:
        """The records of every accepted line of a JSON Lines block, checked again."""
        params = self.params._replace(want_records=True, encode=None, sieve=None)
        return check_block(block, first_line, params).records

    def finish(self) -> None:
        """Complete the report once every result is merged."""
        self.flush()
        self._count_products()

    def _count_products(self) -> None:
        hashes = _joined(self._uncounted)
        if not self.wanted.products:
            self.report.products += self._products.count_new(hashes)
        else:
            ids = list(itertools.chain.from_iterable(self._uncounted_ids))
            seen = self._products.add_all(hashes)
            if seen:
                again = set(seen)
                ids = [pid for index, pid in enumerate(ids) if index not in again]
            self.report.products += len(ids)
            if ids:
                self._out.append(Products(ids))
        self._uncounted, self._uncounted_ids, self._uncounted_size = [], [], 0

    def product_hashes(self) -> ProductHashes:
        """The feed's distinct products as sorted hashes (once every result is merged)."""
        return ProductHashes(self._products.sorted(), self.params.portable_hashes)

    def _problem(self, problem: Problem) -> None:
        if len(self.report.problems) < self.options.max_problems:
            self.report.problems.append(problem)
            self._out.append(problem)

    def _level(self, level: str) -> str:
        return ERROR if self.options.strict else level

    def _repeats(
        self,
        result: BlockResult,
        repeated: list[Repeat],
        first_line: int,
        block: bytes | None,
        again: list[bytes] | None,
    ) -> tuple[list[tuple[int, str, str, str, str | None]], list[Rejected], set[int]]:
        """A block's problems and rejected lines with its repeats added, and the indexes of
        the accepted lines that the repeats made errors (``again``: every accepted row's
        record, when the result carries them encoded)."""
        lines = split_lines(block) if block is not None else []
        problems = list(result.problems)
        rejected = list(result.rejected)
        dropped: set[int] = set()
        report = self.report
        pid: Any
        vid: Any
        for index, earlier, earlier_pair in repeated:
            line = result.accepted[index]
            if result.keys is not None:
                pid, vid = result.keys[index]
                records = again if again is not None else result.records
                raw = records[index].rstrip(b"\n") if records else b""
            else:
                raw = lines[line - first_line].rstrip(b"\r")
                product = _product_of(raw) or {}
                pid, vid = product.get(PRODUCT_KEY), product.get(VARIANT_KEY)
            if earlier_pair == result.pair_hashes[index]:
                issue = _repeated_issue(self._level(WARNING), pid, vid, earlier)
            else:
                portable = self.params.portable_hashes
                named = type(vid) is str and earlier_pair == pair_hash(vid, vid, portable)
                issue = _shared_issue(vid, earlier, vid if named else None)
            problems.append((line, *issue, pid))
            code = issue[1]
            report.counts_by_code[code] = report.counts_by_code.get(code, 0) + 1
            if issue[0] == ERROR:
                dropped.add(index)
                rejected.append((line, raw, [issue], pid))
                report.errors += 1
            else:
                report.warnings += 1
        report.variants -= len(dropped)
        report.rejected_lines += len(dropped)
        problems.sort(key=lambda problem: problem[0])
        rejected.sort(key=lambda item: item[0])
        return problems, rejected, dropped


#: a result as staged: file, result, first line, block, reread, records_again (``merge``)
_Staged = tuple[
    str,
    BlockResult,
    int,
    bytes | None,
    tuple[str, int, int] | None,
    Callable[[], list[bytes]] | None,
]

#: product hashes counted at once
_PRODUCTS_BATCH = 1 << 16
#: pair hashes looked up at once (the results of ~7 blocks)
_PAIRS_BATCH = 1 << 14
#: results staged at most: blocks of blank or rejected lines add no pair hash, and would
#: otherwise be held, with their bytes, to the end of the feed
_STAGED_BLOCKS = 16


def _kept(kept: Any, index: int) -> bool:
    """Whether the sieve kept accepted line ``index`` (``kept`` None: it kept them all)."""
    return kept is None or bool(kept[index])


def _joined(arrays: list[array[int]]) -> array[int]:
    """The hashes of several results, one after another, in one array."""
    joined = array("Q")
    for hashes in arrays:
        joined.extend(hashes)
    return joined


#: why a record given twice matters: what the server does with it
_ONE_RECORD = "the server keeps one record per variant id"


def _repeated_issue(level: str, pid: Any, vid: Any, earlier: int) -> Issue:
    """A line giving again the record of an earlier line of the same product."""
    if type(vid) is str:
        what = f"variant_identifier {vid!r} of product {pid!r}"
    else:
        what = f"product {pid!r} without a variant_identifier"
    message = f"{what} repeats line {earlier:,}; {_ONE_RECORD}, so this line replaces it"
    return (level, "duplicate_variant", message)


def _shared_issue(vid: Any, earlier: int, earlier_pid: str | None) -> Issue:
    """A line giving the variant id of an earlier line of another product (``earlier_pid``
    when it is known: the hashes tell only whether it is the variant id itself)."""
    owner = f"product {earlier_pid!r}'s" if earlier_pid is not None else "another product's"
    return (
        ERROR,
        "shared_variant_identifier",
        f"variant_identifier {vid!r} is also {owner} variant (line {earlier:,}); "
        f"{_ONE_RECORD}, so one product would overwrite the other",
    )


def _product_of(raw: bytes) -> dict[str, Any] | None:
    """The product object of a raw JSON line, when it has one (for naming problems)."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(obj) is not dict:
        return None
    product = obj.get(PRODUCT_DATA_KEY, obj)
    return product if type(product) is dict else None
