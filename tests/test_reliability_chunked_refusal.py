"""Streaming goes off for a target only when it truly refuses chunked bodies, says so, and
comes back on after a week; a connection lost mid-body is not a refusal."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tests.helpers import PSYKHE, catalog, isolated_env, write_feed
from tests.reader_standin import Reader
from tests.test_reliability_interrupted_upload import KEY, incompressible_feed

MEMORY = Path("state") / "psykhe" / "no-chunked.json"


def _feed(tmp_path: Path) -> Path:
    """Past the 4 MiB after which the check forks, so that a push streams: ~300 kB of gzip."""
    return write_feed(tmp_path / "feed.jsonl", catalog(16_000))


def _push(feed: Path, home: Path, server: Reader) -> subprocess.CompletedProcess[str]:
    env = isolated_env(home, {"PSYKHE_BASE_URL": server.base_url, "PSYKHE_API_KEY": KEY})
    return subprocess.run(
        [*PSYKHE, "push", str(feed), "--mode", "insert", "--no-wait"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_connection_lost_mid_body_leaves_streaming_on(tmp_path: Path) -> None:
    # ~4 MB of gzip, written while the feed is checked: far from whole when the server drops
    feed = incompressible_feed(tmp_path / "feed.jsonl", 4000)
    home = tmp_path / "home"
    with Reader(drop_after=100_000) as server:
        for _ in range(2):
            out = _push(feed, home, server)
            assert out.returncode == 0, out.stderr
            assert "refused a streamed upload" not in out.stderr
            assert "uploading while the feed is checked" in out.stderr  # it streamed
        cut, whole, cut_again, whole_again = server.posts()
    assert [p.chunked for p in server.posts()] == [True, False, True, False]
    assert (cut.complete, cut.how, whole.complete) == (False, "closed", True)
    assert (cut_again.complete, whole_again.complete) == (False, True)


def test_a_411_turns_streaming_off_says_until_when_and_it_expires(tmp_path: Path) -> None:
    feed = _feed(tmp_path)
    home = tmp_path / "home"
    with Reader(refuse_chunked=411) as server:
        out = _push(feed, home, server)
        assert out.returncode == 0, out.stderr
        until = datetime.now(timezone.utc) + timedelta(days=7)
        assert (
            "psykhe: the server refused a streamed upload (the server answered HTTP 411 X); "
            "sent it whole; uploads to this target go whole, without streaming, until "
        ) in out.stderr
        assert until.strftime("%Y-%m-%d") in out.stderr
        # the next push goes whole from the start, without a refused attempt
        out = _push(feed, home, server)
        assert out.returncode == 0, out.stderr
        assert "refused" not in out.stderr
        assert [(p.chunked, p.answered) for p in server.posts()] == [
            (True, 411),
            (False, 202),
            (False, 202),
        ]
        # a week later, it streams again (and is told again)
        memory = json.loads((home / MEMORY).read_text())
        (entry,) = memory["targets"].values()
        week_ago = datetime.now(timezone.utc) - timedelta(days=7, minutes=1)
        entry["time"] = week_ago.isoformat(timespec="seconds").replace("+00:00", "Z")
        entry["whole_until"] = entry["time"]
        (home / MEMORY).write_text(json.dumps(memory))
        out = _push(feed, home, server)
        assert out.returncode == 0, out.stderr
        assert "refused a streamed upload (the server answered HTTP 411 X)" in out.stderr
        assert [p.chunked for p in server.posts()[3:]] == [True, False]
