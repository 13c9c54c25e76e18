"""The parts of a WooCommerce export, each checked by a worker, joined into what one reader
finds (``shop_ranges.check_parts`` calls these in part order).

A part's worker settles the variations whose parent came earlier in the part and checks
every row it settled; the variations it left pending (their parent may be in a part before)
are settled here by ``WooJoin``, checked here, and woven into the part's result by line.
One reader yields a part's rows in line order but for a variation that waits for its
parent: that one it yields when a product with its reference comes (the join then refuses
the part: read in one process from there on), or at the end. So the woven result is what
one reader yields for the part, and the variations still waiting at the end are checked
last, as one reader yields them last.
"""

from __future__ import annotations

import bisect
import heapq
from array import array
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from psykhe_cli.feeds.delimited import Row
from psykhe_cli.feeds.woocommerce import WooJoin, WooPart
from psykhe_cli.validate.blocks import BlockParams, BlockResult, rebase
from psykhe_cli.validate.identity import run_product_hashes
from psykhe_cli.validate.rows import ALL, check_rows

S = TypeVar("S", list[Any], "array[int]")


def join_part(
    join: WooJoin, part: WooPart, result: BlockResult, lines_before: int, params: BlockParams
) -> tuple[BlockResult, int] | None:
    """The worker's ``result`` for ``part`` (renumbered after ``lines_before`` lines) with
    the rows of its pending variations woven in, and how many rows they added; None when
    the join refuses the part."""
    rows = join.join(part, lines_before)
    if rows is None:
        return None
    rebase(result, lines_before)
    if not rows:
        return result, 0
    extra = checked(rows, params)
    return weave(result, extra, params), extra.variants + extra.rejected_lines


def rest(join: WooJoin, params: BlockParams) -> Iterator[BlockResult]:
    """The variations still waiting once every part is joined, checked (a result from each
    that comes before the one before it, as ``check_rows`` gives them)."""
    return check_rows(_Rows(join.rest()), params, ALL)


def checked(rows: Iterable[Row], params: BlockParams) -> BlockResult:
    """``rows`` (in line order, already numbered in the file, no line of theirs counted)
    checked."""
    (result,) = check_rows(_Rows(rows), params, ALL)
    return result


class _Rows:
    """Rows whose lines are counted already (a reader that read no line)."""

    lines_read = 0

    def __init__(self, rows: Iterable[Row]) -> None:
        self._rows = rows

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)


def weave(into: BlockResult, extra: BlockResult, params: BlockParams) -> BlockResult:
    """One result of ``into``'s rows and ``extra``'s (other rows, on other lines), in line
    order, as ``check_rows`` gives it for the rows in that order."""
    out = BlockResult(lines=into.lines + extra.lines)
    out.variants = into.variants + extra.variants
    out.rejected_lines = into.rejected_lines + extra.rejected_lines
    out.errors = into.errors + extra.errors
    out.warnings = into.warnings + extra.warnings
    out.counts = dict(into.counts)
    for code, count in extra.counts.items():
        out.counts[code] = out.counts.get(code, 0) + count
    out.problems = list(heapq.merge(into.problems, extra.problems, key=_line))
    out.rejected = list(heapq.merge(into.rejected, extra.rejected, key=_line))
    # where each of extra's accepted rows goes among into's
    at = [bisect.bisect_left(into.accepted, line) for line in extra.accepted]
    out.accepted = _woven(into.accepted, extra.accepted, at)
    out.pair_hashes = _woven(into.pair_hashes, extra.pair_hashes, at)
    out.variant_hashes = _woven(into.variant_hashes, extra.variant_hashes, at)
    out.records = _woven(into.records, extra.records, at) if params.want_records else []
    assert into.keys is not None and extra.keys is not None
    out.keys = _woven(into.keys, extra.keys, at)
    pids = (pid for pid, _ in out.keys)
    out.product_hashes, firsts = run_product_hashes(pids, params.portable_hashes)
    out.product_ids = firsts if params.want_product_ids and firsts else None
    return out


def _line(item: tuple[Any, ...]) -> int:
    line: int = item[0]
    return line


def _woven(into: S, extra: S, at: list[int]) -> S:
    """``into`` with ``extra[i]`` put before ``into[at[i]]`` (``at`` ascending)."""
    out = into[:0]
    done = 0
    for position, item in zip(at, extra, strict=True):
        out += into[done:position]
        out.append(item)
        done = position
    out += into[done:]
    return out
