"""Merchant Center XML feeds -> product records: RSS 2.0 and Atom, attributes in ``g:``.

Parsed with expat as the chunks arrive: items are handed on as soon as their end tag is
read, and only the bytes of the items not yet finished are held, so memory stays bounded
whatever the feed's size (an item over ``LINE_CAP`` is an error, not an attempt to hold it).

A feed in UTF-16 (told by its byte order mark, or by ``<`` in UTF-16) is turned into UTF-8
as it arrives and parsed as UTF-8, whatever its declaration says: lines are the same, and the
bytes an item is reported with (in a rejects file) are UTF-8 like every other feed's.

A document type declaration is refused before expat reads what it declares: entity
expansion ("billion laughs") and external entities (a file or URL pulled into the feed) are
declared there, and a Merchant Center feed never needs one. expat is driven directly rather
than through defusedxml because the reader needs what only the raw parser gives — incremental
feeding, line numbers and byte offsets of each item — and refusing every DOCTYPE is stricter
than defusedxml's default, which lets a DTD without entities through.

Where an item's attributes come from:

- RSS 2.0 ``<rss><channel><item>``: ``g:`` elements, and the item's own un-namespaced
  ``<title>``, ``<link>`` and ``<description>`` (RSS's elements, which the specification
  accepts for those attributes);
- Atom ``<feed><entry>``: ``g:`` elements, Atom's ``<title>``, ``<link href="…">`` and
  ``<summary>`` (as ``description``); Atom's own ``<id>`` and ``<updated>`` are not the item's.

An Atom ``<entry>`` inside an RSS feed, or an RSS ``<item>`` inside an Atom feed, is an error
at its line, not an item skipped without a word, nor one read: Merchant Center reads a feed as
one or the other, and a feed that mixes them was not written as the writer meant.

A group attribute (``<g:shipping><g:country>US</g:country><g:price>4.95 USD</g:price>
</g:shipping>``) becomes what the same feed carries in TSV: ``shipping(country:price)`` =
``US:4.95 USD``, several groups comma-separated.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from typing import Any
from xml.parsers import expat

from psykhe_cli.errors import InputError
from psykhe_cli.feeds.blocks import LINE_CAP
from psykhe_cli.feeds.delimited import Row
from psykhe_cli.feeds.gmc_fields import Attributes, to_record

G = "http://base.google.com/ns/1.0"
ATOM = "http://www.w3.org/2005/Atom"
_SEP = " "  # expat's namespace separator: "uri local"; a URI holds no space
_ROOTS = {"rss", f"{ATOM}{_SEP}feed"}
#: the other kind's items, by root kind, and the error each is
_MISPLACED = {
    "rss": (
        {"entry", f"{ATOM}{_SEP}entry"},
        "an Atom <entry> inside an RSS feed: an RSS feed's items are <item>",
    ),
    "feed": (
        {"item", f"{ATOM}{_SEP}item"},
        "an RSS <item> inside an Atom feed: an Atom feed's items are <entry>",
    ),
}
_RSS_OWN = {"title", "link", "description"}
_ATOM_OWN = {"title": "title", "summary": "description", "link": "link"}


_NO_ELEMENTS = expat.errors.codes[expat.errors.XML_ERROR_NO_ELEMENTS]
_UNBOUND = expat.errors.codes[expat.errors.XML_ERROR_UNBOUND_PREFIX]
_UNBOUND_HINT = f'declare the prefix on the root element, e.g. xmlns:g="{G}"'


class _Refused(Exception):
    """A DOCTYPE or entity declaration: stop the parser at once."""


class XmlReader:
    """The items of a Merchant Center XML feed (RSS 2.0 or Atom)."""

    def __init__(
        self,
        chunks: Iterable[bytes],
        name: str,
        *,
        utf16: str | None = None,
        watch: tuple[int, int] | None = None,
        lines_before: int = 0,
    ) -> None:
        """``utf16``: the codec of a feed in UTF-16 (``blocks.utf16_xml``), None for UTF-8.

        ``watch`` (for a part of a feed parsed under its prologue, ``xml_split.py``): an
        element ending outside items between these two offsets is noted in ``unusual``;
        ``lines_before`` is subtracted from every line number."""
        self._chunks = chunks if utf16 is None else _to_utf8(chunks, utf16, name)
        self._name = name
        self._parser = new_parser("UTF-8" if utf16 is not None else None)
        self._items = _Items(self._parser, name, watch)
        self._lines_before = lines_before
        #: the bytes fed and not yet handed on, and the document offset of their first byte
        self._held = bytearray()
        self._held_from = 0
        self.lines_read = 0

    def __iter__(self) -> Iterator[Row]:
        parser = self._parser
        try:
            for chunk in self._chunks:
                self._held += chunk
                self._parse(chunk, final=False)
                yield from self._hand_on()
                self._trim()
            self._parse(b"", final=True)
            yield from self._hand_on()
            # a final newline ends the last line, it does not start one
            self.lines_read = parser.CurrentLineNumber - (parser.CurrentColumnNumber == 0)
            self.lines_read -= self._lines_before
        finally:
            self._items.detach()

    @property
    def unusual(self) -> str | None:
        """What, outside items, a watched part holds that items alone would not (``watch``)."""
        return self._items.unusual

    def _parse(self, data: bytes, *, final: bool) -> None:
        parser = self._parser
        try:
            parser.Parse(data, final)
        except _Refused as exc:
            raise InputError(
                f"{self._name}:{parser.CurrentLineNumber}: {exc}",
                hint="a Merchant Center feed needs no DOCTYPE; remove it from the feed",
            ) from None
        except expat.ExpatError as exc:
            message = expat.ErrorString(exc.code)
            if exc.code == _NO_ELEMENTS and not self._items.root_seen:
                raise InputError(f"{self._name}: the XML feed has no root element") from None
            if exc.code == _NO_ELEMENTS:
                raise InputError(
                    f"{self._name}:{exc.lineno}: the XML feed ends before its root element does",
                    hint="the file is incomplete; export or download it again",
                ) from None
            hint = _UNBOUND_HINT if exc.code == _UNBOUND else None
            raise InputError(
                f"{self._name}:{exc.lineno}: malformed XML: {message}", hint=hint
            ) from None

    def _hand_on(self) -> Iterator[Row]:
        done, self._items.done = self._items.done, []
        held, held_from = self._held, self._held_from
        shift = self._lines_before
        for line, end_line, start, end, attributes, misplaced in done:
            self.lines_read = end_line - shift
            line -= shift
            # the end tag starts at ``end`` and ends at the next ">"
            stop = held.index(b">", end - held_from) + 1
            raw = bytes(held[start - held_from : stop])
            try:
                if misplaced is not None:
                    yield Row(line, raw, None, ("misplaced_item", misplaced))
                else:
                    yield Row(line, raw, to_record(attributes))
            except ValueError as exc:
                yield Row(line, raw, None, ("invalid_price", str(exc)))  # a bad price
            self._items.last_end = held_from + stop

    def _trim(self) -> None:
        """Forget the bytes before the item being read, or up to the end of the last one.

        Not further: expat may hold the start of a tag it has not reported yet, and its byte
        offsets must still point into what is held when it does."""
        items = self._items
        keep_from = items.start_byte if items.open else items.last_end
        if keep_from > self._held_from:
            del self._held[: keep_from - self._held_from]
            self._held_from = keep_from
        if len(self._held) > LINE_CAP:
            where = items.line if items.open else self._parser.CurrentLineNumber
            raise InputError(
                f"{self._name}:{where}: an item (or what lies between two) is longer than "
                f"{LINE_CAP >> 20} MiB"
            )


class _Items:
    """expat's handlers: the attributes of each item, collected as the parser reports them.

    The handlers are swapped as the parser goes in and out of items, so text outside items
    costs no call, and an item's text goes straight to a list's ``append``: per element,
    this is most of the reader's time.
    """

    def __init__(self, parser: Any, name: str, watch: tuple[int, int] | None = None) -> None:
        self._parser = parser
        self._name = name
        self._watch = watch
        self.unusual: str | None = None
        self.root_seen = False
        self.open = False
        self.line = 0
        self.start_byte = 0
        #: the document offset just after the last item handed on (or 0)
        self.last_end = 0
        #: finished items: (first line, last line, start offset, end tag offset, attributes,
        #: the error of the other kind's item)
        self.done: list[tuple[int, int, int, int, Attributes, str | None]] = []
        self._item_tag = "item"
        self._kind = "rss"
        self._misplaced: tuple[set[str], str] = _MISPLACED["rss"]
        self._error: str | None = None
        self._names: dict[str, str | None] = {}  # element -> the attribute it gives
        self._depth = 0
        self._attributes: Attributes = []
        self._attribute: str | None = None
        self._group: list[tuple[str, str]] = []
        self._sub: str | None = None
        self._text: list[str] = []
        parser.StartElementHandler = self._root

    def _root(self, tag: str, _: dict[str, str]) -> None:
        self.root_seen = True
        if tag not in _ROOTS:
            raise InputError(
                f"{self._name}:{self._parser.CurrentLineNumber}: the XML root element is "
                f"<{_local(tag)}>, not a Merchant Center feed's <rss> or <feed> (Atom)"
            )
        self._kind = "rss" if tag == "rss" else "feed"
        self._item_tag = "item" if tag == "rss" else f"{ATOM}{_SEP}entry"
        self._misplaced = _MISPLACED[self._kind]
        self._parser.StartElementHandler = self._outside
        self._parser.EndElementHandler = self._ended_outside if self._watch else None

    def _outside(self, tag: str, _: dict[str, str]) -> None:
        if tag == self._item_tag:
            self._error = None
        elif tag in self._misplaced[0]:
            self._error = self._misplaced[1]  # read as an item, to name its lines
        else:
            return
        parser = self._parser
        self.open, self.line, self.start_byte = (
            True,
            parser.CurrentLineNumber,
            parser.CurrentByteIndex,
        )
        self._depth, self._attributes = 0, []
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._text.append

    def _start(self, tag: str, xml_attributes: dict[str, str]) -> None:
        self._depth += 1
        self._text.clear()
        if self._depth == 1:
            try:
                attribute = self._names[tag]
            except KeyError:
                attribute = self._names[tag] = _attribute(tag, self._kind)
            self._attribute = attribute
            if self._group:
                self._group = []
            if attribute == "link" and self._kind == "feed":
                self._add("link", xml_attributes.get("href", "").strip())
                self._attribute = None
        elif self._depth == 2 and self._attribute is not None:
            self._sub = _local(tag)

    def _end(self, _: str) -> None:
        depth = self._depth
        if depth == 1:
            if self._attribute is not None:
                if self._group:
                    names = ":".join(sub for sub, _ in self._group)
                    values = ":".join(value for _, value in self._group)
                    self._add(f"{self._attribute}({names})", values)
                else:
                    value = "".join(self._text).strip()
                    if value:
                        self._attributes.append((self._attribute, value))
                self._attribute = None
        elif depth == 0:
            self._close()
            return
        elif depth == 2 and self._sub is not None:
            self._group.append((self._sub, "".join(self._text).strip()))
            self._sub = None
        self._text.clear()
        self._depth = depth - 1

    def _close(self) -> None:
        parser = self._parser
        self.open = False
        self.done.append(
            (
                self.line,
                parser.CurrentLineNumber,
                self.start_byte,
                parser.CurrentByteIndex,
                self._attributes,
                self._error,
            )
        )
        parser.StartElementHandler = self._outside
        parser.EndElementHandler = self._ended_outside if self._watch else None
        parser.CharacterDataHandler = None

    def detach(self) -> None:
        """Take the handlers off the parser: they and the parser hold each other, and a
        worker reading parts with the collector off would keep every part's parser (and
        its buffers) until a collection."""
        parser = self._parser
        parser.StartElementHandler = parser.EndElementHandler = None
        parser.CharacterDataHandler = None

    def _ended_outside(self, tag: str) -> None:
        assert self._watch is not None
        if self._watch[0] <= self._parser.CurrentByteIndex < self._watch[1]:
            self.unusual = f"</{_local(tag)}> outside items"

    def _add(self, name: str, value: str) -> None:
        if value:
            self._attributes.append((name, value))


def _attribute(tag: str, kind: str) -> str | None:
    """The attribute an item's child element gives, None for one that gives none."""
    uri, _, local = tag.rpartition(_SEP)
    if uri == G:
        return local.lower()
    if kind == "rss" and not uri and local in _RSS_OWN:
        return local
    if kind == "feed" and uri == ATOM:
        return _ATOM_OWN.get(local)
    return None


def _local(tag: str) -> str:
    return tag.rpartition(_SEP)[2]


def _to_utf8(chunks: Iterable[bytes], codec: str, name: str) -> Iterator[bytes]:
    decoder = codecs.getincrementaldecoder(codec)("strict")
    try:
        for chunk in chunks:
            yield decoder.decode(chunk).encode()
        yield decoder.decode(b"", final=True).encode()
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not valid UTF-16 ({exc.reason})") from None


def new_parser(encoding: str | None = None) -> Any:
    """expat, refusing DTDs; ``encoding`` overrides what the document declares."""
    parser = expat.ParserCreate(encoding, namespace_separator=_SEP)
    parser.buffer_text = True

    def refuse_doctype(*_: object) -> None:
        raise _Refused(
            "the XML feed has a DOCTYPE, refused: its entities could expand without bound "
            "or read local files and URLs"
        )

    def refuse_entity(*_: object) -> None:
        raise _Refused("the XML feed declares an entity, refused")

    def refuse_external(*_: object) -> int:
        raise _Refused("the XML feed refers to an external entity, refused")

    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_entity
    parser.ExternalEntityRefHandler = refuse_external
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    return parser
