"""Temporary files a killed psykhe left behind, told apart from a live one's by a lock.

A psykhe killed with SIGKILL (or by the out-of-memory killer) runs no cleanup: its spool
directory in ``TMPDIR`` and the products file it was writing in ``baselines/`` stay. A nightly
cron job killed every night would fill the disk, so the next run removes them, and only them:

- a live psykhe holds an ``flock`` on each such file (for a spool directory, on its ``.owner``
  file) from the moment it carries the swept name until it is done; the kernel releases it
  when the process ends, however it ends, and the lock is seen across containers sharing the
  directory (a pid is not);
- a sweep removes what it can lock, never what it cannot;
- a file is locked *before* it takes the swept name (``claim``: made under another name, locked,
  renamed), so a sweep can never catch a live one between creating and locking it;
- what an earlier version left (no lock to ask) is removed once older than a day;
- a file that is made and then listed in an index under one lock (a kept full-sync body in
  ``kept/``) and is not listed was left by a run killed between the two: whoever holds that
  lock removes it (``sweep_unlisted``).

Without ``fcntl`` (not POSIX) nothing is swept, and files keep the names only age sweeps.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Collection
from pathlib import Path

#: an unlocked leftover of an earlier version is removed once this old
STALE_SECONDS = 86400
#: inside a spool directory: the file its owner holds locked
OWNER = ".owner"


def claim(folder: Path, prefix: str, suffix: str, *, name: str | None = None) -> tuple[Path, int]:
    """A new empty file ``folder/<prefix>…<suffix>`` (or ``folder/<name>``), already locked:
    its path and its descriptor, which holds the lock. Keep it open while the file is needed;
    closing it (or dying) lets the next sweep remove the file. Where it cannot be locked, the
    file keeps a name only the one-day rule sweeps."""
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".claim-", suffix=".tmp")
    try:
        if not try_lock(fd):
            return Path(temp), fd
        path = folder / (
            name or f"{prefix}{Path(temp).name[len('.claim-') : -len('.tmp')]}{suffix}"
        )
        os.rename(temp, path)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return path, fd


def sweep_files(folder: Path, prefix: str, suffix: str, *, legacy: str | None = None) -> None:
    """Remove the files ``prefix…suffix`` in ``folder`` that no live process holds, and those
    named ``legacy…suffix`` (or ``claim``'s own, never renamed) older than a day."""
    if not _can_lock():
        return
    for entry in _entries(folder):
        if entry.name.startswith(prefix) and entry.name.endswith(suffix):
            _remove_if_free(Path(entry.path), Path(entry.path))
        elif entry.name.startswith((legacy or prefix, ".claim-")) and entry.name.endswith(suffix):
            _remove_if_old(Path(entry.path))


def sweep_dirs(parent: Path, prefix: str, *, keep: Path | None = None) -> None:
    """Remove the directories ``prefix…`` in ``parent`` whose ``.owner`` no live process holds
    (or older than a day without one), except ``keep``."""
    if not _can_lock():
        return
    for entry in _entries(parent):
        path = Path(entry.path)
        if not entry.name.startswith(prefix) or path == keep:
            continue
        with contextlib.suppress(OSError):
            if not entry.is_dir(follow_symlinks=False):
                continue
        if (path / OWNER).exists():
            _remove_if_free(path / OWNER, path)
        else:
            _remove_if_old(path)


def sweep_unlisted(folder: Path, listed: Collection[str], *, suffix: str) -> None:
    """Remove the files ``…suffix`` in ``folder`` whose names are not ``listed``. Only for
    the holder of the lock under which such files are both made and listed: no live run can
    be between the two then."""
    if not _can_lock():
        return
    for entry in _entries(folder):
        if entry.name.endswith(suffix) and entry.name not in listed:
            _remove(Path(entry.path))


def hold_directory(directory: Path) -> int:
    """Mark ``directory`` as held by this process (its ``.owner``, locked); the descriptor."""
    return claim(directory, "", "", name=OWNER)[1]


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError:
        return []


def _remove_if_free(lock: Path, target: Path) -> None:
    """Remove ``target`` if ``lock`` can be locked: its owner is gone."""
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return
    try:
        if try_lock(fd):
            _remove(target)
    finally:
        os.close(fd)


def _remove_if_old(path: Path) -> None:
    with contextlib.suppress(OSError):
        if time.time() - path.lstat().st_mtime > STALE_SECONDS:
            _remove(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def _can_lock() -> bool:
    try:
        import fcntl  # noqa: F401
    except ImportError:
        return False
    return True


def try_lock(fd: int) -> bool:
    """Lock ``fd`` exclusively without waiting; False when another holds it (or no fcntl)."""
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True
