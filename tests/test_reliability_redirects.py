"""Reliability matrix, redirects: never followed, exit 6, and the other server sees nothing.

A redirect would carry the key to another origin. Each status is tried for the upload and for
status polling, pointing at a second sandbox on another port that must receive 0 requests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import catalog, psykhe, write_feed

REDIRECTS = [301, 302, 303, 307, 308]


@pytest.fixture
def elsewhere(sandbox_factory: Any, sandbox: SandboxHandle) -> SandboxHandle:
    """A second sandbox that accepts the same key: following a redirect would work there."""
    return sandbox_factory(keys={sandbox.api_key: "stolen"})


@pytest.mark.parametrize("status", REDIRECTS)
def test_a_redirected_upload_is_not_followed_exit_6_other_server_gets_nothing(
    tmp_path: Path,
    env: dict[str, str],
    sandbox: SandboxHandle,
    elsewhere: SandboxHandle,
    status: int,
) -> None:
    sandbox.set_faults(redirect={"status": status, "location": elsewhere.ingestion_url})
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    out = psykhe("push", str(feed), "--retries", "2", "--json", env=env)
    assert out.returncode == 6, out.stderr
    assert f"the server answered HTTP {status}" in out.stderr
    assert f"redirecting to {elsewhere.base_url}; psykhe does not follow redirects" in out.stderr
    assert "/v1/ingestion" not in out.stderr.split("redirecting to ")[1].split(";")[0]
    assert orjson.loads(out.stdout)["error"]["code"] == "redirect"
    assert [r["method"] for r in sandbox.requests()] == ["GET", "POST"]  # the key check first
    assert elsewhere.requests() == []
    assert sandbox.ingestions() == []


@pytest.mark.parametrize("status", REDIRECTS)
def test_a_redirected_status_poll_is_not_followed_exit_6_other_server_gets_nothing(
    tmp_path: Path,
    env: dict[str, str],
    sandbox: SandboxHandle,
    elsewhere: SandboxHandle,
    status: int,
) -> None:
    sandbox.set_faults(
        redirect={"status": status, "location": elsewhere.status_url(1), "on": "status"}
    )
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    out = psykhe("push", str(feed), "--poll-interval", "0.05", "--timeout", "20", env=env)
    assert out.returncode == 6, out.stderr
    assert "psykhe: ingestion 1 accepted" in out.stderr
    assert f"the server answered HTTP {status}" in out.stderr
    assert f"redirecting to {elsewhere.base_url}" in out.stderr
    # the key check, the upload, one poll: no endless loop
    assert [r["method"] for r in sandbox.requests()] == ["GET", "POST", "GET"]
    assert elsewhere.requests() == []


@pytest.mark.parametrize("status", [308])  # the client code of the rows above; one suffices
def test_a_redirected_status_command_is_not_followed(
    env: dict[str, str], sandbox: SandboxHandle, elsewhere: SandboxHandle, status: int
) -> None:
    for watch in ((), ("--watch", "--poll-interval", "0.05", "--timeout", "5")):
        sandbox.set_faults(
            redirect={"status": status, "location": elsewhere.status_url(7), "on": "status"}
        )
        out = psykhe("status", "7", *watch, env=env)
        assert out.returncode == 6, out.stderr
        assert f"redirecting to {elsewhere.base_url}" in out.stderr
    assert elsewhere.requests() == []
