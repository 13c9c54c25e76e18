"""Where a feed's bytes come from: a file, ``.gz``, or stdin, decompressed on the fly.

A feed is read as an iterator of byte chunks (about ``CHUNK_SIZE`` each), so memory stays
constant whatever the input size. gzip is recognised by its magic bytes, not its name, and a
truncated or corrupt gzip stream raises ``InputError``: never a silently shorter feed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Literal, cast

from isal import isal_zlib

from psykhe_cli.errors import InputError
from psykhe_cli.schema import CSV_LIST_SEPARATOR

Format = Literal["jsonl", "csv", "tsv", "gmc", "shopify", "woocommerce"]
#: every name ``--format`` accepts; ``formats.py`` says what each one is
FORMATS: tuple[Format, ...] = ("jsonl", "csv", "tsv", "gmc", "shopify", "woocommerce")

STDIN = "-"
STDIN_NAME = "<stdin>"
CHUNK_SIZE = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 31  # gzip header and trailer, 32 KiB window
_GZIP_ERROR = cast("type[Exception]", isal_zlib.error)


@dataclass(frozen=True)
class FeedSource:
    """One feed to read: a path or ``-`` (stdin), and how to read it."""

    path: str
    #: None: from the extension (also under ``.gz``), else by peeking at the content
    format: Format | None = None
    #: CSV/TSV delimiter; None: detected from the header row
    delimiter: str | None = None
    #: CSV/TSV column renames, source column -> product field; a source ``a+b`` joins the
    #: list cells of columns ``a`` and ``b`` into one list field
    column_map: tuple[tuple[str, str], ...] = field(default=())
    #: shop exports: keep the products that are not active (drafts, archived, hidden)
    include_inactive: bool = False
    #: what separates the items of a CSV/TSV list cell
    list_separator: str = CSV_LIST_SEPARATOR

    @property
    def name(self) -> str:
        """How problems name this feed: the path, or ``<stdin>``."""
        return STDIN_NAME if self.path == STDIN else self.path


@dataclass(frozen=True)
class FileIdentity:
    """Which file a path named when it was opened, and its size and time then."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, info: os.stat_result) -> FileIdentity:
        """The identity in ``os.stat``/``os.fstat``'s answer."""
        return cls(info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


class ByteSource:
    """The decompressed chunks of one feed, counting the raw bytes read for progress."""

    def __init__(self, source: FeedSource, stdin: BinaryIO) -> None:
        self.name = source.name
        self.path = source.path
        self.bytes_read = 0
        self.compressed = False
        self._stream = stdin if source.path == STDIN else _open(source.path)
        self._owned = source.path != STDIN
        #: a regular file's identity when opened: ``check_unchanged`` compares it at the end
        self.identity: FileIdentity | None = None
        if self._owned:
            info = os.fstat(self._stream.fileno())
            if stat.S_ISREG(info.st_mode):
                self.identity = FileIdentity.of(info)
        self._raw = self._raw_chunks()
        try:
            head = self._read_head()
        except BaseException:
            self.close()
            raise
        self.compressed = head.startswith(GZIP_MAGIC)
        self._chunks = self._gunzip(head) if self.compressed else self._plain(head)

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        """Close the file (never stdin)."""
        if self._owned:
            self._stream.close()

    def check_unchanged(self) -> None:
        """``InputError`` when the file was replaced, truncated, grown or written to since it
        was opened: what was read would then not be one version of the feed."""
        if self.identity is None:
            return
        try:
            opened = FileIdentity.of(os.fstat(self._stream.fileno()))
            now = {opened, FileIdentity.of(os.stat(self.path))}
        except (OSError, ValueError):
            now = set()
        if now != {self.identity}:
            raise InputError(
                f"{self.name} changed while it was read",
                hint="write the feed to another name and rename it into place when complete",
                nothing_sent=True,
            )

    def _raw_chunks(self) -> Iterator[bytes]:
        # read1: one system call per chunk. read() loops in C until the chunk is full, so a
        # Ctrl-C or SIGTERM landing between two of its reads is not seen until more data
        # comes — never, from a stalled pipe.
        read = getattr(self._stream, "read1", self._stream.read)
        while True:
            try:
                chunk = read(CHUNK_SIZE)
            except IsADirectoryError:
                raise InputError(f"{self.name}: is a directory") from None
            except OSError as exc:
                raise InputError(f"{self.name}: cannot read: {exc.strerror or exc}") from None
            if not chunk:
                return
            self.bytes_read += len(chunk)
            yield chunk

    def _read_head(self) -> bytes:
        # a pipe may hand over a single byte first: read until the magic can be told
        head, self._raw = read_head(self._raw, len(GZIP_MAGIC))
        return head

    def _skip_padding(self, rest: bytes) -> bytes:
        # gzip allows zero bytes after the last member (tape padding); b"" at the end of input
        while not rest.strip(b"\0"):
            rest = next(self._raw, b"")
            if not rest:
                return b""
        return rest

    def _plain(self, head: bytes) -> Iterator[bytes]:
        if head:
            yield head
        yield from self._raw

    def _gunzip(self, head: bytes) -> Iterator[bytes]:
        first, chunks = read_head(self._gunzip_members(head), len(GZIP_MAGIC))
        if first.startswith(GZIP_MAGIC):
            # no feed starts with these bytes (not UTF-8): say it once, not per "line"
            raise InputError(
                f"{self.name}: gzip inside gzip (the file was compressed twice)",
                hint="decompress it once, e.g. gunzip -c FILE > FILE.once.gz, and send that",
            )
        if first:
            yield first
        yield from chunks

    def _gunzip_members(self, head: bytes) -> Iterator[bytes]:
        decompressor = isal_zlib.decompressobj(wbits=_GZIP_WBITS)
        pending = head
        while True:
            if not pending:
                pending = next(self._raw, b"")
                if not pending:
                    break
            try:
                # max_length bounds the memory a highly compressed chunk can take
                out = decompressor.decompress(pending, CHUNK_SIZE)
            except _GZIP_ERROR as exc:
                raise InputError(f"{self.name}: corrupt gzip data ({exc})") from None
            pending = decompressor.unconsumed_tail
            if out:
                yield out
            if decompressor.eof:
                pending = self._skip_padding(decompressor.unused_data + pending)
                if not pending:
                    return
                if not pending.startswith(GZIP_MAGIC[: len(pending)]):
                    raise InputError(f"{self.name}: corrupt gzip data (garbage after the end)")
                # concatenated gzip members (`cat a.gz b.gz`) are one stream
                decompressor = isal_zlib.decompressobj(wbits=_GZIP_WBITS)
        if not decompressor.eof:
            raise InputError(
                f"{self.name}: truncated gzip data (the file ends before the gzip stream does)",
                hint="the file is incomplete; copy or download it again",
            )


def read_head(chunks: Iterator[bytes], size: int) -> tuple[bytes, Iterator[bytes]]:
    """The first ``size`` bytes or more (fewer only at the end) and the chunks that follow."""
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= size:
            break
    return head, chunks


def _open(path: str) -> BinaryIO:
    try:
        if os.path.isdir(path):
            raise InputError(f"{path}: is a directory")
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from None
