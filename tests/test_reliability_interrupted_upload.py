"""A signal mid-upload resets the connection: no complete request ever reaches the server.

A stand-in server reads the body at 200 kB/s, so most of a few-MB body waits in the kernel's
buffers when psykhe is stopped; a graceful close would let the kernel deliver all of it — and
the server create the ingestion — after psykhe had exited. The figure psykhe reports is what
the server's side acknowledged, which the server then reads: never more than it read.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.helpers import PSYKHE, isolated_env, product, wait_until, wrapped
from tests.reader_standin import Reader

KEY = "sk_test_standin_key_0123456789"


def incompressible_feed(path: Path, lines: int, *, padding: int = 0) -> Path:
    """A feed whose gzip is nearly as big as the feed (~1 kB a line of random text), or
    ``padding`` bytes a line bigger, of text that compresses to nothing."""
    items = (
        product(
            f"R{i:06d}",
            title=base64.b85encode(os.urandom(800)).decode(),
            description="x" * padding,
        )
        for i in range(lines)
    )
    path.write_bytes(b"".join(wrapped(item) for item in items))
    return path


@pytest.mark.parametrize(
    ("sig", "code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 130), (signal.SIGHUP, 129)],
    ids=["SIGINT", "SIGTERM", "SIGHUP"],
)
@pytest.mark.parametrize("order", [[], ["--no-stream"]], ids=["streamed", "spooled"])
def test_a_signal_mid_upload_leaves_the_server_an_incomplete_request_for_good(
    tmp_path: Path, sig: int, code: int, order: list[str]
) -> None:
    # past the 4 MiB of feed after which the check forks (so a push streams), and ~2.5 MB of
    # gzip: as much as the sending kernel takes at once, so that the whole body, its end
    # included, may be handed to it before the server read much
    feed = incompressible_feed(tmp_path / "feed.jsonl", 3000, padding=500)
    with Reader(rate=200_000) as server:
        env = isolated_env(
            tmp_path / "home", {"PSYKHE_BASE_URL": server.base_url, "PSYKHE_API_KEY": KEY}
        )
        child = subprocess.Popen(
            [*PSYKHE, "push", str(feed), "--mode", "soft_replace", "--yes", *order],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            (post,) = wait_until(lambda: [s for s in server.posts() if s.body_read >= 100_000])
            child.send_signal(sig)
            _, err = child.communicate(timeout=60)
        finally:
            child.kill()
        stderr = err.decode("utf-8", "replace")
        assert child.returncode == code, stderr
        # the connection's end, whenever it comes: a request completed after psykhe exited
        # (from what the kernel still held) would be answered, and created
        assert post.ended.wait(120), "the server never saw the connection end"
        assert (post.complete, post.answered, post.how) == (False, None, "reset"), stderr
        assert len(server.posts()) == 1
    said = re.search(r"\(([\d,]+)(?: of [\d,]+)? bytes acknowledged by the server\)", stderr)
    assert said is not None, stderr
    assert 0 < int(said[1].replace(",", "")) <= post.body_read
    assert "Traceback" not in stderr
    assert ("uploading while the feed is checked" in stderr) == (not order)
