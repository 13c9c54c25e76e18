"""A full sync that may have been applied is remembered until a later one completes.

An unknown outcome (exit 8: the answer lost) and an interruption after every byte of the body
reached the server leave the server possibly holding the whole catalog: the next soft_replace
is compared with it, not only with the last sync known to have completed.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import orjson
import pytest

from psykhe_cli.config import key_fingerprint
from psykhe_cli.errors import Interrupted, OutcomeUnknown, PsykheError, TransientError
from psykhe_cli.push import Mode, PushResult
from psykhe_cli.push.history import History
from psykhe_cli.sandbox.inspect import SandboxHandle
from psykhe_cli.state import StateStore, Target
from tests.helpers import (
    FAST,
    KEY_CHECK,
    PSYKHE,
    catalog,
    isolated_env,
    posts,
    psykhe,
    wait_until,
    write_feed,
)
from tests.standin import StandIn

SOFT = ("--mode", "soft_replace", "--yes")
KEY = "sk_test_standin_key_0123456789"


def _records(home: Path) -> list[dict[str, object]]:
    path = home / "state" / "psykhe" / "history.jsonl"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_an_unknown_outcome_is_remembered_and_guards_the_next_full_sync(
    tmp_path: Path, env: dict[str, str], home: Path, sandbox: SandboxHandle
) -> None:
    baseline = write_feed(tmp_path / "baseline.jsonl", catalog(201))  # 67 products
    big = write_feed(tmp_path / "big.jsonl", catalog(3000))  # 1,000 products
    small = write_feed(tmp_path / "small.jsonl", catalog(150))  # 50 products
    assert psykhe("push", str(baseline), *SOFT, *FAST, env=env).returncode == 0
    sandbox.set_faults(drop={"accept": True})
    lost = psykhe("push", str(big), *SOFT, "--no-stream", *FAST, env=env)
    assert lost.returncode == 8, lost.stderr
    wait_until(lambda: len(sandbox.products(active=True)) == 3000)  # the server applied it
    target = Target(base_url=sandbox.base_url, key_fingerprint=key_fingerprint(sandbox.api_key))
    syncs = StateStore(home / "state" / "psykhe").full_syncs(target)
    assert [(s.products, s.variants, s.ingestion_id) for s in syncs.possibly_applied] == [
        (1000, 3000, None)
    ]
    out = psykhe("push", str(small), *SOFT, *FAST, env=env)
    assert out.returncode == 7, out.stderr
    assert "fewer than 50% of the 1,000" in out.stderr
    assert "whose outcome is not known (it may have been applied)" in out.stderr
    assert len(posts(sandbox)) == 2
    assert len(sandbox.products(active=True)) == 3000
    # a later full sync that completes replaces what may have been applied
    assert psykhe("push", str(big), *SOFT, *FAST, env=env).returncode == 0
    syncs = StateStore(home / "state" / "psykhe").full_syncs(target)
    assert syncs.possibly_applied == () and syncs.completed is not None


def _reads_and_never_answers(method: str, path: str, connection: socket.socket) -> None:
    # the whole body was read (so acknowledged): hold the request open, answering nothing
    while connection.recv(65536):
        pass


@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGTERM, 130), (signal.SIGINT, 130), (signal.SIGHUP, 129)],
    ids=["SIGTERM", "SIGINT", "SIGHUP"],
)
def test_an_interrupted_full_sync_whose_body_was_acknowledged_is_remembered(
    tmp_path: Path, home: Path, signum: signal.Signals, code: int
) -> None:
    big = write_feed(tmp_path / "big.jsonl", catalog(3000))  # 1,000 products
    small = write_feed(tmp_path / "small.jsonl", catalog(150))  # 50 products
    with StandIn(_reads_and_never_answers) as server:
        env = isolated_env(home, {"PSYKHE_BASE_URL": server.base_url, "PSYKHE_API_KEY": KEY})
        running = subprocess.Popen(
            [*PSYKHE, "push", str(big), *SOFT, "--no-stream", "--json"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert running.stderr is not None
        said = b""
        for line in running.stderr:  # every byte reached the server: its answer is awaited
            said += line
            if b"waiting for the server's answer" in line:
                break
        running.send_signal(signum)
        stdout, stderr = running.communicate(timeout=60)
        text = (said + stderr).decode()
        assert running.returncode == code, text
        assert "it may have accepted it" in text
        size = orjson.loads(stdout)["compressed_bytes"]
        (record,) = _records(home)
        assert (record["status"], record["bytes_sent"], record["exit_code"]) == (
            "outcome_unknown",
            size,
            code,
        )
        out = psykhe("push", str(small), *SOFT, env=env)
        assert out.returncode == 7, out.stderr
        assert "fewer than 50% of the 1,000" in out.stderr
        assert "it may have been applied" in out.stderr
        # each push checked the key; the second sent nothing more
        assert server.requests == [KEY_CHECK, ("POST", "/v1/ingestion/"), KEY_CHECK]


def _history(tmp_path: Path, mode: Mode) -> History:
    target = Target(base_url="https://api.example.test", key_fingerprint="f" * 16)
    return History(StateStore(tmp_path / "state"), target, mode=mode)


@pytest.mark.parametrize(
    ("mode", "exit_code", "error", "reached_whole", "remembered"),
    [
        (Mode.SOFT_REPLACE, 8, OutcomeUnknown("lost"), True, True),
        (Mode.SOFT_REPLACE, 130, Interrupted("stopped"), True, True),
        (Mode.SOFT_REPLACE, 130, Interrupted("stopped"), False, False),
        (Mode.SOFT_REPLACE, 5, TransientError("refused"), False, False),
        (Mode.INSERT, 8, OutcomeUnknown("lost"), True, False),
    ],
    ids=["lost answer", "interrupted whole", "interrupted midway", "retries", "insert"],
)
def test_history_remembers_a_full_sync_only_when_it_may_have_been_applied(
    tmp_path: Path,
    mode: Mode,
    exit_code: int,
    error: PsykheError,
    reached_whole: bool,
    remembered: bool,
) -> None:
    history = _history(tmp_path, mode)
    result = PushResult(mode=mode, products=1000, variants=3000, compressed_bytes=500)
    history.begin(result)
    history.finish(result, exit_code=exit_code, error=error, reached_whole=reached_whole)
    syncs = history.store.full_syncs(history.target)
    lost = [(s.products, s.variants, s.ingestion_id) for s in syncs.possibly_applied]
    assert lost == ([(1000, 3000, None)] if remembered else [])
    (record,) = history.store.pushes()
    unknown = remembered or (mode == Mode.INSERT and exit_code == 8)
    assert record.status == ("outcome_unknown" if unknown else error.code)
    assert record.exit_code == exit_code
