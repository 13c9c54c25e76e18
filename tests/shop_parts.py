"""Check a shop export through the parts path in this process, and through the one-process
reference: what the tests of ``validate/shop_ranges.py`` compare."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from psykhe_cli.errors import InputError
from psykhe_cli.feeds import FeedSource, open_feed
from psykhe_cli.validate import ValidationOptions, check_feeds
from psykhe_cli.validate.events import Problem, Records, RejectedLine, Wanted
from psykhe_cli.validate.merge import Merger
from psykhe_cli.validate.shop_ranges import check_parts, shop_parts


class _Done:
    def __init__(self, value: Any) -> None:
        self._value = value

    def result(self) -> Any:
        return self._value


class InProcess:
    """Workers that run each task at once, here (each task still reads its own range)."""

    count = 2

    def start(self, bytes_read: int, *, ranges: bool = False) -> bool:
        return True

    def submit(self, fn: Any, *args: Any) -> _Done:
        return _Done(fn(*args))


Outcome = tuple[Any, ...]


def reference(path: Path, fmt: str, include_inactive: bool = False) -> Outcome:
    """What one process finds: the report's figures, problems, rejected rows, records."""
    records: list[bytes] = []
    rejected: list[tuple[int, bytes]] = []
    options = ValidationOptions(workers=0, max_problems=10**6)
    try:
        report = check_feeds(
            [FeedSource(str(path), format=fmt, include_inactive=include_inactive)],  # type: ignore[arg-type]
            options,
            on_records=records.extend,
            on_rejected=lambda file, line, raw, problems: rejected.append((line, raw)),
        )
    except InputError as exc:
        return ("error", str(exc))
    problems = [p.format() for p in report.problems]
    figures = (report.lines, report.products, report.variants, report.errors, report.warnings)
    figures += (report.left_out,)
    return figures, report.counts_by_code, problems, rejected, records


def check_in_parts(
    path: Path, fmt: str, step: int, wanted: Wanted, include_inactive: bool = False
) -> tuple[list[Any], Merger]:
    """The events of ``path`` checked through the parts path, the file cut in ranges of
    ``step`` bytes each read on its own, and the merger (its report); raises ``InputError``."""
    options = ValidationOptions(block_size=step, max_problems=10**6, parallel_after=0)
    out: list[Any] = []
    merger = Merger(options, wanted, out, portable=False)
    source = FeedSource(str(path), format=fmt, include_inactive=include_inactive)  # type: ignore[arg-type]
    feed = open_feed(source, io.BytesIO())
    try:
        workers: Any = InProcess()
        parts = shop_parts(feed, workers, options)
        assert parts is not None, "the file is cut"
        merger.report.files.append(source.name)
        for _ in check_parts(feed, parts, merger, workers, lambda lines, done: None):
            pass
        merger.finish()
    finally:
        feed.close()
    return out, merger


def in_parts(path: Path, fmt: str, step: int, include_inactive: bool = False) -> Outcome:
    """The same as ``reference``, the file cut in ranges of ``step`` bytes."""
    try:
        wanted = Wanted(records=True, rejected=True)
        out, merger = check_in_parts(path, fmt, step, wanted, include_inactive)
    except InputError as exc:
        return ("error", str(exc))
    report = merger.report
    records = [r for e in out if type(e) is Records for r in e.lines]
    rejected = [(e.line, e.raw) for e in out if type(e) is RejectedLine]
    problems = [e.format() for e in out if type(e) is Problem]
    figures = (report.lines, report.products, report.variants, report.errors, report.warnings)
    figures += (report.left_out,)
    return figures, report.counts_by_code, problems, rejected, records
