"""One sync at a time per target: the OS lock a push holds (``flock``; released by the kernel
when its process dies), and who holds it, for the others' message.

``StateStore.sync_lock`` names the file (``locks/`` in the state directory); a soft_replace
holds it exclusively from its guard until the server accepted it, insert pushes share it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from psykhe_cli.errors import ConfigError, GuardRefused
from psykhe_cli.statefiles import LOCK_LIMIT, read_state_file


@dataclass(frozen=True, kw_only=True)
class LockHolder:
    """Who holds a target's sync lock, as written in its lock file."""

    pid: int | None
    started: str | None
    mode: str | None


@contextlib.contextmanager
def sync_lock(path: Path, *, base_url: str, exclusive: bool, wait: float) -> Iterator[None]:
    """Hold the lock file ``path`` (of the target at ``base_url``); ``GuardRefused`` naming
    the holder if it is taken (after waiting up to ``wait`` seconds)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while not _try_lock(fd, exclusive):
            if time.monotonic() >= deadline:
                raise _refused(base_url, _holder(path), waited=wait)
            time.sleep(0.05)  # flock has no timeout: try again until the deadline
        mode = "soft_replace" if exclusive else "insert"
        now = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
        with contextlib.suppress(OSError):  # who holds it: for the others' message only
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()} {now} {mode}\n".encode())
        yield
    finally:
        os.close(fd)  # closing releases the lock


def lock_exclusively(fd: int) -> None:
    """Wait for an exclusive lock on ``fd`` (a state file's writers take turns)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: atomic renames still keep each file whole
        return
    fcntl.flock(fd, fcntl.LOCK_EX)


def _try_lock(fd: int, exclusive: bool) -> bool:
    """Take the sync lock without blocking; False when another process holds it."""
    try:
        import fcntl
    except ImportError:  # Windows: one byte locked, always exclusive
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(path: Path) -> LockHolder:
    """What the holder of a lock wrote in it (it may be writing it right now)."""
    try:
        words = (read_state_file(path, LOCK_LIMIT) or b"").decode("utf-8", "replace").split()
    except ConfigError:
        words = []
    pid = int(words[0]) if words and words[0].isdigit() else None
    return LockHolder(
        pid=pid,
        started=words[1] if len(words) > 1 else None,
        mode=words[2] if len(words) > 2 else None,
    )


def _refused(base_url: str, holder: LockHolder, *, waited: float) -> GuardRefused:
    who = f"pid {holder.pid}" if holder.pid is not None else "another process"
    since = f", started {holder.started}" if holder.started else ""
    article = "an" if holder.mode and holder.mode[0] in "aeiou" else "a"
    what = f"{article} {holder.mode} push" if holder.mode else "another push"
    after = f" after waiting {waited:g} s" if waited else ""
    return GuardRefused(
        f"{what} to {base_url} is running ({who}{since}){after}: one sync at a time per target",
        hint="wait for it to finish, or pass --wait-lock SECONDS to wait for it",
        nothing_sent=True,
    )
