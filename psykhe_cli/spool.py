"""Validated JSON Lines → gzip files on disk, counted and hashed, re-readable for every retry.

The upload never streams from the input itself: a pipe can be read once, and a retry must
re-send exactly the same bytes. So push writes the normalized lines here first, into a private
directory (0700, files 0600) that is removed when the spool is closed — Ctrl-C included.
One killed with SIGKILL is removed by the next spool made beside it (``leftovers.py``). A
spool that cannot be written (a full or read-only ``TMPDIR``) is the machine's fault, not the
feed's: a ``ConfigError`` (exit 4) naming the directory.

While it is written, the single part of a feed can also be streamed (``GrowingPart``): the
upload reads what was written so far, and is completed only once it is ``release``d (the
feed checked and the guard passed), else ``abort``ed.

An ``insert`` feed may be cut into several parts (``--batch-size``); a part answered
``payload_too_large`` can be split in two. A ``soft_replace`` feed is always one part. A body
kept from an earlier push (``kept.py``) is ``adopt``ed whole, to be sent again as it is.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import os
import shutil
import tempfile
import threading
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psykhe_cli.deflate import DEFAULT_LEVEL, GZIP_HEADER, Deflated, combine_crc32, deflate, trailer
from psykhe_cli.errors import ConfigError, UsageError
from psykhe_cli.leftovers import hold_directory, sweep_dirs

CHUNK_SIZE = 64 * 1024
#: the spool directories in TMPDIR; those a killed psykhe left are swept (``leftovers.py``)
SPOOL_PREFIX = "psykhe-spool-"
_TMPDIR_HINT = (
    "free space in TMPDIR, or set TMPDIR to a writable directory with room for the compressed feed"
)
DEFAULT_COMPRESSION_LEVEL = DEFAULT_LEVEL


@dataclass
class BatchLimit:
    """When an insert feed is cut into another part: uncompressed bytes and/or lines."""

    max_bytes: int | None = None
    max_lines: int | None = None

    @classmethod
    def parse(cls, text: str) -> BatchLimit:
        """Parse ``--batch-size``: ``50MB``, ``512KiB``, ``2GB`` (bytes) or ``100000`` (lines)."""
        raw = text.strip().upper().replace(" ", "")
        units = {"KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "KB": 1000, "MB": 1000**2}
        units |= {"GB": 1000**3, "K": 1000, "M": 1000**2, "B": 1}
        for suffix, factor in units.items():
            if raw.endswith(suffix) and raw[: -len(suffix)].replace(".", "", 1).isdigit():
                size = int(float(raw[: -len(suffix)]) * factor)
                if size <= 0:
                    break
                return cls(max_bytes=size)
        if raw.isdigit() and int(raw) > 0:
            return cls(max_lines=int(raw))
        raise UsageError(
            f"--batch-size must be a size such as 50MB or a number of lines such as 100000,"
            f" not {text!r}"
        )

    def full(self, lines: int, size: int) -> bool:
        """True when a part holding ``lines`` lines of ``size`` bytes must not grow."""
        return (self.max_lines is not None and lines >= self.max_lines) or (
            self.max_bytes is not None and size >= self.max_bytes
        )


@dataclass
class SpoolPart:
    """One gzip file ready to upload: its size is the request's Content-Length."""

    path: Path
    lines: int = 0
    raw_bytes: int = 0
    #: bytes of the gzip file once closed
    size: int = 0

    def open(self) -> Iterator[bytes]:
        """The gzip bytes in fixed-size chunks; each call starts again from the first byte."""
        with self.path.open("rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                yield chunk

    def iter_lines(self) -> Iterator[bytes]:
        """The uncompressed JSON Lines of this part (used to split it)."""
        decompressor = zlib.decompressobj(31)
        pending = b""
        for chunk in self.open():
            pending += decompressor.decompress(chunk)
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line + b"\n"
        pending += decompressor.flush()
        if pending:
            yield pending


class StreamAborted(Exception):
    """The streamed part was abandoned (an error in the feed, a refused guard, Ctrl-C): its
    request must end without its last bytes."""


class GrowingPart:
    """The spool's single part while it is being written, read from the upload's thread.

    The reader gets the bytes written so far, as they are written; the gzip trailer and the
    end of the body only once the part is ``release``d. ``abort`` makes the reader raise
    ``StreamAborted`` instead, so the request is never completed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._changed = threading.Condition()
        self._grown = 0
        self._part: SpoolPart | None = None
        self._aborted = False
        self._stopped = False
        self._cut: list[Any] = []

    # -- the writer's side -------------------------------------------------------------------
    def grew(self, size: int) -> None:
        """``size`` bytes of the part are on disk (flushed)."""
        with self._changed:
            self._grown = size
            self._changed.notify_all()

    def release(self, part: SpoolPart) -> None:
        """The part is complete and may be sent whole: the reader ends the body."""
        with self._changed:
            if not self._aborted:
                self._part = part
            self._changed.notify_all()

    def abort(self) -> None:
        """Stop the upload: its connections are cut, and unless the part was released, the
        reader raises instead of ending the body, which is never sent whole."""
        with self._changed:
            if self._part is None:
                self._aborted = True
            self._stopped = True
            cut, self._cut = self._cut, []
            self._changed.notify_all()
        for shut in cut:
            shut()

    @property
    def aborted(self) -> bool:
        """True once ``abort`` took effect."""
        return self._aborted

    @property
    def written(self) -> int:
        """Bytes of the part on disk so far."""
        return self._grown

    # -- the reader's side -------------------------------------------------------------------
    def on_abort(self, shut: Any) -> None:
        """Call ``shut()`` (shut a connection down) when the upload is stopped (``abort``)."""
        with self._changed:
            if not self._stopped:
                self._cut.append(shut)
                return
        shut()

    def whole(self) -> SpoolPart:
        """Wait until the part is released and return it; ``StreamAborted`` if it never is."""
        with self._changed:
            while self._part is None and not self._aborted:
                self._changed.wait()
            if self._part is None:
                raise StreamAborted("the upload was abandoned before its end")
            return self._part

    def stream(self) -> Iterator[bytes]:
        """The part's bytes as they are written, ending with it once released."""
        offset = 0
        with contextlib.ExitStack() as stack:
            handle: Any = None  # opened once the writer has made the file
            while True:
                with self._changed:
                    while offset >= self._grown and self._part is None and not self._aborted:
                        self._changed.wait()
                    if self._aborted:
                        raise StreamAborted("the upload was abandoned before its end")
                    end = self._part.size if self._part is not None else self._grown
                if offset >= end:
                    return
                if handle is None:
                    handle = stack.enter_context(self.path.open("rb"))
                chunk = handle.read(min(CHUNK_SIZE, end - offset))
                if not chunk:  # cannot happen: the bytes were flushed before they were told
                    raise StreamAborted("the spool is shorter than was written")
                offset += len(chunk)
                yield chunk


class _Writer:
    """Writes one part: the gzip header, deflate pieces as they come, then the trailer."""

    def __init__(
        self,
        part: SpoolPart,
        handle: Any,
        feed_hash: Any = None,
        growing: GrowingPart | None = None,
    ) -> None:
        self.part, self.handle, self.feed_hash = part, handle, feed_hash
        self.crc = 0
        #: told of every byte flushed, when the part is streamed while written
        self.growing = growing
        self.written = 0
        self._emit(GZIP_HEADER)

    def _emit(self, data: bytes) -> None:
        self.handle.write(data)
        self.written += len(data)
        if self.feed_hash is not None:
            self.feed_hash.update(data)

    def append(self, piece: Deflated) -> None:
        self._emit(piece.data)
        self.crc = combine_crc32(self.crc, piece)
        self.part.lines += piece.lines
        self.part.raw_bytes += piece.size
        if self.growing is not None:
            self.handle.flush()  # the upload reads the file: what it is told must be there
            self.growing.grew(self.written)

    def close(self) -> SpoolPart:
        self._emit(trailer(self.crc, self.part.raw_bytes))
        self.handle.close()
        self.part.size = self.part.path.stat().st_size
        return self.part


class Spool:
    """Writes normalized JSON Lines into one or more gzip parts in a private temp directory."""

    def __init__(
        self,
        *,
        compression_level: int = DEFAULT_COMPRESSION_LEVEL,
        limit: BatchLimit | None = None,
        directory: str | None = None,
        streamed: bool = False,
    ) -> None:
        if not 1 <= compression_level <= 9:
            raise UsageError(
                f"--compression-level must be between 1 and 9, not {compression_level}"
            )
        self.compression_level = compression_level
        self.limit = limit or BatchLimit()
        if directory is None:
            from psykhe_cli.config import temp_dir

            directory = temp_dir()
        try:
            self.directory = Path(tempfile.mkdtemp(prefix=SPOOL_PREFIX, dir=directory))
        except OSError as exc:
            raise ConfigError(
                f"cannot create the temporary spool: {exc.strerror} ({exc.filename}, TMPDIR)",
                hint=_TMPDIR_HINT,
            ) from exc
        #: held (locked) while the spool lives: a sweep never removes a live spool
        self._owner: int | None = None
        try:
            self._owner = hold_directory(self.directory)
        except OSError as exc:
            shutil.rmtree(self.directory, ignore_errors=True)
            raise self._cannot_write(exc) from exc
        sweep_dirs(self.directory.parent, SPOOL_PREFIX, keep=self.directory)
        self.parts: list[SpoolPart] = []
        #: SHA-256 of every gzip byte written, across parts: the upload's identity in the history
        self.feed_sha256 = hashlib.sha256()
        self._writer: _Writer | None = None
        self._counter = 0
        #: the single part, readable while it is written (``streamed``: no limit)
        self.growing: GrowingPart | None = None
        if streamed:
            if self.limit != BatchLimit():
                raise ValueError("a spool cut into parts is not streamed")
            self.growing = GrowingPart(self.first_path)

    # -- writing ---------------------------------------------------------------------------
    def _new_writer(self, *, hashed: bool = True) -> _Writer:
        self._counter += 1
        path = self.directory / f"part-{self._counter:05d}.jsonl.gz"
        # O_BINARY: on Windows a descriptor is opened in text mode otherwise (LF -> CRLF)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags, 0o600)
        feed_hash = self.feed_sha256 if hashed else None  # a split re-sends the same feed
        growing = self.growing if self._counter == 1 else None
        return _Writer(SpoolPart(path), os.fdopen(fd, "wb"), feed_hash, growing)

    @property
    def first_path(self) -> Path:
        """Where the first part is (or will be) written."""
        return self.directory / f"part-{1:05d}.jsonl.gz"

    def write_deflated(self, piece: Deflated) -> None:
        """Append lines compressed elsewhere (a validation worker); only without a limit."""
        if self.limit.max_bytes is not None or self.limit.max_lines is not None:
            raise ValueError("pieces compressed elsewhere cannot be cut at a batch limit")
        try:
            self._writer_for_more().append(piece)
        except OSError as exc:
            raise self._cannot_write(exc) from exc

    def write(self, lines: Iterable[bytes]) -> None:
        """Append normalized lines (each ending with ``\\n``), starting new parts at the limit."""
        # Lines are compressed a batch at a time: one compress() call per line costs more
        # than the compression itself. Only a byte limit needs a look at each line.
        batch = lines if isinstance(lines, list) else list(lines)
        try:
            if self.limit.max_bytes is None:
                self._write_counted(batch)
            else:
                self._write_measured(batch)
        except OSError as exc:
            raise self._cannot_write(exc) from exc

    def _cannot_write(self, exc: OSError) -> ConfigError:
        """The machine's fault, not the feed's: the spool's directory is full or unwritable."""
        full = exc.errno in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC))
        why = exc.strerror or str(exc)
        return ConfigError(
            f"cannot write the temporary spool in {self.directory.parent} (TMPDIR): "
            f"{f'no room left ({why})' if full else why}; the feed itself is not at fault",
            hint=_TMPDIR_HINT,
        )

    def _writer_for_more(self) -> _Writer:
        if self._writer is None:
            self._writer = self._new_writer()
        return self._writer

    def _end_part_if_full(self, writer: _Writer) -> None:
        if self.limit.full(writer.part.lines, writer.part.raw_bytes):
            self.parts.append(writer.close())
            self._writer = None

    def _write_counted(self, batch: list[bytes]) -> None:
        start = 0
        while start < len(batch):
            writer = self._writer_for_more()
            room = len(batch) - start
            if self.limit.max_lines is not None:
                room = min(room, self.limit.max_lines - writer.part.lines)
            self._flush(writer, batch[start : start + room])
            start += room
            self._end_part_if_full(writer)

    def _write_measured(self, batch: list[bytes]) -> None:
        pending: list[bytes] = []
        size = 0
        for line in batch:
            writer = self._writer_for_more()
            pending.append(line)
            size += len(line)
            if self.limit.full(writer.part.lines + len(pending), writer.part.raw_bytes + size):
                self._flush(writer, pending)
                pending, size = [], 0
                self._end_part_if_full(writer)
        if pending:
            self._flush(self._writer_for_more(), pending)

    def _flush(self, writer: _Writer, lines: list[bytes]) -> None:
        writer.append(deflate(b"".join(lines), len(lines), self.compression_level))

    def finish(self) -> list[SpoolPart]:
        """Close the part being written and return every part, in feed order."""
        if self._writer is not None:
            try:
                self.parts.append(self._writer.close())
            except OSError as exc:
                raise self._cannot_write(exc) from exc
            self._writer = None
        return list(self.parts)

    def split(self, part: SpoolPart) -> tuple[SpoolPart, SpoolPart]:
        """Rewrite ``part`` as two parts holding its first and second half of lines."""
        if part.lines < 2:
            raise ValueError("a part of one line cannot be split")
        half = part.lines // 2
        lines = part.iter_lines()
        halves = []
        for count in (half, part.lines - half):
            writer = self._new_writer(hashed=False)
            data = b"".join(itertools.islice(lines, count))
            writer.append(deflate(data, count, self.compression_level))
            halves.append(writer.close())
        part.path.unlink(missing_ok=True)
        return halves[0], halves[1]

    def adopt(self, path: Path) -> Path:
        """A file of this spool holding the bytes of ``path`` (a body kept from an earlier
        push), linked where it can be: what becomes of ``path`` meanwhile cannot change it.
        ``FileNotFoundError`` when ``path`` is gone."""
        self._counter += 1
        adopted = self.directory / f"part-{self._counter:05d}.jsonl.gz"
        try:
            link_or_copy(path, adopted)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise self._cannot_write(exc) from exc
        return adopted

    @property
    def lines(self) -> int:
        """Lines written so far, across parts."""
        current = self._writer.part.lines if self._writer else 0
        return current + sum(part.lines for part in self.parts)

    # -- lifetime --------------------------------------------------------------------------
    def discard(self) -> None:
        """Remove the spool directory and everything in it."""
        if self._writer is not None:
            self._writer.handle.close()
            self._writer = None
        shutil.rmtree(self.directory, ignore_errors=True)
        if self._owner is not None:
            os.close(self._owner)
            self._owner = None

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()


def link_or_copy(source: Path, target: Path) -> None:
    """``target`` becomes the bytes of ``source``: a hard link (no copy of hundreds of MB)
    where the file system allows it, else a copy; private (0600) and durable either way."""
    with contextlib.suppress(FileNotFoundError):
        target.unlink()  # what a killed run left under this name
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        fd = os.open(
            target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600
        )
        with os.fdopen(fd, "wb") as out, source.open("rb") as handle:
            shutil.copyfileobj(handle, out, 1024 * 1024)
    os.chmod(target, 0o600)  # a link shares its source's mode: private whatever it was
    fd = os.open(target, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
