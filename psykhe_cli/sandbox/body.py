"""One request body, taken in chunk by chunk: hashed, gunzipped, measured and spooled.

Nothing is held whole in memory: each chunk is hashed (SHA-1 of the bytes as received, the
``file_identifier``), decompressed in bounded steps, counted against the size limit and
appended to a spool file that the worker reads later.
"""

from __future__ import annotations

import hashlib
import zlib
from enum import Enum
from pathlib import Path
from typing import BinaryIO

_GZIP_WBITS = 16 + zlib.MAX_WBITS
#: most bytes one decompression step may produce (bounds memory on a gzip bomb)
_STEP = 1 << 20


class BodyOutcome(Enum):
    """What a whole body turned out to be."""

    OK = "ok"
    EMPTY = "payload_empty"
    TOO_LARGE = "payload_too_large"
    BAD_GZIP = "bad_gzip"
    TRUNCATED_GZIP = "truncated_gzip"


class UploadSpool:
    """Consumes one body; ``finish()`` says what it was. Use as a context manager."""

    def __init__(self, path: Path | None, *, gzip: bool, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.raw_bytes = 0
        self.decompressed_bytes = 0
        self._sha1 = hashlib.sha1()
        self._gzip = gzip
        self._inflater = zlib.decompressobj(_GZIP_WBITS) if gzip else None
        self._has_content = False
        self._bad_gzip = False
        self._too_large = False
        self._file: BinaryIO | None = path.open("wb") if path is not None else None

    def __enter__(self) -> UploadSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def sha1(self) -> str:
        """SHA-1 (hex) of the bytes received so far."""
        return self._sha1.hexdigest()

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk of the body as received."""
        self.raw_bytes += len(chunk)
        self._sha1.update(chunk)
        if self._bad_gzip or self._too_large:
            return  # keep hashing so the body is read to its end; nothing more to learn
        if self._inflater is None:
            self._keep(chunk)
            return
        try:
            self._inflate(chunk)
        except zlib.error:
            self._bad_gzip = True

    def _inflate(self, chunk: bytes) -> None:
        assert self._inflater is not None
        data = chunk
        while data and not self._too_large:
            if self._inflater.eof:
                # a further gzip member (concatenated gzip files are one valid stream)
                self._inflater = zlib.decompressobj(_GZIP_WBITS)
            self._keep(self._inflater.decompress(data, _STEP))
            inflater = self._inflater
            data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail

    def _keep(self, data: bytes) -> None:
        self.decompressed_bytes += len(data)
        if self.decompressed_bytes > self.max_bytes:
            self._too_large = True
            self.close()
            return
        if not self._has_content and data.strip():
            self._has_content = True
        if self._file is not None:
            self._file.write(data)

    def finish(self) -> BodyOutcome:
        """The verdict on the whole body, once its last chunk was fed; closes the spool."""
        self.close()
        if self._too_large:
            return BodyOutcome.TOO_LARGE
        if self._bad_gzip:
            return BodyOutcome.BAD_GZIP
        if self.raw_bytes == 0:
            return BodyOutcome.EMPTY
        if self._inflater is not None and not self._inflater.eof:
            return BodyOutcome.TRUNCATED_GZIP
        return BodyOutcome.OK if self._has_content else BodyOutcome.EMPTY

    def close(self) -> None:
        """Close the spool file (it stays on disk; the caller keeps or removes it)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        """Close and remove the spool file."""
        self.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)
