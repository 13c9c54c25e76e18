"""Reading the state directory's files: regular files of bounded size, validated as a whole.

Every state file is read through ``read_state_file`` (a baseline's products file, read in
pieces, through ``open_state_file``): it must be a regular file (a symlink to
one is followed; ``/dev/zero``, a FIFO or a directory is refused without reading a byte, and
opening never blocks) of at most its limit, else a ``ConfigError`` naming it. The history alone
may be longer: only its last ``HISTORY_TAIL`` bytes are read (it keeps the last pushes anyway).

``full_syncs_document`` checks ``full-syncs.json`` whole against its schema (``_Entry``):
types, required keys, and that each entry is what its name says. The drop guard reads it, so
anything it cannot trust is a ``ConfigError`` naming the file, never "no baseline".
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import msgspec

from psykhe_cli.errors import ConfigError
from psykhe_cli.target import canonical_base_url, target_name

MiB = 1024 * 1024
#: the history keeps 1000 pushes of a few hundred bytes; more is read from its end only
HISTORY_TAIL = 8 * MiB
#: ``full-syncs.json``: a few hundred bytes per target
FULL_SYNCS_LIMIT = 4 * MiB
#: ``no-chunked.json``: one line per target
NO_CHUNKED_LIMIT = 1 * MiB
#: a lock file holds "pid time mode"
LOCK_LIMIT = 4096


def read_state_file(path: Path, limit: int, *, tail: bool = False) -> bytes | None:
    """The bytes of the state file ``path``, None if there is none; ``ConfigError`` naming it
    if it is not a regular file or is larger than ``limit`` (``tail``: its last ``limit``
    bytes instead, from the first whole line)."""
    try:
        fd = _open_regular(path)
    except FileNotFoundError:
        return None
    try:
        size = os.fstat(fd).st_size
        start = max(0, size - limit) if tail else 0
        if start:
            os.lseek(fd, start, os.SEEK_SET)
        data = _read_up_to(fd, limit + 1)
    except OSError as exc:
        raise unusable(path, exc) from None
    finally:
        os.close(fd)
    if len(data) > limit:  # with ``tail``: it grew while it was read
        if not tail:
            raise ConfigError(
                f"the state file {path} is larger than {limit // 1024:,} KiB, more than psykhe "
                "ever writes there",
                hint="move it away; psykhe starts a new one",
            )
        data, start = data[-limit:], 1
    if start:  # the first line is cut: begin after it
        data = data[data.find(b"\n") + 1 :] if b"\n" in data else b""
    return data


def open_state_file(path: Path) -> BinaryIO:
    """``path`` opened for reading, read in pieces by its caller (a baseline's products file);
    ``ConfigError`` naming it if it is not a regular file (or is missing)."""
    try:
        return os.fdopen(_open_regular(path), "rb")
    except FileNotFoundError as exc:
        raise unusable(path, exc) from None


def _open_regular(path: Path) -> int:
    """A descriptor of ``path``, opened without blocking; ``FileNotFoundError`` if there is
    none, ``ConfigError`` naming it if it is not a regular file or cannot be opened."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise unusable(path, exc) from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        os.close(fd)
        raise unusable(path, exc) from None
    if stat.S_ISREG(mode):
        return fd
    os.close(fd)
    if stat.S_ISDIR(mode):
        raise unusable(path, IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)))
    raise ConfigError(
        f"the state file {path} is not a regular file",
        hint="remove it: psykhe keeps its history and full-sync counts in regular files",
    )


def _read_up_to(fd: int, size: int) -> bytes:
    pieces, left = [], size
    while left > 0:
        piece = os.read(fd, min(left, MiB))
        if not piece:
            break
        pieces.append(piece)
        left -= len(piece)
    return b"".join(pieces)


def unusable(path: Path, exc: OSError) -> ConfigError:
    """A state file or directory that cannot be read: not there as what it should be."""
    return ConfigError(
        f"the state file {path} cannot be read: {exc.strerror or exc}",
        hint="check XDG_STATE_HOME: psykhe keeps its history and full-sync counts there",
    )


def damaged(path: Path) -> ConfigError:
    """``full-syncs.json`` is not what psykhe writes: the guard cannot trust it."""
    return ConfigError(
        f"the state file {path} is damaged",
        hint="delete it to forget the last full-sync counts (the soft_replace drop guard)",
    )


# --- full-syncs.json ------------------------------------------------------------------------

Count = Annotated[int, msgspec.Meta(ge=0)]
_UNSET: Any = msgspec.UNSET


class _Sync(msgspec.Struct):
    """One remembered soft_replace, as ``full_syncs.FullSync`` is written."""

    products: Count
    variants: Count | None = None
    ingestion_id: int | None = None
    time: str = ""
    products_file: str | None = None
    sequence: Count = 0


class _Entry(msgspec.Struct):
    """A target's entry: who it is, its last completed sync (flattened in), its pending ones.

    Keys not listed are kept (a later version's) but never read.
    """

    base_url: str
    key_fingerprint: str
    profile: str | None = None
    products: Count | msgspec.UnsetType = _UNSET
    variants: Count | msgspec.UnsetType | None = _UNSET
    ingestion_id: int | msgspec.UnsetType | None = _UNSET
    time: str | msgspec.UnsetType = _UNSET
    products_file: str | msgspec.UnsetType | None = _UNSET
    sequence: Count | msgspec.UnsetType = _UNSET
    pending: list[_Sync] = []
    #: sent whole, never answered: the server may have applied them
    possibly_applied: list[_Sync] = []


class _Document(msgspec.Struct):
    targets: dict[str, _Entry]
    version: int = 1


#: the fields of a completed sync: one of them without ``products`` is a damaged entry
_COMPLETED_FIELDS = ("variants", "ingestion_id", "time", "products_file", "sequence")


def full_syncs_document(path: Path) -> dict[str, dict[str, Any]]:
    """The targets of ``full-syncs.json`` at ``path`` (``{}`` if there is none), each under its
    canonical name; ``ConfigError`` naming the file unless the whole file is sound."""
    data = read_state_file(path, FULL_SYNCS_LIMIT)
    if data is None:
        return {}
    try:
        raw = msgspec.json.decode(data)
        document = msgspec.convert(raw, _Document)
        targets = _canonical(document, raw)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError, ValueError):
        raise damaged(path) from None
    return targets


def _canonical(document: _Document, raw: Any) -> dict[str, dict[str, Any]]:
    """The entries under their canonical names; ``ValueError`` if one is inconsistent."""
    targets: dict[str, dict[str, Any]] = {}
    for name, entry in document.targets.items():
        profile = _profile_of(name, entry)
        canonical = target_name(entry.base_url, entry.key_fingerprint, profile)
        if canonical_base_url(name.rpartition(" ")[0]) != canonical_base_url(entry.base_url):
            raise ValueError("the name and the entry disagree on the base URL")
        found = {**raw["targets"][name], "base_url": canonical.rsplit(" ", 1)[0]}
        # two spellings of one target written by an earlier version: keep the larger memory
        if canonical not in targets or _size(found) > _size(targets[canonical]):
            targets[canonical] = found
    return targets


def sync_entry(
    entry: dict[str, Any],
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[dict[str, Any]]]:
    """The completed sync (or None), the pending ones and the possibly applied ones of an
    entry ``full_syncs_document`` returned, as ``full_syncs.FullSync`` fields."""
    checked = msgspec.convert(entry, _Entry)
    completed: dict[str, Any] | None = None
    if checked.products is not msgspec.UNSET:
        completed = {"products": checked.products}
        for name in _COMPLETED_FIELDS:
            value = getattr(checked, name)
            if value is not msgspec.UNSET:
                completed[name] = value
    pending = [msgspec.structs.asdict(sync) for sync in checked.pending]
    return completed, pending, [msgspec.structs.asdict(s) for s in checked.possibly_applied]


def _profile_of(name: str, entry: _Entry) -> str | None:
    """The profile an entry's name says it is for (None: keyed by the key); ``ValueError``
    when the name is not a target's, or the entry is not what its name says."""
    _, _, label = name.rpartition(" ")
    kind, _, value = label.partition(":")
    if kind == "key" and value == entry.key_fingerprint and entry.profile is None:
        profile = None
    elif kind == "profile" and value and entry.profile in (None, value):
        profile = value
    else:
        raise ValueError(f"{name!r} is not the name of its entry")
    if entry.products is msgspec.UNSET and any(
        getattr(entry, field) is not msgspec.UNSET for field in _COMPLETED_FIELDS
    ):
        raise ValueError("half of a completed sync")
    ids = [sync.ingestion_id for sync in entry.pending if sync.ingestion_id is not None]
    others = (*entry.pending, *entry.possibly_applied)
    files = [entry.products_file, *(sync.products_file for sync in others)]
    if len(ids) != len(set(ids)) or not all(_plain_name(f) for f in files if isinstance(f, str)):
        raise ValueError("pending syncs repeated, or a products file outside baselines/")
    return profile


def _plain_name(name: str) -> bool:
    """A products file is named within ``baselines/``: no directory, no ``..``."""
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..")


def _size(entry: dict[str, Any]) -> tuple[int, int]:
    others = [*entry.get("pending", []), *entry.get("possibly_applied", [])]
    counts = [(s.get("products", 0), s.get("variants") or 0) for s in others]
    return max([(entry.get("products", 0), entry.get("variants") or 0), *counts])
