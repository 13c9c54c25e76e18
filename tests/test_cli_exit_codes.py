"""One ending, one exit code: the process's, the ``--json`` object's and the history's agree.

``errors.exit_code_of`` is the one rule; ``cli.run`` exits with it, every command's report
carries it, ``Push.run`` records it. These tests drive every kind of ending through each.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from psykhe_cli.cli import run
from psykhe_cli.errors import (
    EXIT_CODE_MEANINGS,
    ExitCode,
    Interrupted,
    PsykheError,
    SignalReceived,
    UploadFailed,
    exit_code_of,
    signal_of,
)
from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import FAST, PSYKHE, catalog, isolated_env, psykhe, wait_until, write_feed


def _every_error_class() -> list[type[PsykheError]]:
    found: list[type[PsykheError]] = []
    pending: list[type[PsykheError]] = [PsykheError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda cls: cls.__name__)


def _error(cls: type[PsykheError]) -> PsykheError:
    if issubclass(cls, UploadFailed):
        return cls("boom", attempts=1, last="reset")
    return cls("boom")


def _interrupted_by(signum: signal.Signals) -> Interrupted:
    """``Interrupted`` as a phase raises it: given the signal of the interruption it handles."""
    try:
        raise SignalReceived(signum)
    except KeyboardInterrupt as interrupt:
        return Interrupted("stopped", signum=signal_of(interrupt))


#: (ending, the code it must end with); every documented code but usage (Typer's own) is here
ENDINGS: list[tuple[str, Callable[[], BaseException], int]] = [
    *[
        (cls.__name__, functools.partial(_error, cls), cls.exit_code)
        for cls in _every_error_class()
    ],
    ("KeyboardInterrupt", KeyboardInterrupt, 130),
    ("SIGINT", lambda: SignalReceived(signal.SIGINT), 130),
    ("SIGTERM", lambda: SignalReceived(signal.SIGTERM), 130),
    ("SIGHUP", lambda: SignalReceived(signal.SIGHUP), 129),
    ("SIGQUIT", lambda: SignalReceived(signal.SIGQUIT), 131),
    ("Interrupted(SIGHUP)", lambda: _interrupted_by(signal.SIGHUP), 129),
    ("Interrupted(SIGQUIT)", lambda: _interrupted_by(signal.SIGQUIT), 131),
    ("Interrupted(SIGTERM)", lambda: _interrupted_by(signal.SIGTERM), 130),
    ("a bug", lambda: RuntimeError("boom"), 1),
    ("an OSError", lambda: OSError(5, "Input/output error"), 1),
]


def test_every_documented_exit_code_is_an_ending_here() -> None:
    covered = {code for _, _, code in ENDINGS} | {ExitCode.OK, ExitCode.USAGE}
    assert covered == {int(code) for code in EXIT_CODE_MEANINGS}


@pytest.mark.parametrize(("make", "code"), [e[1:] for e in ENDINGS], ids=[e[0] for e in ENDINGS])
def test_exit_code_of_each_ending(make: Callable[[], BaseException], code: int) -> None:
    assert exit_code_of(make()) == code


def test_exit_code_of_success_and_of_exits() -> None:
    assert exit_code_of(None) == 0
    assert exit_code_of(SystemExit()) == 0
    assert exit_code_of(SystemExit(2)) == 2
    assert exit_code_of(SystemExit("a message")) == 1
    # what Typer makes of a Ctrl-C: Exit(130), raised from the interruption
    try:
        try:
            raise SignalReceived(signal.SIGHUP)
        except KeyboardInterrupt as exc:
            raise SystemExit(130) from exc
    except SystemExit as exit:
        assert exit_code_of(exit) == 129


# -- in process: every ending of `status --json`, as the command and as cli.run see it -------


@pytest.mark.parametrize(("make", "code"), [e[1:] for e in ENDINGS], ids=[e[0] for e in ENDINGS])
def test_status_json_carries_the_exit_code_run_returns(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make: Callable[[], BaseException],
    code: int,
) -> None:
    from psykhe_cli.client import IngestionClient

    def get_ingestion(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise make()

    monkeypatch.setattr(IngestionClient, "get_ingestion", get_ingestion)
    monkeypatch.setenv("PSYKHE_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("PSYKHE_API_KEY", "sk_test_sandbox_key_0123456789")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert run(["status", "7", "--json"]) == code
    report = orjson.loads(capsys.readouterr().out)
    assert report["exit_code"] == code


def test_debug_holds_for_its_own_run_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``--debug`` is a value of the run it was given to, not a switch left on for the next."""
    from psykhe_cli.client import IngestionClient

    def get_ingestion(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(IngestionClient, "get_ingestion", get_ingestion)
    monkeypatch.setenv("PSYKHE_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("PSYKHE_API_KEY", "sk_test_sandbox_key_0123456789")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert run(["status", "7", "--debug"]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err
    assert run(["status", "7"]) == 1
    assert capsys.readouterr().err == (
        "psykhe: internal error: RuntimeError: boom\n"
        "psykhe: hint: this is a bug; rerun with --debug for the traceback\n"
    )


# -- the real CLI against the sandbox: process, --json and history agree ---------------------


def _history(home: Path) -> list[dict[str, Any]]:
    path = home / "state" / "psykhe" / "history.jsonl"
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


#: (name, sandbox faults, options, the feed is invalid, code, a history record is written)
PUSH_ENDINGS: list[tuple[str, dict[str, Any], list[str], bool, int, bool]] = [
    ("completed", {}, [], False, 0, True),
    ("usage", {}, ["--rejects", "rejects.jsonl"], False, 2, False),
    ("invalid feed", {}, [], True, 3, False),
    ("transient", {"respond": {"status": 503, "count": None}}, ["--retries", "0"], False, 5, True),
    ("rejected", {"respond": {"status": 422}}, [], False, 6, True),
    ("guard refused", {}, ["--mode", "soft_replace"], False, 7, False),
    ("outcome unknown", {"respond": {"status": 200, "body": "no_id"}}, [], False, 8, True),
    ("ingestion failed", {"ingestion": {"outcome": "failed"}}, [], False, 9, True),
    ("wait timeout", {"ingestion": {"outcome": "stalled"}}, ["--timeout", "0.3"], False, 10, True),
]


@pytest.mark.parametrize(
    ("faults", "options", "invalid", "code", "recorded"),
    [e[1:] for e in PUSH_ENDINGS],
    ids=[e[0] for e in PUSH_ENDINGS],
)
def test_push_exit_code_json_and_history_agree(
    tmp_path: Path,
    home: Path,
    env: dict[str, str],
    sandbox: SandboxHandle,
    faults: dict[str, Any],
    options: list[str],
    invalid: bool,
    code: int,
    recorded: bool,
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    if invalid:
        feed.write_bytes(b"not json\n")
    if faults:
        sandbox.set_faults(**faults)
    out = psykhe("push", str(feed), *FAST, "--json", *options, env=env, cwd=tmp_path)
    assert out.returncode == code, out.stderr
    assert orjson.loads(out.stdout)["exit_code"] == code
    history = _history(home)
    assert bool(history) == recorded, history
    if recorded:
        assert history[-1]["exit_code"] == code


def test_push_with_a_rejected_key_agrees_too(
    tmp_path: Path, home: Path, sandbox: SandboxHandle
) -> None:
    env = isolated_env(home, sandbox.env() | {"PSYKHE_API_KEY": "sk_test_not_the_key_0123456"})
    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    out = psykhe("push", str(feed), *FAST, "--json", env=env)
    assert out.returncode == 4, out.stderr
    assert orjson.loads(out.stdout)["exit_code"] == 4
    assert [record["exit_code"] for record in _history(home)][-1:] in ([], [4])


def test_push_with_its_stderr_reader_gone_agrees_too(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        out = subprocess.run(
            [*PSYKHE, "push", str(feed), "--json"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=write_end,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert out.returncode == 141
    assert orjson.loads(out.stdout)["exit_code"] == 141


SIGNALS = [
    (signal.SIGINT, 130),
    (signal.SIGTERM, 130),
    (signal.SIGHUP, 129),
    (signal.SIGQUIT, 131),
]


def _stopped(args: list[str], env: dict[str, str], ready: Callable[[], Any], signum: int) -> Any:
    child = subprocess.Popen(
        [*PSYKHE, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(ready)
        child.send_signal(signum)
        stdout, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    return child.returncode, stdout.decode(), stderr.decode()


@pytest.mark.parametrize(("signum", "code"), SIGNALS, ids=[s.name for s, _ in SIGNALS])
def test_push_stopped_by_a_signal_agrees(
    tmp_path: Path,
    home: Path,
    env: dict[str, str],
    sandbox: SandboxHandle,
    signum: signal.Signals,
    code: int,
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    sandbox.set_faults(delay={"before_answer": 30})  # the body is sent; no answer comes
    returncode, stdout, stderr = _stopped(
        ["push", str(feed), "--json"],
        env,
        lambda: any(r["complete"] for r in sandbox.requests() if r["method"] == "POST"),
        signum,
    )
    assert returncode == code, stderr
    assert orjson.loads(stdout)["exit_code"] == code
    assert _history(home)[-1]["exit_code"] == code


@pytest.mark.parametrize(("signum", "code"), SIGNALS, ids=[s.name for s, _ in SIGNALS])
def test_status_stopped_by_a_signal_says_so_in_its_json(
    env: dict[str, str], sandbox: SandboxHandle, signum: signal.Signals, code: int
) -> None:
    # a status asked of the server, interrupted before it answered: --json said exit_code 0
    sandbox.set_faults(delay={"before_answer": 30, "on": "status"})
    returncode, stdout, stderr = _stopped(
        ["status", "999", "--json"],
        env,
        lambda: any(r["method"] == "GET" for r in sandbox.requests()),
        signum,
    )
    assert returncode == code, stderr
    report = orjson.loads(stdout)
    assert report["exit_code"] == code
    assert report["status"] is None


@pytest.mark.parametrize(
    ("fault", "options", "code"),
    [
        (None, [], 0),
        ({"outcome": "failed"}, ["--watch"], 9),
        ({"outcome": "stalled"}, ["--watch", "--timeout", "0.3"], 10),
    ],
    ids=["shown", "failed", "still running"],
)
def test_status_exit_code_and_json_agree(
    tmp_path: Path,
    env: dict[str, str],
    sandbox: SandboxHandle,
    fault: dict[str, str] | None,
    options: list[str],
    code: int,
) -> None:
    if fault is not None:
        sandbox.set_faults(ingestion=fault)
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    pushed = psykhe("push", str(feed), "--no-wait", "--json", env=env)
    assert pushed.returncode == 0, pushed.stderr
    (ingestion_id,) = orjson.loads(pushed.stdout)["ingestion_ids"]
    out = psykhe("status", str(ingestion_id), *FAST, "--json", *options, env=env)
    assert out.returncode == code, out.stderr
    assert orjson.loads(out.stdout)["exit_code"] == code
    unknown = psykhe("status", "999", "--json", env=env)
    assert unknown.returncode == 6, unknown.stderr
    assert orjson.loads(unknown.stdout)["exit_code"] == 6
