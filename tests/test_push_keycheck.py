"""push checks the key while the feed is checked (issue 22, 3): a refused key stops it with
exit 4 before the upload; a streamed upload begun meanwhile is cut off and creates nothing.

The real ``psykhe`` as a subprocess against the sandbox.
"""

from __future__ import annotations

from pathlib import Path

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import FAST, catalog, posts, psykhe, write_feed
from tests.test_push_stream import feed_bytes

WRONG_KEY = "sk_live_wrong_key_0123456789"


def test_push_with_a_refused_key_stops_before_the_upload(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(5))
    out = psykhe("push", str(feed), *FAST, env=env | {"PSYKHE_API_KEY": WRONG_KEY})
    assert out.returncode == 4, out.stderr
    assert out.stderr.endswith(
        "psykhe: error: the server rejected the API key from PSYKHE_API_KEY (HTTP 401 "
        "Unauthorized: unauthorized: missing or invalid X-PSYKHE-API-KEY); nothing was sent\n"
        "psykhe: hint: check the key: ingestion needs the private key (sk_…) of this tenant\n"
    )
    assert [r["path"] for r in sandbox.requests()] == ["/v1/ingestion/0"]
    assert posts(sandbox) == []


def test_a_streamed_push_with_a_refused_key_is_cut_off_and_creates_nothing(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "big.jsonl"
    feed.write_bytes(feed_bytes())  # big enough for workers: the upload streams meanwhile
    out = psykhe("push", str(feed), *FAST, env=env | {"PSYKHE_API_KEY": WRONG_KEY})
    assert out.returncode == 4, out.stderr
    assert "psykhe: error: the server rejected the API key from PSYKHE_API_KEY" in out.stderr
    seen = sorted((r["method"], r["path"], r["complete"]) for r in sandbox.requests())
    # the check answered; a body begun meanwhile (if the verdict came after the stream's
    # start) never got its end
    assert seen in (
        [("GET", "/v1/ingestion/0", True)],
        [("GET", "/v1/ingestion/0", True), ("POST", "/v1/ingestion/", False)],
    )
    assert sandbox.ingestions() == []


def test_a_stream_begun_before_the_key_is_refused_is_cut_off_and_creates_nothing(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "big.jsonl"
    feed.write_bytes(feed_bytes())
    # the verdict comes late: the stream has begun by then
    sandbox.set_faults(delay={"before_answer": 1.0, "on": "key_check"})
    out = psykhe("push", str(feed), *FAST, env=env | {"PSYKHE_API_KEY": WRONG_KEY})
    assert out.returncode == 4, out.stderr
    seen = sorted((r["method"], r["path"], r["complete"]) for r in sandbox.requests())
    assert seen == [("GET", "/v1/ingestion/0", True), ("POST", "/v1/ingestion/", False)]
    assert sandbox.ingestions() == []


def test_push_with_an_accepted_key_checks_it_and_goes_on(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "big.jsonl"
    feed.write_bytes(feed_bytes())
    out = psykhe("push", str(feed), *FAST, env=env)
    assert out.returncode == 0, out.stderr
    assert ("GET", "/v1/ingestion/0") in [(r["method"], r["path"]) for r in sandbox.requests()]
    assert len(sandbox.ingestions()) == 1


def test_push_goes_ahead_when_the_check_tells_nothing_and_polls_keep_their_faults(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    # the check answered 503 (not known: go ahead); the poll's own fault stays for the poll
    sandbox.set_faults(
        respond=[
            {"status": 503, "on": "key_check"},
            {"status": 500, "on": "status", "retry_after": 0},
        ]
    )
    feed = write_feed(tmp_path / "feed.jsonl", catalog(5))
    out = psykhe("push", str(feed), *FAST, env=env)
    assert out.returncode == 0, out.stderr
    answered = [(r["method"], r["path"], r["status"]) for r in sandbox.requests()]
    assert answered[:3] == [
        ("GET", "/v1/ingestion/0", 503),
        ("POST", "/v1/ingestion/", 202),
        ("GET", "/v1/ingestion/1", 500),
    ]
    assert len(sandbox.ingestions()) == 1
