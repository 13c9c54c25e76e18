"""The feed-checking engine: read, hand blocks to workers, merge their results in order."""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

from psykhe_cli.errors import InputError
from psykhe_cli.feeds import STDIN, FeedSource, OpenFeed, open_feed
from psykhe_cli.feeds.blocks import first_non_blank_line, iter_blocks, line_too_long
from psykhe_cli.feeds.formats import describe, left_out, row_reader
from psykhe_cli.feeds.jsonl import reject_json_document
from psykhe_cli.feeds.ranges import feed_changed
from psykhe_cli.validate.blocks import RangeResult, check_block, check_range, rebase
from psykhe_cli.validate.events import (
    BlockCodec,
    Compared,
    Encoded,
    Event,
    Notice,
    OnNotice,
    OnProblem,
    OnProducts,
    OnProgress,
    OnRecords,
    OnRejected,
    Products,
    Progress,
    Records,
    RecordSieve,
    RejectedLine,
    Wanted,
)
from psykhe_cli.validate.merge import Merger
from psykhe_cli.validate.report import FeedReport, Problem, ValidationOptions
from psykhe_cli.validate.rows import check_rows
from psykhe_cli.validate.shop_ranges import check_parts, shop_parts
from psykhe_cli.validate.workers import Workers


class FeedCheck:
    """Validation as a producer: read and check every feed in one pass, yielding what was
    found and what was accepted in input order; ``report`` is complete once it is exhausted.

    Iterate it inside ``with`` (or exhaust it): leaving early shuts the workers down. Raises
    ``InputError`` when a feed cannot be read to its end (missing, a directory, truncated
    gzip, a JSON document instead of JSON Lines, a line over 16 MiB, a bad CSV header): what
    was yielded before stays valid, but the feed is never taken as shorter. ``stdin`` is read
    for the source ``-`` (default: this process's standard input). Problems come the first
    ``options.max_problems`` only (the report's counts stay complete).

    ``on_workers`` is called once, as soon as worker processes run: from then on a thread may
    start (``psykhe_cli.threads``); not before, while they may still be forked.
    """

    def __init__(
        self,
        sources: Iterable[FeedSource],
        options: ValidationOptions | None = None,
        wanted: Wanted = Wanted(),
        *,
        stdin: BinaryIO | None = None,
        on_workers: Callable[[], None] | None = None,
    ) -> None:
        self._sources = sources
        self.options = options or ValidationOptions()
        self.wanted = wanted
        self._stdin = stdin
        self._on_workers = on_workers
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
        with Workers(options, self._on_workers) as workers, workers.explaining_a_death():
            merger = Merger(options, wanted, out, portable=workers.portable)
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
                    elif (parts := shop_parts(feed, workers, merger.options)) is not None:
                        for _ in check_parts(feed, parts, merger, workers, progress.update):
                            yield from _drain(out)
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
    codec: BlockCodec | None = None,
    on_encoded: Callable[[Any], None] | None = None,
    on_rejected: OnRejected | None = None,
    on_progress: OnProgress | None = None,
    on_notice: OnNotice | None = None,
    on_products: OnProducts | None = None,
    want_product_hashes: bool = False,
    on_workers: Callable[[], None] | None = None,
    sieve: RecordSieve | None = None,
    on_compared: Callable[[Any, tuple[int, ...]], None] | None = None,
) -> FeedReport:
    """Run a ``FeedCheck`` to its end, handing its events to callbacks; return the report.

    ``on_records`` asks for ``Records``, ``on_rejected`` for ``RejectedLine``\\s,
    ``on_products`` for ``Products``; ``codec`` (with ``on_records`` and ``on_encoded``) for
    ``Encoded`` pieces of the JSON Lines blocks (see ``Wanted``); ``sieve`` (with
    ``on_records`` and ``on_compared``) compares the records and keeps those it chooses;
    ``on_workers``: see ``FeedCheck``.
    """
    wanted = Wanted(
        records=on_records is not None,
        codec=codec,
        rejected=on_rejected is not None,
        products=on_products is not None,
        product_hashes=want_product_hashes,
        sieve=sieve,
    )
    with FeedCheck(sources, options, wanted, stdin=stdin, on_workers=on_workers) as check:
        for event in check:
            if type(event) is Problem:
                if on_problem is not None:
                    on_problem(event)
            elif type(event) is Encoded:
                assert on_encoded is not None
                on_encoded(event.piece)
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
            elif type(event) is Compared:
                assert on_compared is not None
                on_compared(event.answer, event.left_out)
    return check.report


def _check_jsonl(
    feed: OpenFeed, merger: Merger, workers: Workers, progress: _Progress, out: list[Event]
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


#: bytes of a plain file's first range: checked in ~15 ms where a whole block takes ~50
_FIRST_RANGE = 256 << 10


def _check_ranges(
    path: str,
    size: int,
    same: tuple[int, int],
    name: str,
    merger: Merger,
    workers: Workers,
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

    # the first range small: its records are the first a streamed upload can send
    starts = [0, *range(min(step, _FIRST_RANGE), size, step)] if size > 0 else []
    for start, end in zip(starts, [*starts[1:], size], strict=True):
        inflight.append(workers.submit(check_range, path, start, end, merger.next_params(), same))
        yield from _drain(out)
        # bounds the results held (~120 KB each), deep enough that a worker ahead of the
        # one whose result is merged next still has ranges to check
        while len(inflight) > 4 * workers.count:
            merge_next()
            yield from _drain(out)
    while inflight:
        merge_next()
        yield from _drain(out)


def _reject_document(name: str, first_line: int, block: bytes) -> bool:
    found = first_non_blank_line(block)
    if found is not None:
        reject_json_document(name, first_line + found[0], found[1])
    return found is not None


def _check_rows(
    feed: OpenFeed, merger: Merger, progress: _Progress, out: list[Event]
) -> Iterator[Event]:
    """Every format but JSON Lines: its row reader's records, checked in this process."""
    source = feed.source
    reader = row_reader(feed.format, feed.chunks, source)
    for result in check_rows(reader, merger.params):
        merger.merge(source.name, result, 0, None)
        progress.update(merger.report.lines, feed.bytes_read)
        yield from _drain(out)
    merger.report.left_out += left_out(reader)


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
