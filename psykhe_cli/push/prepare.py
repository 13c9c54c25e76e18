"""Prepare: the feed read and validated, its lines written to the spool as compressed parts.

The only part of a push that runs the validation engine. Problems, progress and notices go to
the observer; rejected lines to ``--rejects``; the feed's product identifiers, when a full
sync keeps them, to a products file; counts to the result. A kept body (``restore``) is
checked as its feed and becomes the one part as it is: its bytes are not spooled again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from psykhe_cli.deflate import BlockDeflater
from psykhe_cli.errors import GuardRefused, InputError
from psykhe_cli.feeds import FeedSource
from psykhe_cli.pacing import Pacer
from psykhe_cli.push.model import Mode, PushRequest, PushResult
from psykhe_cli.spool import DEFAULT_COMPRESSION_LEVEL, BatchLimit, Spool, SpoolPart
from psykhe_cli.validate import check_feeds

if TYPE_CHECKING:
    from psykhe_cli.outputs import RejectsFile
    from psykhe_cli.plan import ProductsWriter
    from psykhe_cli.push.changes import ChangesStep
    from psykhe_cli.push.observer import PushObserver
    from psykhe_cli.push.upload import Upload


def prepare(
    request: PushRequest,
    result: PushResult,
    observer: PushObserver,
    *,
    spool: Spool,
    rejects: RejectsFile,
    products: ProductsWriter | None,
    on_workers: Callable[[], None] | None,
    stream: Upload | None = None,
    changes: ChangesStep | None = None,
) -> list[SpoolPart]:
    """Check the feed and spool its lines into parts; fill ``result``'s counts.
    ``on_workers``: called once the workers are forked (threads may start then, never
    before)."""
    started = time.monotonic()
    # Blocks compressed where they are checked keep both cores busy; not when parts are
    # cut at a limit, nor when strict duplicates must be dropped from what is sent.
    deflate_here = spool.limit == BatchLimit() and not (
        request.validation.strict and request.skip_invalid
    )
    kept, sources = request.kept, request.sources
    if kept is not None:  # sent from the spool's own link: a prune meanwhile cannot touch it
        if stream is not None:
            raise ValueError("a kept body is sent as it was kept, never streamed as spooled")
        kept = kept.held(spool.adopt)
        sources = [FeedSource(str(kept.path), "jsonl")]
    # only the changed lines: a few a block, from products far apart, compressed together
    # (~2/3 the size of a piece per block)
    batched = _Batched(spool.write) if changes is not None and changes.leaves_out else None
    deflate_here = deflate_here and batched is None
    level: int | Pacer = request.compression_level or DEFAULT_COMPRESSION_LEVEL
    if stream is not None and request.compression_level is None:
        level = Pacer(stream.backlog, stream.meter.delivered)

    def preparing(lines: int, bytes_read: int) -> None:
        observer.preparing(lines, bytes_read)
        if stream is not None:
            stream.pump()

    report = check_feeds(
        sources,
        request.validation,
        on_problem=observer.problem,
        on_records=(batched or spool.write) if kept is None else None,
        codec=BlockDeflater(level) if deflate_here and kept is None else None,
        on_encoded=spool.write_deflated,
        on_rejected=rejects.write if request.skip_invalid else None,
        on_progress=preparing,
        on_notice=observer.notice,
        on_products=products.add if products is not None else None,
        want_product_hashes=request.mode == Mode.SOFT_REPLACE,
        on_workers=on_workers,  # threads start then: never before (psykhe_cli.threads)
        sieve=changes.sieve if changes is not None else None,
        on_compared=changes.tally.add if changes is not None and changes.tally else None,
    )
    if isinstance(level, Pacer) and level.used:
        observer.debug(f"compression levels (blocks at each): {level.describe()}")
    if products is not None:
        products.close()
    if batched is not None:
        batched.flush()
    parts = spool.finish() if kept is None else [kept.part()]
    rejects.commit()  # the feed was read to its end
    result.report = report
    result.lines = sum(part.lines for part in parts)
    result.products, result.variants = report.products, report.variants
    result.warnings = report.warnings
    result.raw_bytes = sum(part.raw_bytes for part in parts)
    result.compressed_bytes = sum(part.size for part in parts)
    result.prepared = time.monotonic()
    result.phases["preparing"] = result.prepared - started
    result.feed_sha256 = spool.feed_sha256.hexdigest() if kept is None else kept.body.sha256
    if report.errors:
        if not request.skip_invalid:
            raise InputError(
                f"{report.errors} error(s) in the feed",
                hint="fix the lines above, or send the valid ones with --skip-invalid",
                nothing_sent=True,
            )
        result.rejected = report.rejected_lines
    if changes is not None:
        changes.prepared(result)
    observer.prepared(result)
    if not parts:
        if request.mode == Mode.SOFT_REPLACE:
            raise GuardRefused(
                "the feed has no products: soft_replace would deactivate the whole catalog",
                nothing_sent=True,
            )
        report.refuse_if_empty()  # the rule, and its words, validate's too
    return parts


class _Batched:
    """Records gathered into batches of ``_BATCH`` bytes before the spool compresses them."""

    _BATCH = 8 << 20

    def __init__(self, write: Callable[[list[bytes]], None]) -> None:
        self._write = write
        self._records: list[bytes] = []
        self._size = 0

    def __call__(self, records: list[bytes]) -> None:
        self._records += records
        self._size += sum(map(len, records))
        if self._size >= self._BATCH:
            self.flush()

    def flush(self) -> None:
        """Hand what was gathered to the spool."""
        if self._records:
            self._write(self._records)
        self._records, self._size = [], 0
