"""``psykhe status``: one ingestion by id or from the history, and --watch, end to end."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import FAST, catalog, psykhe, write_feed


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    return write_feed(tmp_path / "feed.jsonl", catalog(6))


def test_status_id_prints_every_documented_field(
    sandbox: SandboxHandle, env: dict[str, str], feed: Path
) -> None:
    assert psykhe("push", str(feed), *FAST, env=env).returncode == 0
    out = psykhe("status", "1", env=env)
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines())
    ingestion = sandbox.ingestion(1)
    assert lines["ingestion id"] == "1"
    assert lines["status"] == "completed"
    assert lines["mode"] == "insert"
    assert lines["client id"] == sandbox.client_id
    assert lines["file identifier"] == ingestion["file_identifier"]
    created = datetime.fromisoformat(ingestion["created_at"].replace("Z", "+00:00"))
    assert re.fullmatch(rf"{created:%Y-%m-%d %H:%M:%S} UTC \(\d+ s ago\)", lines["created at"]), (
        lines["created at"]
    )
    assert lines["server counts"] == "records, one per variant"
    assert lines["upserted"] == "6"
    assert "failed lines" in lines  # the server's failed_lines, labelled like the rest


def test_status_json_is_one_object(sandbox: SandboxHandle, env: dict[str, str], feed: Path) -> None:
    assert psykhe("push", str(feed), "--no-wait", env=env).returncode == 0
    sandbox.wait_for(1)
    out = psykhe("status", "1", "--json", env=env)
    assert out.returncode == 0, out.stderr
    data = orjson.loads(out.stdout)
    assert data["ingestion_id"] == 1
    assert data["status"] == "completed"
    assert data["status_code"] == 4
    assert data["product_metrics"]["upserted"] == 6
    assert data["error"] is None


def test_status_last_uses_the_local_history(
    sandbox: SandboxHandle, env: dict[str, str], feed: Path
) -> None:
    assert psykhe("push", str(feed), "--no-wait", env=env).returncode == 0
    assert psykhe("push", str(feed), "--no-wait", env=env).returncode == 0
    out = psykhe("status", "--last", "--watch", *FAST, "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert orjson.loads(out.stdout)["ingestion_id"] == 2


def test_status_last_without_history_is_a_usage_error(
    sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    out = psykhe("status", "--last", env=env)
    assert out.returncode == 2
    assert "no push to" in out.stderr
    assert sandbox.requests() == []


def test_status_last_without_a_key_or_history_says_there_is_no_history(
    sandbox: SandboxHandle, env: dict[str, str], home: Path
) -> None:
    del env["PSYKHE_API_KEY"]
    out = psykhe("status", "--last", env=env)
    assert (out.returncode, out.stdout) == (2, "")
    assert out.stderr == (
        "psykhe: error: no push is in the local history, with any key "
        f"({home / 'state' / 'psykhe'})\n"
        "psykhe: hint: give the ingestion id: psykhe status ID\n"
    )


def test_status_last_without_a_key_after_pushes_asks_for_the_key(
    sandbox: SandboxHandle, env: dict[str, str], feed: Path
) -> None:
    assert psykhe("push", str(feed), "--no-wait", env=env).returncode == 0
    del env["PSYKHE_API_KEY"]
    out = psykhe("status", "--last", env=env)
    assert out.returncode == 4  # the history holds pushes: the key tells whose is the last
    assert out.stderr.startswith("psykhe: error: no API key: ")


def test_status_last_after_outcome_unknown_says_so(
    sandbox: SandboxHandle, env: dict[str, str], feed: Path
) -> None:
    sandbox.set_faults(respond={"status": 502})
    pushed = psykhe("push", str(feed), env=env)
    assert pushed.returncode == 8
    assert "psykhe status --last" in pushed.stderr
    out = psykhe("status", "--last", env=env)
    assert out.returncode == 8
    assert "got no ingestion id back" in out.stderr


def test_status_watch_failed_exits_9(
    sandbox: SandboxHandle, env: dict[str, str], feed: Path
) -> None:
    sandbox.set_faults(ingestion={"outcome": "failed"})
    assert psykhe("push", str(feed), "--no-wait", env=env).returncode == 0
    out = psykhe("status", "1", "--watch", *FAST, env=env)
    assert out.returncode == 9
    assert "status: failed" in out.stdout


def test_status_watch_deadline_exits_10(
    sandbox: SandboxHandle, env: dict[str, str], feed: Path
) -> None:
    sandbox.set_faults(ingestion={"outcome": "stalled"})
    assert psykhe("push", str(feed), "--no-wait", env=env).returncode == 0
    out = psykhe("status", "1", "--watch", *FAST, "--timeout", "0.3", env=env)
    assert out.returncode == 10
    assert "psykhe status 1 --watch" in out.stderr


def test_status_unknown_id_is_rejected(sandbox: SandboxHandle, env: dict[str, str]) -> None:
    out = psykhe("status", "999", env=env)
    assert out.returncode == 6
    assert "not_found" in out.stderr


@pytest.mark.parametrize("args", [[], ["1", "--last"]])
def test_status_needs_exactly_one_of_id_or_last(
    sandbox: SandboxHandle, env: dict[str, str], args: list[str]
) -> None:
    out = psykhe("status", *args, env=env)
    assert out.returncode == 2
    assert "give an ingestion id or --last" in out.stderr


@pytest.mark.parametrize("text", ["abc", "0", "-5", "1.5"])
def test_status_id_must_be_a_positive_whole_number(text: str, env: dict[str, str]) -> None:
    out = psykhe("status", "--", text, env=env)
    assert out.returncode == 2
    assert "an ingestion id is a positive whole number" in out.stderr
