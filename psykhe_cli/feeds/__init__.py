"""Feed readers: where bytes come from (file, ``.gz``, stdin) and how they become records.

Lazy and constant-memory whatever the input size; line numbers are kept; no validation rules
inside (those are in ``psykhe_cli.validate``). Every feed file is opened and read here.

    sources.py    FeedSource, ByteSource: open a path or stdin, gunzip by magic bytes
    blocks.py     chunks -> newline-aligned blocks of whole lines (16 MiB line cap, BOM)
    ranges.py     a byte range of a plain file -> its whole lines, blocks.py's rules (for
                  the workers that read their own ranges); read_again for naming duplicates
    jsonl.py      telling a JSON document or array from JSON Lines
    delimited.py  CSV/TSV tables (CsvTable) and generic CSV rows -> product records (Row)
    formats.py    the format registry: name -> row reader, detection from content
    gmc.py        Google Merchant Center feeds (delimited and XML) -> product records
    gmc_xml.py    Merchant Center XML (RSS 2.0, Atom) parsed as it arrives, for gmc.py
    xml_split.py  Merchant Center XML cut at item starts, each part parsed on its own
    gmc_fields.py the Merchant Center field table: attributes -> a record, the header test
    exports.py    what the shop-export readers share: columns by name, paths, numbers
    shopify.py    Shopify products export -> one product record per variant
    csv_split.py  a Shopify export cut where a handle starts (a delimited Merchant Center
                  feed, a WooCommerce export: at any row), each part read on its own
    woocommerce.py  WooCommerce product export -> one product record per variant; a
                  part's reader (WooPart) and the join of the parts (WooJoin)
    woo_rows.py   a WooCommerce row's cells, what a parent lends, a variant's record
    spilled.py    SpilledMap: the latest entries in memory, the older ones on disk
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from psykhe_cli.feeds import formats
from psykhe_cli.feeds.sources import (
    FORMATS,
    STDIN,
    STDIN_NAME,
    ByteSource,
    FeedSource,
    FileIdentity,
    Format,
    read_head,
)

__all__ = [
    "FORMATS",
    "STDIN",
    "STDIN_NAME",
    "ByteSource",
    "FeedSource",
    "FileIdentity",
    "Format",
    "OpenFeed",
    "detect_format",
    "open_feed",
]

_EXTENSIONS: dict[str, Format] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jl": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".xml": "gmc",
    ".rss": "gmc",
    ".atom": "gmc",
}
_PEEK = 4096


@dataclass
class OpenFeed:
    """An opened feed: its decompressed bytes and the format they are in."""

    source: FeedSource
    bytes_source: ByteSource
    format: Format
    #: True when the format was told from the content or the extension, not --format
    detected: bool
    #: the decompressed chunks, starting with the ones peeked at
    chunks: Iterator[bytes]

    @property
    def bytes_read(self) -> int:
        """Raw (maybe compressed) bytes read so far, for progress."""
        return self.bytes_source.bytes_read

    def close(self) -> None:
        """Close the underlying file (never stdin)."""
        self.bytes_source.close()

    @property
    def identity(self) -> FileIdentity | None:
        """A regular file's device, inode, size and mtime when it was opened; else None."""
        return self.bytes_source.identity

    def check_unchanged(self) -> None:
        """``InputError`` when the file changed since it was opened (see ``ByteSource``)."""
        self.bytes_source.check_unchanged()


def detect_format(source: FeedSource, head: bytes) -> Format:
    """``--format``, else the content (a vendor's header or XML) and the extension (also
    under ``.gz``): see ``formats.detect``."""
    if source.format is not None:
        return source.format
    return formats.detect(head, _by_extension(source.path))


def _by_extension(path: str) -> Format | None:
    name = path.lower()
    for suffix in (".gz", ".gzip"):
        name = name.removesuffix(suffix)
    for extension, fmt in _EXTENSIONS.items():
        if name.endswith(extension):
            return fmt
    return None


def open_feed(source: FeedSource, stdin: BinaryIO) -> OpenFeed:
    """Open ``source`` (``-`` is ``stdin``) and tell its format; raises ``InputError``."""
    raw = ByteSource(source, stdin)
    try:
        head, rest = read_head(iter(raw), _PEEK)
        fmt = detect_format(source, head)
    except BaseException:
        raw.close()
        raise
    detected = source.format is None
    return OpenFeed(source, raw, fmt, detected, itertools.chain([head] if head else [], rest))
