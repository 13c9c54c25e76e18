"""The feed-checking engine: read, hand blocks to workers, merge their results in order."""

from __future__ import annotations

import bisect
import contextlib
import functools
import itertools
import os
import signal
import sys
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson

from psykhe_cli.deflate import Deflated
from psykhe_cli.errors import InputError, WorkerKilled
from psykhe_cli.feeds import STDIN, FeedSource, OpenFeed, open_feed
from psykhe_cli.feeds.blocks import first_non_blank_line, iter_blocks, line_too_long, split_lines
from psykhe_cli.feeds.formats import describe, left_out, row_reader
from psykhe_cli.feeds.jsonl import reject_json_document
from psykhe_cli.feeds.ranges import read_again
from psykhe_cli.schema import (
    ERROR,
    PRODUCT_DATA_KEY,
    PRODUCT_KEY,
    VARIANT_KEY,
    WARNING,
)
from psykhe_cli.validate.blocks import (
    BlockParams,
    BlockResult,
    RangeResult,
    check_block,
    check_range,
    check_rows,
    rebase,
)
from psykhe_cli.validate.fast import Decoders, load_numpy
from psykhe_cli.validate.hashset import HashSet64, ProductHashes
from psykhe_cli.validate.report import FeedReport, Problem, ValidationOptions
from psykhe_cli.validate.rules import Issue, Rejected

# -- the engine ---------------------------------------------------------------------------

OnProblem = Callable[[Problem], None]
OnRecords = Callable[[list[bytes]], None]
OnRejected = Callable[[str, int, bytes, list[Problem]], None]
OnProgress = Callable[[int, int], None]
OnProducts = Callable[[list[str]], None]
OnNotice = Callable[[str], None]


@dataclass(frozen=True)
class Wanted:
    """What a consumer asks the producer for, beyond the report and the problems.

    - ``records``: the normalized JSON Lines (each ending in ``b"\\n"``) of every line
      without an error, as ``Records``: wrapped lines byte-exact (only CR/LF and a leading BOM
      removed), bare products wrapped as ``{"operation":"insert","product_data":…}`` around
      the user's bytes, ``action`` renamed ``operation``, CSV rows as wrapped JSON.
    - ``deflate_level`` (with ``records``): JSON Lines blocks are compressed where they are
      checked (in the workers, which keeps both cores busy) and arrive as ``Deflated``
      pieces instead of ``Records``: a level, or a function called for each block, in feed
      order, that gives its level (``pacing.Pacer``). CSV rows still come as ``Records``,
      in input order with the pieces. Not with ``strict`` and ``rejected`` together:
      strict duplicates must be dropped from what is sent.
    - ``rejected``: each line (CSV row) with an error, as ``RejectedLine``.
    - ``products``: the product identifiers of the accepted lines, in input order, each
      product once (its first time), as ``Products``.
    - ``product_hashes``: the report's ``product_hashes`` holds the feed's distinct products
      as sorted hashes (``ProductHashes``), to compare with other identifiers.
    """

    records: bool = False
    deflate_level: int | Callable[[], int] | None = None
    rejected: bool = False
    products: bool = False
    product_hashes: bool = False


@dataclass(frozen=True)
class Records:
    """Normalized JSON Lines of accepted lines, in input order."""

    lines: list[bytes]


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


@dataclass(frozen=True)
class WorkersStarted:
    """Worker processes run and have their first blocks: this process mostly waits for them
    from now on, and the consumer may start a thread of its own. Not before: workers are
    forked, and a process with threads is never forked (a run that began without threads
    then checks the rest of its feeds in this one process). Once at most."""


#: what ``FeedCheck`` yields, in input order
Event = Problem | Records | Deflated | RejectedLine | Products | Notice | Progress | WorkersStarted


class FeedCheck:
    """Validation as a producer: read and check every feed in one pass, yielding what was
    found and what was accepted in input order; ``report`` is complete once it is exhausted.

    Iterate it inside ``with`` (or exhaust it): leaving early shuts the workers down. Raises
    ``InputError`` when a feed cannot be read to its end (missing, a directory, truncated
    gzip, a JSON document instead of JSON Lines, a line over 16 MiB, a bad CSV header): what
    was yielded before stays valid, but the feed is never taken as shorter. ``stdin`` is read
    for the source ``-`` (default: this process's standard input). Problems come the first
    ``options.max_problems`` only (the report's counts stay complete).
    """

    def __init__(
        self,
        sources: Iterable[FeedSource],
        options: ValidationOptions | None = None,
        wanted: Wanted = Wanted(),
        *,
        stdin: BinaryIO | None = None,
    ) -> None:
        self._sources = sources
        self.options = options or ValidationOptions()
        self.wanted = wanted
        self._stdin = stdin
        self.report = FeedReport()
        self._events: Iterator[Event] = self._produce()

    def __iter__(self) -> Iterator[Event]:
        return self._events

    def __enter__(self) -> FeedCheck:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop early: the workers are shut down."""
        close = getattr(self._events, "close", None)
        if close is not None:
            close()

    def _produce(self) -> Iterator[Event]:
        options, wanted = self.options, self.wanted
        out: list[Event] = []
        progress = _Progress(out)
        with _Workers(options, out) as workers, workers.explaining_a_death():
            merger = _Merger(options, wanted, out, portable=workers.portable)
            self.report = merger.report
            for source in self._sources:
                feed = open_feed(
                    source, self._stdin if self._stdin is not None else sys.stdin.buffer
                )
                merger.report.files.append(source.name)
                if feed.detected and feed.format not in ("jsonl", "csv", "tsv"):
                    out.append(Notice(f"reading {source.name} as {describe(feed.format)}"))
                try:
                    if feed.format == "jsonl":
                        yield from _check_jsonl(feed, merger, workers, progress, out)
                    else:
                        yield from _check_rows(feed, merger, progress, out)
                    feed.check_unchanged()  # what was read is one version of the file
                except InputError:
                    merger.flush()  # what the lines before found is reported all the same
                    yield from _drain(out)
                    raise
                finally:
                    # the workers may have read most of a plain file themselves
                    progress.finish_file(max(feed.bytes_read, progress.file_bytes))
                    feed.close()
                yield from _drain(out)
        merger.finish()
        if wanted.product_hashes:
            merger.report.product_hashes = merger.product_hashes()
        progress.report(merger.report.lines, force=True)
        yield from _drain(out)


def _drain(out: list[Event]) -> Iterator[Event]:
    """What was found since the last time, in order."""
    if out:
        found = out[:]
        out.clear()
        yield from found


def check_feeds(
    sources: Iterable[FeedSource],
    options: ValidationOptions | None = None,
    *,
    stdin: BinaryIO | None = None,
    on_problem: OnProblem | None = None,
    on_records: OnRecords | None = None,
    on_rejected: OnRejected | None = None,
    on_progress: OnProgress | None = None,
    on_notice: OnNotice | None = None,
    on_products: OnProducts | None = None,
    want_product_hashes: bool = False,
) -> FeedReport:
    """Run a ``FeedCheck`` to its end, handing its events to callbacks; return the report.

    ``on_records`` asks for ``Records``, ``on_rejected`` for ``RejectedLine``\\s,
    ``on_products`` for ``Products`` (see ``Wanted``).
    """
    wanted = Wanted(
        records=on_records is not None,
        rejected=on_rejected is not None,
        products=on_products is not None,
        product_hashes=want_product_hashes,
    )
    with FeedCheck(sources, options, wanted, stdin=stdin) as check:
        for event in check:
            if type(event) is Problem:
                if on_problem is not None:
                    on_problem(event)
            elif type(event) is Records:
                assert on_records is not None
                on_records(event.lines)
            elif type(event) is RejectedLine:
                assert on_rejected is not None
                on_rejected(event.file, event.line, event.raw, event.problems)
            elif type(event) is Progress:
                if on_progress is not None:
                    on_progress(event.lines, event.bytes_read)
            elif type(event) is Notice:
                if on_notice is not None:
                    on_notice(event.text)
            elif type(event) is Products:
                assert on_products is not None
                on_products(event.identifiers)
    return check.report


def _check_jsonl(
    feed: OpenFeed, merger: _Merger, workers: _Workers, progress: _Progress, out: list[Event]
) -> Iterator[Event]:
    name = feed.source.name
    inflight: deque[tuple[Any, int, bytes]] = deque()
    seen_a_line = False
    path = _plain_file(feed)
    # a plain file's size is known (when it was opened): a big one is read by the workers
    identity = feed.identity
    size = identity.size if identity is not None else 0
    blocks = iter_blocks(feed.chunks, name, block_size=merger.options.block_size)
    for first_line, block in blocks:
        if not seen_a_line:
            seen_a_line = _reject_document(name, first_line, block)
        if path is not None and identity is not None and workers.start(size, ranges=True):
            same = (identity.device, identity.inode)
            yield from _check_ranges(path, size, same, name, merger, workers, progress, out)
            return
        if not workers.start(feed.bytes_read):
            checked = check_block(block, first_line, merger.next_params(), workers.learned)
            merger.merge(name, checked, first_line, block)
        else:
            submitted = workers.submit(check_block, block, first_line, merger.next_params())
            inflight.append((submitted, first_line, block))
            while len(inflight) > 2 * workers.count:  # bounds the blocks held in memory
                pending, start, held = inflight.popleft()
                merger.merge(name, workers.result(pending), start, held)
        progress.update(merger.report.lines, feed.bytes_read)
        yield from _drain(out)
    while inflight:
        pending, start, held = inflight.popleft()
        merger.merge(name, workers.result(pending), start, held)
        yield from _drain(out)


def _plain_file(feed: OpenFeed) -> str | None:
    """The absolute path of a feed that is a plain, uncompressed regular file, else None."""
    path = feed.source.path
    if path == STDIN or feed.bytes_source.compressed or feed.identity is None:
        return None
    return os.path.abspath(path)


def _check_ranges(
    path: str,
    size: int,
    same: tuple[int, int],
    name: str,
    merger: _Merger,
    workers: _Workers,
    progress: _Progress,
    out: list[Event],
) -> Iterator[Event]:
    """Check ``path`` (``size`` bytes) in byte ranges that the workers read themselves,
    each making sure it opened the file ``same`` (device, inode) that was opened here."""
    step = merger.options.block_size
    inflight: deque[Any] = deque()

    def merge_next() -> None:
        checked: RangeResult = inflight.popleft().result()
        if checked.changed:
            raise feed_changed(name)
        first_line = merger.report.lines + 1
        if checked.too_long:
            raise line_too_long(name, first_line + checked.result.lines)
        rebase(checked.result, first_line - 1)
        merger.merge(
            name, checked.result, first_line, None, reread=(path, checked.start, checked.length)
        )
        progress.update(merger.report.lines, checked.start + checked.length)

    for offset in range(0, size, step):
        inflight.append(
            workers.submit(
                check_range, path, offset, min(offset + step, size), merger.next_params(), same
            )
        )
        yield from _drain(out)  # WorkersStarted, the first time
        # bounds the results held (~120 KB each), deep enough that a worker ahead of the
        # one whose result is merged next still has ranges to check
        while len(inflight) > 4 * workers.count:
            merge_next()
            yield from _drain(out)
    while inflight:
        merge_next()
        yield from _drain(out)


def feed_changed(name: str) -> InputError:
    """A worker opened another file than the one the feed named when it was opened."""
    return InputError(
        f"{name} changed while it was read; nothing was sent",
        hint="write the feed to another name and rename it into place when complete",
    )


def _reject_document(name: str, first_line: int, block: bytes) -> bool:
    found = first_non_blank_line(block)
    if found is not None:
        reject_json_document(name, first_line + found[0], found[1])
    return found is not None


def _check_rows(
    feed: OpenFeed, merger: _Merger, progress: _Progress, out: list[Event]
) -> Iterator[Event]:
    """Every format but JSON Lines: its row reader's records, checked in this process."""
    source = feed.source
    reader = row_reader(feed.format, feed.chunks, source)
    for result in check_rows(reader, merger.params):
        merger.merge(source.name, result, 0, None)
        progress.update(merger.report.lines, feed.bytes_read)
        yield from _drain(out)
    merger.report.left_out += left_out(reader)


class _Merger:
    """Folds block results, in input order, into the report and the events (``out``)."""

    def __init__(
        self, options: ValidationOptions, wanted: Wanted, out: list[Event], *, portable: bool
    ) -> None:
        level = wanted.deflate_level if wanted.records else None
        if level is not None and options.strict and wanted.rejected:
            raise ValueError("strict duplicates cannot be dropped from compressed pieces")
        self.options = options
        self.wanted = wanted
        self.report = FeedReport()
        #: the level of each next block, when it is chosen block by block
        self._pace: Callable[[], int] | None = None
        if callable(level):
            self._pace, level = level, None  # set block by block (``next_params``)
        self.params = BlockParams(
            options.strict,
            wanted.records,
            wanted.rejected,
            options.max_problems,
            portable,
            level,
            wanted.products,
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
        if self._pace is None:
            return self.params
        return self.params._replace(deflate_level=self._pace())

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
        if result.deflated is not None:
            if result.deflated.lines:
                self._out.append(result.deflated)
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


class _Progress:
    """Tells ``Progress`` at most ten times a second."""

    _INTERVAL = 0.1

    def __init__(self, out: list[Event]) -> None:
        self._out = out
        self._next = 0.0
        self._done_bytes = 0  # raw bytes of the feeds already finished
        self._bytes = 0
        #: raw bytes of the current feed checked so far
        self.file_bytes = 0

    def update(self, lines: int, bytes_read: int) -> None:
        """Tell the progress of the current feed."""
        self.file_bytes = bytes_read
        self._bytes = self._done_bytes + bytes_read
        self.report(lines)

    def finish_file(self, bytes_read: int) -> None:
        """Account a finished feed's bytes."""
        self._done_bytes += bytes_read
        self._bytes = self._done_bytes
        self.file_bytes = 0

    def report(self, lines: int, *, force: bool = False) -> None:
        """Tell, unless told less than 0.1 s ago (and not forced)."""
        now = time.monotonic()
        if force or now >= self._next:
            self._next = now + self._INTERVAL
            self._out.append(Progress(lines, self._bytes))


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity on Linux, else all of the machine's."""
    if hasattr(os, "sched_getaffinity"):  # Linux: a container or taskset may allow fewer
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # macOS, Windows: no affinity API to ask


#: seconds between looks at the workers while waiting for an answer (``_Workers.result``)
_WATCH_WORKERS = 0.5


class _Workers:
    """Worker processes for big JSON Lines feeds, started only once one is worth it."""

    def __init__(self, options: ValidationOptions, out: list[Event] | None = None) -> None:
        #: where ``WorkersStarted`` is told, once
        self._out = out
        wanted = options.workers
        if wanted is None:
            wanted = min(2, usable_cpus())
        self.count = wanted if wanted > 1 else 0
        # Forked workers are cheapest and hash with this process's salt, but forking a
        # process with threads is unsafe: a lock another thread holds stays held in the
        # child. Whether to fork is decided when the workers start (``start``); the hashes
        # must be one kind for the whole run, from its first block: this process's own if
        # it has no thread now (the workers will be forked, or none run), else portable
        # ones, equal in every process (workers made by forkserver or spawn).
        self.portable = self.count > 0 and not _may_fork()
        #: the workers were forked (known once they started)
        self.fork = False
        self._after = options.parallel_after
        #: what the proof learned of the run's products in this process (from the blocks
        #: checked here); each worker starts from what it holds when the pool starts
        self.learned = Decoders()
        self._pool: Any = None
        #: the processes a ``ProcessPoolExecutor`` made, to tell what killed one
        self._context: _Tracking | None = None
        #: a worker died: the pool cannot be waited for (see ``__exit__``)
        self._lost = False

    def start(self, bytes_read: int, *, ranges: bool = False) -> bool:
        """Start the workers once ``bytes_read`` passes the threshold; True when running.

        ``ranges``: the tasks will be ``check_range`` calls (a path and two offsets), which
        forked workers take through plain pipes (``forked.ForkedPool``). Blocks, and workers
        that cannot be forked, go through a ``ProcessPoolExecutor``.
        """
        if self._pool is None and self.count and bytes_read >= self._after:
            # now, not when the run began: a thread may have started since (a progress
            # display's, an HTTP client's)
            self.fork = _may_fork()
            if not self.fork and not self.portable:
                # the run hashes with this process's salt, which only forked workers
                # share: the rest of it is checked here
                self.count = 0
                return False
            load_numpy()  # forked workers share it: validate/fast.py counts keys with it
            parent = os.getpid() if self.fork else None
            initargs = (parent, self.learned.extras)
            if ranges and self.fork:
                from psykhe_cli.validate.forked import ForkedPool

                with _signals_held():
                    self._pool = ForkedPool(self.count, functools.partial(_worker_init, *initargs))
            else:
                import multiprocessing
                from concurrent.futures import ProcessPoolExecutor

                methods = multiprocessing.get_all_start_methods()
                method = (
                    "fork" if self.fork else "forkserver" if "forkserver" in methods else "spawn"
                )
                self._context = _Tracking(multiprocessing.get_context(method))
                context: Any = self._context  # a BaseContext in all it is asked for
                self._pool = ProcessPoolExecutor(
                    self.count, mp_context=context, initializer=_worker_init, initargs=initargs
                )
        return self._pool is not None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args, decoders=...)`` in a worker, with what that worker learned of the
        run's products (``check_block``, ``check_range``): something whose ``result()`` is
        its value. The first time, tell ``WorkersStarted``."""
        assert self._pool is not None
        with _signals_held():  # a ProcessPoolExecutor forks its workers in submit
            pending = self._pool.submit(_in_worker, fn, *args)
        if self._out is not None:
            self._out.append(WorkersStarted())
            self._out = None
        return pending

    def result(self, pending: Any) -> Any:
        """What ``submit`` gave back, once ready; ``BrokenProcessPool`` if a worker was killed.

        A ``ProcessPoolExecutor`` whose worker died halfway through writing its answer waits
        for the rest of it for ever (seen on Python 3.10), so the workers are watched too.
        """
        from concurrent.futures import TimeoutError as NotYet
        from concurrent.futures.process import BrokenProcessPool

        while True:
            try:
                return pending.result(timeout=_WATCH_WORKERS)
            except NotYet:
                processes = self._context.processes if self._context is not None else []
                if any((process.exitcode or 0) < 0 for process in processes):
                    raise BrokenProcessPool("a worker process was killed") from None

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            # Before Python 3.12, a ProcessPoolExecutor whose worker died while its feeder
            # thread was writing a block to the call queue never finishes shutting down: the
            # write waits for a reader that is gone (CPython gh-94777). Its workers are ended
            # already; waiting would hang psykhe for good.
            self._pool.shutdown(wait=not self._lost, cancel_futures=True)

    @contextlib.contextmanager
    def explaining_a_death(self) -> Iterator[None]:
        """Turn a worker that died (killed by the kernel when out of memory, or by
        someone) into ``WorkerKilled``, naming the signal that killed it."""
        try:
            yield
        except Exception as exc:
            if not _is_worker_death(exc):
                raise
            self._lost = True
            signum = getattr(exc, "signum", None) or self._killed_by()
            how = f"was killed by signal {signum}" if signum else "ended without answering"
            how += " — out of memory?" if signum == signal.SIGKILL else "."
            raise WorkerKilled(
                f"a validation worker {how} Nothing was sent: the feed was not checked to its end",
                hint="it is safe to run the same command again once memory is free "
                "(the kernel log, `dmesg`, names what it killed)",
            ) from None

    def _killed_by(self) -> int | None:
        """The signal that ended one of a ``ProcessPoolExecutor``'s workers, if one did."""
        for process in self._context.processes if self._context is not None else []:
            process.join(1.0)  # the executor stops the others: they end at once
            code: int | None = process.exitcode
            if code is not None and code < 0:
                return -code
        return None


def _may_fork() -> bool:
    """Whether this process may be forked now: it can be, and has no other thread."""
    return hasattr(os, "fork") and threading.active_count() == 1


def _is_worker_death(exc: BaseException) -> bool:
    from psykhe_cli.validate.forked import WorkerLost

    broken = sys.modules.get("concurrent.futures.process")
    return isinstance(exc, WorkerLost) or (
        broken is not None and isinstance(exc, broken.BrokenProcessPool)
    )


class _Tracking:
    """A multiprocessing context that keeps the processes it makes (to tell, when one of a
    ``ProcessPoolExecutor``'s workers dies, what killed it)."""

    def __init__(self, context: Any) -> None:
        self._context = context
        self.processes: list[Any] = []

    def Process(self, *args: Any, **kwargs: Any) -> Any:
        process = self._context.Process(*args, **kwargs)
        self.processes.append(process)
        return process

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


#: what the parent handles: Ctrl-C and the stop signals (``terminal.STOP_SIGNALS``)
_PARENT_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C and the stop signals while workers are forked: their ``KeyboardInterrupt``
    raised inside a fork hook (logging's) is swallowed, leaving a lock held; held, they are
    delivered once forking is done."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _PARENT_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


#: in a worker process, what the proof learned there of the run's products (a worker serves
#: one run): made by ``_worker_init``, handed to each task by ``_in_worker``
_learned: Decoders | None = None


def _in_worker(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, with this worker's ``Decoders`` (see ``_Workers.submit``)."""
    assert _learned is not None, "not a worker process"
    return fn(*args, decoders=_learned)


def _worker_init(parent: int | None = None, extras: tuple[str, ...] = ()) -> None:
    global _learned
    _learned = Decoders(extras)  # what the parent learned before the workers started
    _die_with(parent)
    # the parent handles Ctrl-C and the stop signals, and shuts the pool down with SIGTERM;
    # a terminal's SIGHUP or Ctrl-\ reaches every process of the group, workers too
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):  # held while the parent forked (_signals_held)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _PARENT_SIGNALS)

    _keep_freed_memory()

    load_numpy()  # loaded already when forked; validate/fast.py counts keys with it


#: prctl(2): ask for a signal when the parent ends
_PR_SET_PDEATHSIG = 1


def _die_with(parent: int | None) -> None:
    """Let the kernel kill this worker when the process that made it ends, however it ends
    (even by SIGKILL): no worker outlives psykhe. Linux only; elsewhere the parent's
    clean-up is all there is. ``parent``: the pid that forked us, if known."""
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent:  # it ended before prctl took effect
        os._exit(1)


#: glibc's mallopt parameters
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def _keep_freed_memory() -> None:
    """Let glibc keep what a worker frees, instead of paging it in again for every block.

    A worker allocates and frees a few MB a block (the block, its lines, buffers). glibc gave
    them back to the system at once and took them again for the next block: ~500 page
    faults and ~1 ms of system time a block. The worker's peak stays what it was. Other C
    libraries: nothing done.
    """
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # fixed: below it, from the heap
        libc.mallopt(_M_TRIM_THRESHOLD, 256 << 20)  # free heap kept up to this much
    except (OSError, AttributeError):
        pass
