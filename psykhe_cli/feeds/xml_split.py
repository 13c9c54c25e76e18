"""Merchant Center XML cut at item starts into parts, each read on its own (by a worker).

The *prologue* is what comes before the first item: the XML declaration, the root with its
namespace declarations, ``<channel>`` and its own elements. A part is the bytes from an item
start to the next part's; it is parsed under the prologue, with end tags closing what the
prologue left open (the *suffix*) unless it runs to the end of the file, so that its items
are read in the very context the whole document gives them. The parts of a range
``[start, end)`` are the items that start in it, found as the tag is written
(``<item`` or ``<atom:entry``, as the first item is), followed by a space, ``/`` or ``>``.

Why that is the reading of the whole document: outside a comment, CDATA section or
processing instruction, ``<item`` can only start a tag; a cut inside one of those leaves the
part before it unterminated, and a cut inside an item leaves it unclosed: that part's parse
fails. A part that parses, in which no element ends outside an item (``XmlReader``'s
``watch``; one started there and not ended would not match the suffix), is a run of whole
items and of text, comments and instructions that change nothing after them: the parts
before the first one that does not parse so are read as the whole document reads them. From
that one on, the caller reads the document from its start, as before.

Line numbers: line breaks are counted as expat counts them (``\\r\\n``, ``\\r`` and ``\\n``
each one), so a part's lines, added to those before it, give the document's.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from psykhe_cli.feeds.blocks import LINE_CAP
from psykhe_cli.feeds.gmc_xml import ATOM, XmlReader, new_parser
from psykhe_cli.feeds.ranges import FilePart

#: bytes read past a range's end while looking for the next item start
_LOOK = 1 << 16
_AFTER_NAME = frozenset(b" \t\r\n/>")


class XmlPlan(NamedTuple):
    """How a Merchant Center XML file is cut into parts (``plan``)."""

    #: the bytes before the first item
    prologue: bytes
    #: end tags closing the elements the prologue leaves open
    suffix: bytes
    #: an item's start tag as the first item writes it: ``b"<item"``, ``b"<atom:entry"``
    item_start: bytes
    #: the file's size when planned
    size: int


def line_breaks(data: bytes) -> int:
    """Line breaks as expat counts them: ``\\r\\n``, a lone ``\\r``, ``\\n``."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


class _First(Exception):
    """The first item's start tag: the prologue ends here."""


def plan(path: str, same: tuple[int, int] | None = None) -> XmlPlan | None:
    """How to cut the XML file ``path`` at item starts; None when it is read whole instead:
    not UTF-8 XML, a document ``XmlReader`` refuses (its error is then told as ever), no
    item within the line cap."""
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        if same is not None and (info.st_dev, info.st_ino) != same:
            return None
        head = handle.read(LINE_CAP)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"<"):
        return None  # UTF-16, or not XML: read whole
    found = _prologue(head)
    if found is None:
        return None
    end, stack, qname = found
    suffix = "".join(f"</{name}>" for name in reversed(stack)).encode()
    return XmlPlan(head[:end], suffix, b"<" + qname.encode(), info.st_size)


def _prologue(head: bytes) -> tuple[int, list[str], str] | None:
    """Where the first item starts, the elements open there, and the item's tag as written."""
    parser: Any = new_parser()
    parser.namespace_prefixes = True
    stack: list[str] = []
    item: list[str] = []
    at: list[int] = []

    def start(tag: str, _: dict[str, str]) -> None:
        uri, local, prefix = [*tag.split(" "), "", ""][:3] if " " in tag else ("", tag, "")
        if not stack and (uri, local) not in (("", "rss"), (ATOM, "feed")):
            raise _First  # not a feed: read whole, for XmlReader's error
        if stack and (uri, local) == (("", "item") if stack[0] == "rss" else (ATOM, "entry")):
            item.append(f"{prefix}:{local}" if prefix else local)
            at.append(parser.CurrentByteIndex)
            raise _First
        stack.append(f"{prefix}:{local}" if prefix else local)

    def end(_: str) -> None:
        stack.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(head, False)
    except _First:
        if item:
            return at[0], stack, item[0]
    except Exception:  # refused or malformed: XmlReader says so
        return None
    return None


def read_part(
    path: str, start: int, end: int, plan: XmlPlan, same: tuple[int, int] | None = None
) -> FilePart:
    """The bytes of the items that start in ``[start, end)``: from the first item start at
    or after ``start`` to the first at or after ``end`` (or the end of the file)."""
    with open(path, "rb") as handle:
        if same is not None:
            info = os.fstat(handle.fileno())
            if (info.st_dev, info.st_ino) != same:
                return FilePart(b"", start, changed=True)
        handle.seek(start)
        data = handle.read(end - start + _LOOK)
        first = 0 if start == len(plan.prologue) else _item_at(data, plan.item_start, 0)
        if first < 0 or first >= end - start:
            return FilePart(b"", end)
        if start + len(data) >= plan.size:  # read to the end of the file already
            stop = _item_at(data, plan.item_start, end - start)
            if stop < 0:
                return FilePart(data[first:], start + first, last=True)
            return FilePart(data[first:stop], start + first)
        pieces, looked = [data], end - start
        while True:
            stop = _item_at(data, plan.item_start, looked)
            if stop >= 0:
                return FilePart(data[first:stop], start + first)
            more = handle.read(_LOOK)
            if not more:
                return FilePart(data[first:], start + first, last=True)
            looked = max(looked, len(data) - len(plan.item_start))
            pieces.append(more)
            data = b"".join(pieces)
            pieces = [data]
            if len(data) - first > LINE_CAP + (end - start):
                return FilePart(b"", start + first, too_long=True)


def _item_at(data: bytes, tag: bytes, position: int) -> int:
    """The first item start tag at or after ``position`` whose next byte is in ``data``."""
    size = len(tag)
    while True:
        at = data.find(tag, position)
        if at < 0 or at + size >= len(data):
            return -1
        if data[at + size] in _AFTER_NAME:
            return at
        position = at + 1


def part_reader(part: FilePart, plan: XmlPlan, name: str) -> XmlReader:
    """The items of ``part``, parsed under the prologue, numbered from the part's first line;
    its ``unusual`` says, once it is read, whether the part is not only items."""
    prologue = len(plan.prologue)
    watch = (prologue, prologue + (0 if part.last else len(part.data)))
    chunks = [plan.prologue, part.data] if part.last else [plan.prologue, part.data, plan.suffix]
    return XmlReader(chunks, name, watch=watch, lines_before=line_breaks(plan.prologue))
