"""Targets known to refuse chunked bodies: their uploads go whole, for ``WHOLE_FOR`` days.

A push streams its upload (chunked) while the feed is checked. When a chunked attempt fails
and the same bytes then go through whole (``upload.py`` tells a ``ChunkedRefusal``), the
target may refuse chunked bodies — or the network may have hiccupped. Streaming goes off
for a target only on a refusal it can tell apart: an answer refusing the chunked body (400,
411, 415), or a connection closed before any byte of the body went out *twice* within
``WHOLE_FOR``. Each time, the caller is given a line saying what follows. After
``WHOLE_FOR`` the memory expires and the next push streams again (a server may have been
upgraded, a gateway moved). A connection lost mid-body is never a refusal.

    $XDG_STATE_HOME/psykhe/no-chunked.json
      {"version": 2, "targets": {"<target>": {"time": "…Z", "reason": "…",
                                              "sightings": 1, "whole_until": "…Z" | null}}}

Imports nothing of httpx: a push asks it before its workers start. The file is a cache: one
that cannot be read (or of the first format, which remembered any one failure mid-body) is
"nothing known", and a write that fails is told in the line.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from psykhe_cli.errors import ConfigError
from psykhe_cli.statefiles import NO_CHUNKED_LIMIT, read_state_file
from psykhe_cli.statewrite import locked, replace_file

NO_CHUNKED_FILE = "no-chunked.json"
#: how long a target's uploads go whole after it refused chunked bodies, and how long a
#: first ambiguous sighting waits for a second
WHOLE_FOR = timedelta(days=7)


@dataclass(frozen=True)
class ChunkedRefusal:
    """A chunked body failed where the same bytes, sent whole, were then accepted."""

    #: how: "the server answered HTTP 411 Length Required"
    reason: str
    #: an answer refusing it (400, 411, 415): the server said so; else a connection closed
    #: before any byte of the body went out, which a flaky network can do too
    answered: bool


@dataclass(frozen=True)
class _Entry:
    time: datetime
    reason: str
    sightings: int
    whole_until: datetime | None


class ChunkedMemory:
    """``no-chunked.json`` in ``state_dir``; ``now`` is injected for tests of the expiry."""

    def __init__(self, state_dir: Path, *, now: datetime | None = None) -> None:
        self._path = Path(state_dir) / NO_CHUNKED_FILE
        self._now = now

    def streams_to(self, target: str) -> bool:
        """False while ``target``'s uploads go whole (it refused chunked bodies lately)."""
        entry = self._entries().get(target)
        return entry is None or entry.whole_until is None or entry.whole_until <= self._clock()

    def remember(self, target: str, refusal: ChunkedRefusal) -> str:
        """Note ``refusal`` for ``target``; the line to tell the user about it."""
        told = f"the server refused a streamed upload ({refusal.reason}); sent it whole"
        now = self._clock()
        try:
            with self._locked():
                entries = self._entries()
                earlier = entries.get(target)
                sightings = 1 if earlier is None else earlier.sightings + 1
                off = refusal.answered or sightings >= 2
                until = now + WHOLE_FOR if off else None
                entries[target] = _Entry(now, refusal.reason, sightings, until)
                self._write(entries)
        except OSError as exc:
            return f"{told}; could not remember it ({exc.strerror or exc})"
        if until is None:
            return (
                f"{told}; streaming stays on unless it happens again within {WHOLE_FOR.days} days"
            )
        return (
            f"{told}; uploads to this target go whole, without streaming, until "
            f"{until.strftime('%Y-%m-%d %H:%M')} UTC"
        )

    def _clock(self) -> datetime:
        return self._now if self._now is not None else datetime.now(timezone.utc)

    def _entries(self) -> dict[str, _Entry]:
        """The entries not expired; an unreadable file holds none."""
        try:
            doc = json.loads(read_state_file(self._path, NO_CHUNKED_LIMIT) or b"{}")
        except (ConfigError, ValueError, RecursionError):
            return {}
        targets = doc.get("targets") if isinstance(doc, dict) else None
        if not isinstance(targets, dict) or doc.get("version") != 2:
            return {}  # the first format remembered any failure mid-body: forget it
        oldest = self._clock() - WHOLE_FOR
        entries = {}
        for name, raw in targets.items():
            entry = _entry_of(raw)
            if entry is not None and (entry.time > oldest or _until_later(entry, self._clock())):
                entries[name] = entry
        return entries

    def _write(self, entries: dict[str, _Entry]) -> None:
        doc = {
            "version": 2,
            "targets": {name: _json_of(entry) for name, entry in entries.items()},
        }
        replace_file(self._path, json.dumps(doc, indent=2, sort_keys=True) + "\n")

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        """Two pushes at once each add their entry, neither losing the other's."""
        return locked(self._path.parent / f".{NO_CHUNKED_FILE}.lock")


def _entry_of(raw: object) -> _Entry | None:
    if not isinstance(raw, dict):
        return None
    time, until = _time_of(raw.get("time")), raw.get("whole_until")
    sightings, reason = raw.get("sightings"), raw.get("reason")
    if time is None or type(sightings) is not int or sightings < 1 or not isinstance(reason, str):
        return None
    whole_until = None if until is None else _time_of(until)
    if until is not None and whole_until is None:
        return None
    return _Entry(time, reason, sightings, whole_until)


def _until_later(entry: _Entry, now: datetime) -> bool:
    return entry.whole_until is not None and entry.whole_until > now


def _time_of(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _json_of(entry: _Entry) -> dict[str, object]:
    return {
        "time": _iso(entry.time),
        "reason": entry.reason,
        "sightings": entry.sightings,
        "whole_until": None if entry.whole_until is None else _iso(entry.whole_until),
    }


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
