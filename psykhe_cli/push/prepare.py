"""Prepare: the feed read and validated, its lines written to the spool as compressed parts.

The only part of a push that runs the validation engine. Problems, progress and notices go to
the observer; rejected lines to ``--rejects``; the feed's product identifiers, when a full
sync keeps them, to a products file; counts to the result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from psykhe_cli.deflate import Deflated
from psykhe_cli.errors import GuardRefused, InputError
from psykhe_cli.pacing import Pacer
from psykhe_cli.push.model import Mode, PushRequest, PushResult
from psykhe_cli.spool import DEFAULT_COMPRESSION_LEVEL, BatchLimit, Spool, SpoolPart
from psykhe_cli.validate import (
    FeedCheck,
    Notice,
    Problem,
    Products,
    Progress,
    Records,
    RejectedLine,
    Wanted,
    WorkersStarted,
)

if TYPE_CHECKING:
    from psykhe_cli.outputs import RejectsFile
    from psykhe_cli.plan import ProductsWriter
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
    level: int | Pacer = request.compression_level or DEFAULT_COMPRESSION_LEVEL
    if stream is not None and request.compression_level is None:
        level = Pacer(stream.backlog, stream.meter.delivered)
    wanted = Wanted(
        records=True,
        deflate_level=level if deflate_here else None,
        rejected=request.skip_invalid,
        products=products is not None,
        product_hashes=request.mode == Mode.SOFT_REPLACE,
    )
    with FeedCheck(request.sources, request.validation, wanted) as check:
        for event in check:
            if type(event) is Deflated:
                spool.write_deflated(event)
            elif type(event) is Records:
                spool.write(event.lines)
            elif type(event) is Problem:
                observer.problem(event)
            elif type(event) is RejectedLine:
                rejects.write(event.file, event.line, event.raw, event.problems)
            elif type(event) is Progress:
                observer.preparing(event.lines, event.bytes_read)
                if stream is not None:
                    stream.pump()
            elif type(event) is Products:
                assert products is not None
                products.add(event.identifiers)
            elif type(event) is Notice:
                observer.notice(event.text)
            elif type(event) is WorkersStarted and on_workers is not None:
                on_workers()
    report = check.report
    if isinstance(level, Pacer) and level.used:
        observer.debug(f"compression levels (blocks at each): {level.describe()}")
    if products is not None:
        products.close()
    parts = spool.finish()
    rejects.commit()  # the feed was read to its end
    result.report = report
    result.lines = spool.lines
    result.products, result.variants = report.products, report.variants
    result.warnings = report.warnings
    result.raw_bytes = sum(part.raw_bytes for part in parts)
    result.compressed_bytes = sum(part.size for part in parts)
    result.phases["preparing"] = time.monotonic() - started
    result.feed_sha256 = spool.feed_sha256.hexdigest()
    if report.errors:
        if not request.skip_invalid:
            raise InputError(
                f"{report.errors} error(s) in the feed",
                hint="fix the lines above, or send the valid ones with --skip-invalid",
                nothing_sent=True,
            )
        result.rejected = report.rejected_lines
    observer.prepared(result)
    if not parts:
        if request.mode == Mode.SOFT_REPLACE:
            raise GuardRefused(
                "the feed has no products: soft_replace would deactivate the whole catalog",
                nothing_sent=True,
            )
        raise InputError("the feed has no product lines", nothing_sent=True)
    return parts
