"""Shop exports read in parts by the workers, as a big plain JSON Lines file is read.

A Merchant Center XML file is cut at item starts (``feeds.xml_split``: why a part parsed on
its own reads as the whole document reads it). Each worker reads and checks the items that
start in its byte range; this process renumbers their lines and merges the results in
order. A part that is not only items (an element between items, a cut inside a comment or
CDATA, malformed XML) is not trusted: from it on, the file is read as before, in this
process, from its first byte, the rows already checked skipped, so that what is found, and
any error that ends the run, is exactly what the one-process reader finds.
"""

from __future__ import annotations

import gc
import itertools
import os
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from psykhe_cli.errors import InputError
from psykhe_cli.feeds import STDIN, OpenFeed
from psykhe_cli.feeds.delimited import Row
from psykhe_cli.feeds.formats import RowReader, row_reader
from psykhe_cli.feeds.ranges import feed_changed
from psykhe_cli.feeds.xml_split import XmlPlan, line_breaks, part_reader, plan, read_part
from psykhe_cli.validate.blocks import BlockParams, BlockResult, check_rows, rebase
from psykhe_cli.validate.fast import Decoders
from psykhe_cli.validate.merge import Merger
from psykhe_cli.validate.report import ValidationOptions
from psykhe_cli.validate.workers import Workers

#: a part's rows are checked into one result
_ALL = 1 << 62


class PartResult(NamedTuple):
    """``check_xml_part``'s answer: the part's result (lines numbered from 1) and where it was."""

    result: BlockResult
    #: file offset and length of the part; rows read in it
    start: int
    length: int
    rows: int = 0
    #: why the part is not trusted (then nothing of it counts), None when it is
    unusual: str | None = None
    #: the path named another file than the one opened: nothing was read
    changed: bool = False


def check_xml_part(
    path: str,
    start: int,
    end: int,
    xml: XmlPlan,
    params: BlockParams,
    same: tuple[int, int] | None = None,
    decoders: Decoders | None = None,
    numpy: Any = None,
) -> PartResult:
    """Read and check the items of the XML file ``path`` that start in ``[start, end)``
    (``decoders``, ``numpy``: what every worker task is given; unused)."""
    part = read_part(path, start, end, xml, same)
    if part.changed:
        return PartResult(BlockResult(), start, 0, changed=True)
    if part.too_long:
        return PartResult(BlockResult(), part.start, 0, unusual="an item over the line cap")
    if not part.data:
        return PartResult(BlockResult(), part.start, 0)
    reader = part_reader(part, xml, path)
    collecting = gc.isenabled()
    gc.disable()  # a part's records are acyclic and freed with it (as in check_block)
    try:
        (result,) = check_rows(reader, params, _ALL)
    except InputError as exc:
        return PartResult(BlockResult(), part.start, 0, unusual=str(exc))
    finally:
        if collecting:
            gc.enable()
    if reader.unusual is not None:
        return PartResult(BlockResult(), part.start, 0, unusual=reader.unusual)
    result.lines = reader.lines_read if part.last else line_breaks(part.data)
    rows = result.variants + result.rejected_lines
    return PartResult(result, part.start, len(part.data), rows)


def xml_parts(feed: OpenFeed, workers: Workers, options: ValidationOptions) -> XmlPlan | None:
    """How to cut ``feed`` for the workers (started here), or None: read it in this process.

    Only a big plain UTF-8 Merchant Center XML file is cut, when the workers start."""
    identity = feed.identity
    source = feed.source
    if (
        feed.format != "gmc"
        or source.path == STDIN
        or feed.bytes_source.compressed
        or identity is None
        or source.column_map  # refused for XML: the reader says so
        or identity.size < options.parallel_after
        or not workers.count
    ):
        return None
    found = plan(os.path.abspath(source.path), (identity.device, identity.inode))
    if found is None or not workers.start(identity.size, ranges=True):
        return None
    return found


def check_xml_parts(
    feed: OpenFeed,
    xml: XmlPlan,
    merger: Merger,
    workers: Workers,
    on_progress: Callable[[int, int], None],
) -> Iterator[None]:
    """Check ``feed`` a part per worker task, merged in order; yields after each step so the
    caller can pass on what was found."""
    name, path = feed.source.name, os.path.abspath(feed.source.path)
    assert feed.identity is not None
    same = (feed.identity.device, feed.identity.inode)
    lines = line_breaks(xml.prologue)  # of this file, merged so far
    rows = 0
    merger.merge(name, BlockResult(lines=lines), 0, None)
    inflight: deque[Any] = deque()
    step = merger.options.block_size

    def merge_next() -> bool:
        """Merge the next part; False when it is not trusted."""
        nonlocal lines, rows
        part: PartResult = inflight.popleft().result()
        if part.changed:
            raise feed_changed(name)
        if part.unusual is not None:
            return False
        rebase(part.result, lines)
        merger.merge(name, part.result, 0, None)
        lines += part.result.lines
        rows += part.rows
        on_progress(merger.report.lines, part.start + part.length)
        return True

    trusted = True
    for offset in range(len(xml.prologue), xml.size, step):
        end = min(offset + step, xml.size)
        inflight.append(workers.submit(check_xml_part, path, offset, end, xml, merger.params, same))
        yield
        while trusted and len(inflight) > 4 * workers.count:
            trusted = merge_next()
            yield
        if not trusted:
            break
    while trusted and inflight:
        trusted = merge_next()
        yield
    if trusted:
        return
    for pending in inflight:  # a worker's results are taken in order
        pending.result()
    reader = row_reader(feed.format, feed.chunks, feed.source)
    for result in check_rows(_After(reader, rows), merger.params, lines_before=lines):
        merger.merge(name, result, 0, None)
        on_progress(merger.report.lines, feed.bytes_read)
        yield


class _After:
    """A row reader's rows after its first ``count``."""

    def __init__(self, reader: RowReader, count: int) -> None:
        self._reader, self._count = reader, count

    @property
    def lines_read(self) -> int:
        """The reader's: source lines read so far."""
        return self._reader.lines_read

    def __iter__(self) -> Iterator[Row]:
        return itertools.islice(iter(self._reader), self._count, None)
