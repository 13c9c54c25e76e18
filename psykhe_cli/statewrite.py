"""Writing the state directory's files: whole or not at all, one writer at a time.

Every state file is replaced atomically (a temp file beside it, fsync, rename; mode 0600),
so a reader sees the old file or the new one, never a torn one. The temp file is locked while
written (``leftovers.claim``): one a killed writer left behind is swept by the next writer of
that file. Writers of one file take turns under ``locked``, an advisory lock file beside it,
so two pushes from cron each add their part without losing the other's.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from psykhe_cli.leftovers import claim, sweep_files
from psykhe_cli.locks import lock_exclusively


def ensure_private_dir(folder: Path) -> None:
    """Make ``folder`` (0700), and take back what others could read of one that exists."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_mode & 0o077:
        folder.chmod(0o700)


@contextlib.contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Hold the advisory lock ``lock_file`` (made 0600 when missing) while the block runs."""
    ensure_private_dir(lock_file.parent)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        lock_exclusively(fd)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def replace_file(path: Path, data: str | bytes) -> None:
    """Make ``path`` hold ``data`` (text is written as UTF-8), atomically and 0600."""
    folder, name = path.parent, path.name
    sweep_files(folder, f".{name}.", ".tmp")
    temp, fd = claim(folder, f".{name}.", ".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
            os.chmod(temp, 0o600)
            os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
