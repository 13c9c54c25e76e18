"""Google Merchant Center feeds -> product records, one per item.

Two shapes of the same attributes (Merchant Center's product data specification):

- delimited (TSV, or CSV): a header row of attribute names — ``image_link``, ``image link``,
  ``g:image_link`` or a display name with the name in brackets, ``Image link [image_link]`` —
  then one item per row; repeated attributes (``additional_image_link``) comma-separated;
- XML: RSS 2.0 (``<rss><channel><item>``) or Atom (``<feed><entry>``), attributes as elements
  in the ``g:`` namespace (``http://base.google.com/ns/1.0``), repeated ones repeated. Read by
  ``gmc_xml.py``, streaming.

How an item becomes a record: ``gmc_fields.py`` (the field table).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from psykhe_cli.errors import InputError, UsageError
from psykhe_cli.feeds.blocks import utf16_xml
from psykhe_cli.feeds.delimited import CsvTable, Row, check_map
from psykhe_cli.feeds.exports import decoded
from psykhe_cli.feeds.formats import RowReader, looks_like
from psykhe_cli.feeds.gmc_fields import Attributes, attribute_name, to_record
from psykhe_cli.feeds.sources import FeedSource

#: attributes a delimited feed's cells are taken from as written: identifiers (matched as
#: written, run after run) and URLs; the others are text, HTML entities decoded (``&amp;``)
#: as the XML reader's parser decodes them
_AS_WRITTEN = frozenset({"id", "item_group_id", "gtin", "mpn"})


def reader(chunks: Iterable[bytes], source: FeedSource) -> RowReader:
    """The ``ReaderFactory`` of Merchant Center feeds: XML or delimited, told by content."""
    from psykhe_cli.feeds.sources import read_head

    head, rest = read_head(iter(chunks), 64)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    chunks = _chain(head, rest)
    utf16 = None if text.startswith(b"<") else utf16_xml(head)
    if text.startswith(b"<") or utf16:
        from psykhe_cli.feeds.gmc_xml import XmlReader

        if source.column_map:
            source_column, target = source.column_map[0]
            raise UsageError(
                f"--map {source_column}={target}: {source.name} is an XML feed, which has no "
                "columns to rename",
                hint="its attributes are read by their Merchant Center names; see docs/feeds.md",
            )
        return XmlReader(chunks, source.name, utf16=utf16)
    renamed = [column for column, _ in source.column_map]
    for column, target in source.column_map:
        if renamed.count(column) > 1:  # a dict would keep the last without a word
            raise UsageError(
                f"--map {column}={target}: {column!r} is mapped twice; in a Merchant Center "
                "feed a column is one attribute, and item_group_id already falls back to id"
            )
    return DelimitedReader(chunks, source.name, source.delimiter, dict(source.column_map))


def _chain(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if head:
        yield head
    yield from rest


class DelimitedReader:
    """The items of a delimited (TSV/CSV) Merchant Center feed."""

    def __init__(
        self,
        chunks: Iterable[bytes],
        name: str,
        delimiter: str | None,
        column_map: dict[str, str],
    ) -> None:
        self._table = CsvTable(chunks, name, delimiter=delimiter)
        self._name = name
        self._column_map = column_map

    @property
    def lines_read(self) -> int:
        """Physical lines read so far, the header not counted."""
        return self._table.lines_read

    def __iter__(self) -> Iterator[Row]:
        cells = self._table.header()
        if cells is None:
            return
        names = self._names(cells)
        text = [not _is_written_as_is(name) for name in names]
        for data in self._table:
            if data.error is not None:
                yield data.row()
                continue
            attributes: Attributes = []
            for name, is_text, cell in zip(names, text, data.cells, strict=True):
                cell = cell.strip()
                if not cell:
                    continue
                if is_text:
                    cell = decoded(cell)
                if name == "additional_image_link":
                    attributes += [(name, url.strip()) for url in cell.split(",") if url.strip()]
                else:
                    attributes.append((name, cell))
            try:
                yield data.row(to_record(attributes))
            except ValueError as exc:
                yield data.failed("invalid_price", str(exc))  # to_record: a bad price

    def _names(self, cells: list[str]) -> list[str]:
        where = f"{self._name}:{self._table.header_lines}"
        check_map(self._column_map.items(), cells, self._name)
        for source in self._column_map:
            if "+" in source:
                raise UsageError(
                    f"--map {source}=…: a Merchant Center feed's columns are not joined; "
                    "additional_image_link already adds to the images"
                )
        names: list[str] = []
        seen: dict[str, str] = {}
        for column, cell in enumerate(cells, start=1):
            renamed = self._column_map.get(cell, cell)
            name = attribute_name(renamed)
            if not name:
                raise InputError(f"{where}: column {column} of the header has no name")
            if name in seen:
                raise InputError(
                    f"{where}: columns {seen[name]!r} and {cell!r} both name the attribute "
                    f"{name!r}",
                    hint="remove one of them from the feed",
                )
            seen[name] = cell
            names.append(name)
        if "id" not in seen:
            raise InputError(
                f"{where}: the header has no id column{looks_like(cells, 'gmc')} "
                f"(its columns: {', '.join(cells)})",
                hint="every Merchant Center item has an id; name its column id",
            )
        return names


def _is_written_as_is(name: str) -> bool:
    return name in _AS_WRITTEN or name.endswith("link") or "url" in name
