"""Block results folded, in input order, into the report and the events: counts, duplicates
across blocks (``HashSet64``), distinct products."""

from __future__ import annotations

import bisect
import itertools
from array import array
from typing import Any

import orjson

from psykhe_cli.feeds.blocks import split_lines
from psykhe_cli.feeds.ranges import read_again
from psykhe_cli.schema import ERROR, PRODUCT_DATA_KEY, PRODUCT_KEY, VARIANT_KEY, WARNING
from psykhe_cli.validate.blocks import BlockParams, BlockResult
from psykhe_cli.validate.events import (
    Encoded,
    Encoder,
    Event,
    Products,
    Records,
    RejectedLine,
    Wanted,
)
from psykhe_cli.validate.hashset import HashSet64, ProductHashes
from psykhe_cli.validate.report import FeedReport, Problem, ValidationOptions
from psykhe_cli.validate.rules import Issue, Rejected


class Merger:
    """Folds block results, in input order, into the report and the events (``out``)."""

    def __init__(
        self, options: ValidationOptions, wanted: Wanted, out: list[Event], *, portable: bool
    ) -> None:
        #: encodes each JSON Lines block's records where it is checked, asked block by block
        self._codec = wanted.codec if wanted.records else None
        if self._codec is not None and options.strict and wanted.rejected:
            raise ValueError("strict duplicates cannot be dropped from encoded pieces")
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
        )
        self._out = out
        self._uncounted_ids: list[list[str]] = []
        self._pairs = HashSet64()
        self._products = HashSet64()
        #: product hashes not counted yet: the count is only read at the end, and a big
        #: batch costs the hash set far less than a block's
        self._uncounted: list[array[int]] = []
        self._uncounted_size = 0
        #: results merged into the counts, their duplicates not looked for yet (``flush``)
        self._staged: list[
            tuple[str, BlockResult, int, bytes | None, tuple[str, int, int] | None]
        ] = []
        self._staged_pairs = 0

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
    ) -> None:
        """Add one block's result; ``block`` (JSON Lines) lets duplicates be named.

        ``reread`` — (path, offset, length) — says where to read the block again when a
        worker read it and duplicates need naming (rare: only then is it read twice).
        """
        report = self.report
        report.lines += result.lines
        report.variants += result.variants
        report.rejected_lines += result.rejected_lines
        report.errors += result.errors
        report.warnings += result.warnings
        for code, count in result.counts.items():
            report.counts_by_code[code] = report.counts_by_code.get(code, 0) + count
        self._uncounted.append(result.product_hashes)
        if self.wanted.products:
            assert result.product_ids is not None or not result.product_hashes
            self._uncounted_ids.append(result.product_ids or [])
        self._uncounted_size += len(result.product_hashes)
        if self._uncounted_size >= _PRODUCTS_BATCH:
            self._count_products()
        self._staged.append((file, result, first_line, block, reread))
        self._staged_pairs += len(result.pair_hashes)
        if self._staged_pairs >= _PAIRS_BATCH or len(self._staged) >= _STAGED_BLOCKS:
            self.flush()

    def flush(self) -> None:
        """Find the duplicates of the results staged, and pass on what they found, in order.

        Pair hashes go to the hash set a few blocks at a time: a batch of 16k costs it about
        what one of a block's ~2,300 did. Problems and records come out a few blocks later.
        """
        staged, self._staged, self._staged_pairs = self._staged, [], 0
        hashes = [result.pair_hashes for _, result, _, _, _ in staged]
        repeats: list[list[int]] = [[] for _ in staged]
        ends = list(itertools.accumulate(map(len, hashes)))
        for index in self._pairs.add_all(_joined(hashes)):
            which = bisect.bisect_right(ends, index)
            repeats[which].append(index - (ends[which - 1] if which else 0))
        for (file, result, first_line, block, reread), repeated in zip(
            staged, repeats, strict=True
        ):
            self._pass_on(file, result, first_line, block, reread, repeated)

    def _pass_on(
        self,
        file: str,
        result: BlockResult,
        first_line: int,
        block: bytes | None,
        reread: tuple[str, int, int] | None,
        repeated: list[int],
    ) -> None:
        problems, rejected = result.problems, result.rejected
        if repeated:
            if block is None and reread is not None:
                block = read_again(*reread)
            problems, rejected = self._duplicates(result, repeated, first_line, block)
        for line, level, code, message, pid in problems:
            self._problem(Problem(file, line, level, code, message, pid))
        if self.wanted.rejected:
            for line, raw, issues, pid in rejected:
                found = [Problem(file, line, self._level(lv), c, m, pid) for lv, c, m in issues]
                self._out.append(RejectedLine(file, line, raw, found))
        records = result.records
        if repeated and self.options.strict:
            dropped = set(repeated)
            records = [r for i, r in enumerate(records) if i not in dropped]
        if result.encoded is not None:
            if len(result.accepted):
                self._out.append(Encoded(result.encoded))
        elif self.wanted.records and records:
            self._out.append(Records(records))

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

    def _duplicates(
        self, result: BlockResult, repeated: list[int], first_line: int, block: bytes | None
    ) -> tuple[list[tuple[int, str, str, str, str | None]], list[Rejected]]:
        level = ERROR if self.options.strict else WARNING
        lines = split_lines(block) if block is not None else []
        problems = list(result.problems)
        rejected = list(result.rejected)
        pid: str | None
        vid: Any
        for index in repeated:
            line = result.accepted[index]
            if result.keys is not None:
                pid, vid = result.keys[index]
                raw = result.records[index].rstrip(b"\n") if result.records else b""
            else:
                raw = lines[line - first_line].rstrip(b"\r")
                product = _product_of(raw) or {}
                pid, vid = product.get(PRODUCT_KEY), product.get(VARIANT_KEY)
            issue = _duplicate_issue(level, vid)
            problems.append((line, *issue, pid))
            rejected.append((line, raw, [issue], pid))
        count = len(repeated)
        report = self.report
        report.counts_by_code["duplicate_variant"] = (
            report.counts_by_code.get("duplicate_variant", 0) + count
        )
        if level == ERROR:
            report.errors += count
            report.variants -= count
            report.rejected_lines += count
        else:
            report.warnings += count
            rejected = result.rejected
        problems.sort(key=lambda problem: problem[0])
        rejected.sort(key=lambda item: item[0])
        return problems, rejected


#: product hashes counted at once
_PRODUCTS_BATCH = 1 << 16
#: pair hashes looked up at once (the results of ~7 blocks)
_PAIRS_BATCH = 1 << 14
#: results staged at most: blocks of blank or rejected lines add no pair hash, and would
#: otherwise be held, with their bytes, to the end of the feed
_STAGED_BLOCKS = 16


def _joined(arrays: list[array[int]]) -> array[int]:
    """The hashes of several results, one after another, in one array."""
    joined = array("Q")
    for hashes in arrays:
        joined.extend(hashes)
    return joined


def _duplicate_issue(level: str, vid: Any) -> Issue:
    if type(vid) is str:
        message = f"variant_identifier {vid!r} of this product already appeared earlier"
    else:
        message = "this product_identifier already appeared earlier without a variant_identifier"
    return (level, "duplicate_variant", message)


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
