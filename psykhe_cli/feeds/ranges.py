"""Byte ranges of a plain file, read on their own as whole lines (by worker processes).

A big plain file is checked a range at a time, each range read by the process that checks
it: the process that hands the ranges out sends two offsets, not a megabyte. The lines of a
range are those that start in it; the rules are ``blocks.py``'s, so that a file read in
ranges yields the lines ``iter_blocks`` yields: a UTF-8 BOM opening the file is dropped, a
line over ``LINE_CAP`` is not held in memory.
"""

from __future__ import annotations

import os
from typing import BinaryIO, NamedTuple

from psykhe_cli.errors import InputError
from psykhe_cli.feeds.blocks import BOM, LINE_CAP

#: read size while looking for the end of the line that crosses a range's end
_TAIL_PIECE = 1 << 16


class RangeLines(NamedTuple):
    """What ``read_lines`` read."""

    #: the lines that start in the range, the last one read to its end (its newline too)
    data: bytes
    #: the file offset of ``data``
    start: int
    #: a line starting in the range runs past the cap: ``data`` holds the lines before it
    too_long: bool = False
    #: the path named another file than the one asked for: nothing was read
    changed: bool = False


def read_lines(
    path: str,
    start: int,
    end: int,
    same: tuple[int, int] | None = None,
    *,
    line_cap: int = LINE_CAP,
) -> RangeLines:
    """The whole lines of the plain file ``path`` that start in ``[start, end)``.

    The line running across ``start`` belongs to the range before; the one running across
    ``end`` is read to its end, unless it runs past ``line_cap`` (its newline not counted).
    Lines wholly inside the range are not measured: ranges are no longer than the cap.
    ``same``: the (device, inode) the path named when the feed was opened; a path now naming
    another file is not read.
    """
    with open(path, "rb") as handle:
        if same is not None:
            info = os.fstat(handle.fileno())
            if (info.st_dev, info.st_ino) != same:
                return RangeLines(b"", start, changed=True)
        starts_a_line = start == 0
        if not starts_a_line:
            handle.seek(start - 1)
            starts_a_line = handle.read(1) == b"\n"
        data = handle.read(end - start)
        if start == 0 and data and len(data) < len(BOM) and BOM.startswith(data):
            # a range shorter than a BOM: the BOM is still no part of the first line
            opening = data + handle.read(len(BOM) - len(data))
            if opening == BOM:
                data = opening
            else:
                handle.seek(len(data))
        skip = len(BOM) if start == 0 and data.startswith(BOM) else 0
        if not starts_a_line:
            newline = data.find(b"\n")
            if newline < 0:  # no line starts here: it is all the middle of a long line
                return RangeLines(b"", end)
            skip = newline + 1
        if data and not data.endswith(b"\n"):
            last_start = data.rfind(b"\n") + 1
            tail = _rest_of_line(handle, line_cap - (len(data) - max(last_start, skip)))
            if tail is None:
                return RangeLines(data[skip:last_start], start + skip, too_long=True)
            data += tail
    return RangeLines(data[skip:], start + skip)


def _rest_of_line(handle: BinaryIO, room: int) -> bytes | None:
    """The bytes up to and including the next newline (or the end); None past ``room``."""
    pieces: list[bytes] = []
    size = 0  # the line's bytes read here, its newline not counted
    while True:
        piece = handle.read(_TAIL_PIECE)
        if not piece:
            break
        newline = piece.find(b"\n")
        if newline >= 0:
            pieces.append(piece[: newline + 1])
            size += newline
            break
        pieces.append(piece)
        size += len(piece)
        if size > room:
            return None
    return None if size > room else b"".join(pieces)


def read_again(path: str, start: int, length: int) -> bytes:
    """The ``length`` bytes of ``path`` at ``start``: lines ``read_lines`` read, read again
    (from its ``start`` and the length of its ``data``)."""
    with open(path, "rb") as handle:
        handle.seek(start)
        return handle.read(length)


def feed_changed(name: str) -> InputError:
    """A worker opened another file than the one the feed named when it was opened."""
    return InputError(
        f"{name} changed while it was read",
        hint="write the feed to another name and rename it into place when complete",
        nothing_sent=True,
    )


class FilePart(NamedTuple):
    """The records that start in a byte range of a shop export (``csv_split``/``xml_split``'s
    ``read_part``): their bytes, cut where a record starts."""

    data: bytes
    #: the file offset of ``data``; whether it runs to the end of the file
    start: int
    last: bool = False
    #: no record boundary within the line cap: not read
    too_long: bool = False
    #: the path named another file than the one asked for: nothing was read
    changed: bool = False
