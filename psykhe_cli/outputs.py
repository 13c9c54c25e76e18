"""Files psykhe writes for the user (``--rejects``, ``--plan-file``): never over an input, never
half-written.

An output that is the same file as a feed (same device and inode, through symlinks and hard
links) would be emptied before the feed is read: that is a usage error, found before anything
is opened for writing. An output is written to a temporary file beside its target and renamed
over it once complete, so a failed run leaves the previous file as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO

from psykhe_cli.errors import UsageError


def check_outputs(outputs: Mapping[str, Path | None], inputs: Iterable[str]) -> None:
    """``UsageError`` when an output (``{"--rejects": path}``) is one of the ``inputs``."""
    named = {option: path for option, path in outputs.items() if path is not None}
    for option, path in named.items():
        out = _identity(path)
        if out is None:
            continue  # not there yet: it cannot be an input
        for feed in inputs:
            if _identity(Path(feed)) == out:
                raise UsageError(
                    f"{option} {path} is the feed {feed}: writing it would destroy the feed; "
                    "nothing was read or sent",
                    hint=f"give {option} another file name",
                )
    paths = list(named.items())
    for index, (option, path) in enumerate(paths):
        for other, second in paths[index + 1 :]:
            if _same_name(path, second):
                raise UsageError(f"{option} and {other} name the same file {path}")


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _same_name(first: Path, second: Path) -> bool:
    same = _identity(first)
    if same is not None:
        return same == _identity(second)
    return os.path.abspath(first) == os.path.abspath(second)


class AtomicOutput:
    """A file written beside ``path`` and renamed over it by ``commit``; ``abort`` removes it."""

    def __init__(self, path: Path, option: str) -> None:
        self.path = path
        self._option = option
        self._temp: str | None = None
        self.handle: IO[bytes] | None = None

    def open(self) -> IO[bytes]:
        """The temporary file, opened for writing; ``UsageError`` if it cannot be made."""
        folder = self.path.parent
        try:
            fd, self._temp = tempfile.mkstemp(
                dir=folder, prefix=f".{self.path.name}.", suffix=".tmp"
            )
        except OSError as exc:
            raise UsageError(
                f"cannot write {self._option} {self.path}: {exc.strerror or exc}"
            ) from exc
        self.handle = os.fdopen(fd, "wb")
        return self.handle

    def commit(self) -> None:
        """Give the file its name; the previous file of that name is replaced whole."""
        if self.handle is None or self._temp is None:
            return
        self.handle.close()
        with contextlib.suppress(OSError):  # a file replaced keeps its mode; a new one is 0600
            os.chmod(self._temp, self.path.stat().st_mode & 0o777)
        os.replace(self._temp, self.path)
        self.handle, self._temp = None, None

    def abort(self) -> None:
        """Remove the temporary file (nothing was committed)."""
        if self.handle is not None:
            self.handle.close()
        if self._temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._temp)
        self.handle, self._temp = None, None
