"""Files psykhe writes for the user (``--rejects``, ``--plan-file``): never over an input, never
half-written, never in place of a device.

What an output's name is decides how it is written:

    -, /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N
                        psykhe's own descriptor (a copy of it), as a shell would; so
                        ``-`` is standard output
    a device, a FIFO    opened and written in place: never replaced
    a regular file, or no file yet
                        written to a temporary file beside it (beside the file a symbolic link
                        names: the link stays), flushed to disk, and renamed over it once
                        complete, so a failed run leaves the previous file as it was; a new
                        file is 0600, a replaced one keeps its mode

``check_outputs`` refuses, before anything is read or sent, an output that is a feed (same
device and inode, through symlinks and hard links: writing it would destroy the feed), a
directory, or a name that cannot be written (usage error, exit 2). A write that fails later
(a full disk) is a ``ConfigError`` (exit 4) naming the output: like the state directory, it is
this machine's to fix, and nothing was sent.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from psykhe_cli.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from psykhe_cli.validate import Problem

#: names of psykhe's own descriptors: written through a copy, never opened by name
_STANDARD = {"-": 1, "/dev/stdout": 1, "/dev/stderr": 2}
_DESCRIPTOR_FOLDERS = ("/dev/fd/", "/proc/self/fd/")


def check_outputs(outputs: Mapping[str, Path | None], inputs: Iterable[str]) -> None:
    """``UsageError`` when an output (``{"--rejects": path}``) is one of the ``inputs``, a
    directory, or cannot be written; two outputs may not name one file either."""
    named = {option: path for option, path in outputs.items() if path is not None}
    feeds = list(inputs)
    for option, path in named.items():
        _check_writable(option, path)
        out = _identity(path)
        if out is None:
            continue  # not there yet: it cannot be an input
        for feed in feeds:
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


def _check_writable(option: str, path: Path) -> None:
    def refuse(reason: str) -> UsageError:
        return UsageError(f"cannot write {option} {path}: {reason}; nothing was read or sent")

    fd = _descriptor(path)
    if fd is not None:
        try:
            os.fstat(fd)
        except OSError:
            raise refuse(f"psykhe's descriptor {fd} is not open") from None
        return
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise UsageError(
            f"{option} {path} is a directory; nothing was read or sent",
            hint=f"name a file in it: {option} {path / 'FILE'}",
        )
    if info is not None and not stat.S_ISREG(info.st_mode):
        if not os.access(path, os.W_OK):
            raise refuse("permission denied")
        return
    try:  # the temporary file beside it is what must be possible
        handle, temp = tempfile.mkstemp(dir=_real(path).parent, prefix=".psykhe-", suffix=".tmp")
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    os.close(handle)
    os.unlink(temp)


def is_standard_output(path: Path) -> bool:
    """Whether an output named ``path`` goes to psykhe's standard output (``-`` and others)."""
    return _descriptor(path) == 1


def _descriptor(path: Path) -> int | None:
    """The descriptor a name such as ``-`` or ``/dev/fd/3`` stands for, else None."""
    name = str(path)
    if name in _STANDARD:
        return _STANDARD[name]
    for folder in _DESCRIPTOR_FOLDERS:
        number = name.removeprefix(folder)
        if number != name and number.isdigit():
            return int(number)
    return None


def _real(path: Path) -> Path:
    """The file a regular output's name reaches, links followed (a link is never replaced)."""
    return Path(os.path.realpath(path))


def _identity(path: Path) -> tuple[int, int] | None:
    fd = _descriptor(path)
    try:
        info = os.fstat(fd) if fd is not None else path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _same_name(first: Path, second: Path) -> bool:
    same = _identity(first)
    if same is not None:
        return same == _identity(second)
    return os.path.abspath(first) == os.path.abspath(second)


class OutputFile:
    """One output, written as its name asks (see the module): ``open``, write to the handle,
    then ``commit``; ``abort`` drops what was not committed."""

    def __init__(self, path: Path, option: str) -> None:
        self.path = path
        self._option = option
        #: the temporary file, for a regular output; None when written in place
        self._temp: str | None = None
        self.handle: IO[bytes] | None = None

    def open(self) -> IO[bytes]:
        """The handle to write to; its failures are ``ConfigError`` naming the output."""
        fd = _descriptor(self.path)
        try:
            if fd is not None:
                fd = os.dup(fd)
            elif self._in_place():
                fd = os.open(self.path, os.O_WRONLY | getattr(os, "O_NOCTTY", 0))
            else:
                fd, self._temp = tempfile.mkstemp(
                    dir=_real(self.path).parent, prefix=f".{self.path.name}.", suffix=".tmp"
                )
        except OSError as exc:
            raise self._failed(exc) from exc
        self.handle = _Writer(io.FileIO(fd, "wb"), self._failed)
        return self.handle

    def _in_place(self) -> bool:
        try:
            return not stat.S_ISREG(os.stat(self.path).st_mode)
        except FileNotFoundError:
            return False

    def commit(self) -> None:
        """Everything is written: a regular output takes its name, replacing the previous
        file whole; one written in place is flushed."""
        handle, temp = self.handle, self._temp
        if handle is None:
            return
        try:
            handle.flush()
            if temp is not None:
                os.fsync(handle.fileno())
            handle.close()
            if temp is not None:
                real = _real(self.path)
                with contextlib.suppress(OSError):  # a file replaced keeps its mode
                    os.chmod(temp, real.stat().st_mode & 0o777)
                os.replace(temp, real)
        except OSError as exc:
            raise self._failed(exc) from exc
        self.handle, self._temp = None, None

    def abort(self) -> None:
        """Drop what was not committed: the temporary file is removed (written in place,
        what went out stays out)."""
        if self.handle is not None:
            with contextlib.suppress(OSError, ConfigError):
                self.handle.close()
        if self._temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._temp)
        self.handle, self._temp = None, None

    def withdraw(self) -> None:
        """There is nothing true to write this time: the previous regular file of that name
        is removed, so it cannot pass for this run's; a FIFO's reader gets its end at once."""
        self.abort()
        if _descriptor(self.path) is not None:
            return
        try:
            if not self._in_place():
                os.unlink(_real(self.path))
                return
            # never waits: a FIFO nobody reads refuses a non-blocking open (ENXIO), let be
            flags = os.O_WRONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
            os.close(os.open(self.path, flags))
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise self._failed(exc) from exc

    def _failed(self, exc: OSError) -> ConfigError:
        return ConfigError(
            f"cannot write {self._option} {self.path}: {exc.strerror or exc}; nothing was sent"
        )


class _Writer(io.BufferedWriter):
    """A buffered file whose failures name the output instead of surfacing as ``OSError``
    (which a caller reading a baseline at the same time would take for its own)."""

    def __init__(self, raw: io.FileIO, failed: Callable[[OSError], ConfigError]) -> None:
        super().__init__(raw)
        self._failed = failed

    def write(self, data: bytes) -> int:  # type: ignore[override]
        try:
            return super().write(data)
        except OSError as exc:
            raise self._failed(exc) from exc

    def flush(self) -> None:
        try:
            super().flush()
        except OSError as exc:
            raise self._failed(exc) from exc


class RejectsFile:
    """``--rejects FILE``: each rejected input line, then its problems, as JSON Lines.

    An ``OutputFile``: it takes its name by ``commit`` once the feed was read to its end.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._output = OutputFile(path, "--rejects") if path is not None else None
        self._handle: IO[bytes] | None = None

    def __enter__(self) -> RejectsFile:
        if self._output is not None:
            self._handle = self._output.open()
        return self

    def commit(self) -> None:
        """Every line is read: the file takes its name."""
        if self._output is not None:
            self._output.commit()
            self._handle = None

    def write(self, file: str, line: int, raw: bytes, problems: Sequence[Problem]) -> None:
        """One rejected line of ``file`` and its problems."""
        import orjson

        if self._handle is None:
            return
        record = {
            "file": file,
            "line": line,
            "input": raw.decode("utf-8", "backslashreplace"),
            "problems": [problem.to_json() for problem in problems],
        }
        self._handle.write(orjson.dumps(record) + b"\n")

    def __exit__(self, *exc_info: object) -> None:
        if self._output is not None:
            self._output.abort()  # not committed: the feed was not read to its end
