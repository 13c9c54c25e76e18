"""Decompressed chunks -> newline-aligned blocks of whole lines, with line numbers kept.

Blocks are the unit of work: about ``block_size`` bytes of complete lines, so a block can be
checked on its own (in another process) and results merged in order. A line longer than
``LINE_CAP`` is an error naming it, never an attempt to hold it in memory. The same rules
(the cap, a BOM opening the input dropped) hold for the byte ranges of ``ranges.py``.

A blank line (nothing but whitespace) is one byte or a few: ``non_blank_lines`` drops a
block's blank lines with a few C-level passes, so that a feed of millions of them costs what
its bytes cost, not a step of Python per line.
"""

from __future__ import annotations

import itertools
import re
from array import array
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from psykhe_cli.errors import InputError

LINE_CAP = 16 << 20
BLOCK_SIZE = 1 << 20
BOM = b"\xef\xbb\xbf"
#: the byte order marks of UTF-16, little- and big-endian
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
#: a line inside a block holding nothing but whitespace (what ``bytes.strip`` removes)
_BLANK_INSIDE = re.compile(rb"\n[ \t\r\x0b\x0c]*\n")


def iter_blocks(
    chunks: Iterable[bytes],
    name: str,
    *,
    block_size: int = BLOCK_SIZE,
    line_cap: int = LINE_CAP,
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(number of the block's first line, block)``; a leading UTF-8 BOM is dropped.

    Lines are checked against ``line_cap`` as chunks arrive (chunks are cut to ``block_size``,
    so the cap is exact when ``line_cap >= block_size``, as with the defaults).

    Every block but the last ends with ``b"\\n"``; the last may hold a final line without one.
    """
    pending: list[bytes] = []
    size = 0
    line_no = 1
    since_newline = 0  # length of the line being assembled
    for chunk in _pieces(_strip_bom(chunks), block_size):
        first_nl = chunk.find(b"\n")
        line_end = since_newline + (len(chunk) if first_nl < 0 else first_nl)
        if line_end > line_cap:
            raise line_too_long(name, line_no + sum(p.count(b"\n") for p in pending), line_cap)
        pending.append(chunk)
        size += len(chunk)
        last_nl = chunk.rfind(b"\n")
        if last_nl < 0:
            since_newline = line_end
        else:
            since_newline = len(chunk) - last_nl - 1
            if size >= block_size:
                data = b"".join(pending)
                split = len(data) - len(chunk) + last_nl + 1
                block = data[:split]
                yield line_no, block
                line_no += block.count(b"\n")
                rest = data[split:]
                pending = [rest] if rest else []
                size = len(rest)
    if pending:
        yield line_no, b"".join(pending)


def utf16_xml(head: bytes) -> str | None:
    """The codec of ``head`` when it starts an XML document in UTF-16 (``"utf-16"`` with a
    byte order mark, else ``"utf-16-le"`` or ``"utf-16-be"``), None otherwise."""
    for codec, bom in (("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")):
        text = head[:64].removeprefix(bom)
        if text[: len(text) & ~1].decode(codec, "replace").lstrip().startswith("<"):
            return "utf-16" if head.startswith(bom) else codec
    return None


def utf16_refused(name: str) -> InputError:
    """The error for a feed in UTF-16 where only UTF-8 is read: how to convert it."""
    target = "FILE" if name.startswith("<") else name
    stem = target.lower().removesuffix(".gz")
    suffix = stem.rpartition(".")[2] if "." in stem.rpartition("/")[2] else "txt"
    convert = f"iconv -f UTF-16 -t UTF-8 {target}"
    if stem != target.lower():
        convert = f"gunzip -c {target} | iconv -f UTF-16 -t UTF-8"
    return InputError(
        f"{name}:1: the feed is UTF-16; psykhe reads UTF-8",
        hint=f"convert it: {convert} > feed-utf8.{suffix}",
    )


def line_too_long(name: str, line: int, line_cap: int = LINE_CAP) -> InputError:
    """The error for a line over the cap, naming it."""
    return InputError(
        f"{name}:{line}: line longer than {_size(line_cap)}",
        hint="each record must fit on one line; is this the right file?",
    )


def _strip_bom(chunks: Iterable[bytes]) -> Iterator[bytes]:
    iterator = iter(chunks)
    head = b""
    for chunk in iterator:
        head += chunk
        if len(head) >= len(BOM):
            break
    if head.startswith(BOM):
        head = head[len(BOM) :]
    if head:
        yield head
    yield from iterator


def _pieces(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    for chunk in chunks:
        if len(chunk) <= size:
            yield chunk
        else:
            for start in range(0, len(chunk), size):
                yield chunk[start : start + size]


def split_lines(block: bytes) -> list[bytes]:
    """The lines of a block without their ``\\n`` (a final empty piece dropped)."""
    lines = block.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    return lines


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n} bytes"


class NonBlank(NamedTuple):
    """A block without its blank lines (``non_blank_lines``)."""

    #: the lines left, each ending with a newline but perhaps the last, as in the block
    data: bytes
    #: the line number of each line of ``data``
    numbers: array[int]
    #: how many lines the block had, blank ones included
    lines: int


def non_blank_lines(block: bytes, first_line: int) -> NonBlank | None:
    """``block`` (whose first line is ``first_line``) without the lines holding nothing but
    whitespace; None when it has none: the common case costs one regular-expression scan."""
    if not _has_blank_line(block):
        return None
    if not block.strip():  # nothing but blank lines: no list of them
        return NonBlank(b"", array("Q"), block.count(b"\n") + (not block.endswith(b"\n")))
    lines = split_lines(block)
    keep = list(map(bool, map(bytes.strip, lines)))
    numbers = array("Q", itertools.compress(itertools.count(first_line), keep))
    data = b"\n".join(itertools.compress(lines, keep))
    if data and (block.endswith(b"\n") or not keep[-1]):
        data += b"\n"
    return NonBlank(data, numbers, len(lines))


def _has_blank_line(block: bytes) -> bool:
    if not block:
        return False
    first_end = block.find(b"\n")
    if not block[: first_end if first_end >= 0 else len(block)].strip():
        return True
    if not block.endswith(b"\n") and not block[block.rfind(b"\n") + 1 :].strip():
        return True
    return _BLANK_INSIDE.search(block) is not None


def first_non_blank_line(block: bytes) -> tuple[int, bytes] | None:
    """The index in ``block`` of its first line holding more than whitespace, and that line;
    None when every line is blank."""
    stripped = block.lstrip()
    if not stripped:
        return None
    at = len(block) - len(stripped)
    start = block.rfind(b"\n", 0, at) + 1
    end = block.find(b"\n", at)
    return block.count(b"\n", 0, start), block[start : end if end >= 0 else len(block)]
