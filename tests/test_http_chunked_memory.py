"""The memory of targets that refuse chunked bodies: what turns streaming off, for how long,
and what a damaged or foreign file means (nothing known)."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from psykhe_cli.http.chunked_memory import NO_CHUNKED_FILE, WHOLE_FOR, ChunkedMemory, ChunkedRefusal

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)
TARGET = "http://127.0.0.1:9 key:abcd"
ANSWERED = ChunkedRefusal("the server answered HTTP 411 Length Required", answered=True)
CLOSED = ChunkedRefusal("the server closed the connection (no answer)", answered=False)


def test_an_answered_refusal_turns_streaming_off_for_a_week(tmp_path: Path) -> None:
    told = ChunkedMemory(tmp_path, now=T0).remember(TARGET, ANSWERED)
    assert told == (
        "the server refused a streamed upload (the server answered HTTP 411 Length Required); "
        "sent it whole; uploads to this target go whole, without streaming, until "
        "2026-12-14 09:00 UTC"
    )
    assert not ChunkedMemory(tmp_path, now=T0 + WHOLE_FOR - timedelta(seconds=1)).streams_to(TARGET)
    assert ChunkedMemory(tmp_path, now=T0 + WHOLE_FOR).streams_to(TARGET)
    assert ChunkedMemory(tmp_path, now=T0).streams_to("another target")


def test_a_close_before_the_body_counts_only_when_seen_twice_within_a_week(tmp_path: Path) -> None:
    told = ChunkedMemory(tmp_path, now=T0).remember(TARGET, CLOSED)
    assert told.endswith("sent it whole; streaming stays on unless it happens again within 7 days")
    assert ChunkedMemory(tmp_path, now=T0).streams_to(TARGET)
    # eight days later it is a first sighting again
    later = T0 + timedelta(days=8)
    ChunkedMemory(tmp_path, now=later).remember(TARGET, CLOSED)
    assert ChunkedMemory(tmp_path, now=later).streams_to(TARGET)
    # a second one within the week turns streaming off
    told = ChunkedMemory(tmp_path, now=later + timedelta(days=1)).remember(TARGET, CLOSED)
    assert "go whole, without streaming, until 2026-12-23 09:00 UTC" in told
    assert not ChunkedMemory(tmp_path, now=later + timedelta(days=1)).streams_to(TARGET)


def test_the_first_format_remembered_any_failure_and_is_forgotten(tmp_path: Path) -> None:
    old = {"version": 1, "targets": {TARGET: {"time": "2026-12-06T00:00:00Z", "reason": "x"}}}
    (tmp_path / NO_CHUNKED_FILE).write_text(json.dumps(old))
    assert ChunkedMemory(tmp_path, now=T0).streams_to(TARGET)


@pytest.mark.parametrize(
    "content", [b"", b"{", b"[]", b'{"version": 2, "targets": {"t": {"time": 5}}}', b"\xff"]
)
def test_a_damaged_file_means_nothing_known(tmp_path: Path, content: bytes) -> None:
    (tmp_path / NO_CHUNKED_FILE).write_bytes(content)
    assert ChunkedMemory(tmp_path, now=T0).streams_to(TARGET)
    ChunkedMemory(tmp_path, now=T0).remember(TARGET, ANSWERED)  # and is replaced whole
    assert not ChunkedMemory(tmp_path, now=T0).streams_to(TARGET)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_in_its_place_is_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / NO_CHUNKED_FILE)
    assert ChunkedMemory(tmp_path, now=T0).streams_to(TARGET)


def test_a_state_directory_that_cannot_be_written_is_told_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    told = ChunkedMemory(blocker / "state", now=T0).remember(TARGET, ANSWERED)
    assert told.startswith("the server refused a streamed upload (")
    assert "; could not remember it (" in told


def test_a_killed_writers_temp_file_is_swept_by_the_next_write_never_a_live_ones(
    tmp_path: Path,
) -> None:
    """The memory is written as every state file is: a killed writer's temp file (its lock
    gone with it) does not stay for ever beside ``no-chunked.json``."""
    from psykhe_cli.leftovers import claim

    killed = tmp_path / f".{NO_CHUNKED_FILE}.killed.tmp"
    killed.write_text("{")  # nobody holds it: its writer died
    live, fd = claim(tmp_path, f".{NO_CHUNKED_FILE}.", ".tmp")  # another writer, still at it
    try:
        ChunkedMemory(tmp_path, now=T0).remember(TARGET, ANSWERED)
        assert not killed.exists()
        assert live.exists()
    finally:
        os.close(fd)
    assert stat.S_IMODE((tmp_path / NO_CHUNKED_FILE).stat().st_mode) == 0o600
