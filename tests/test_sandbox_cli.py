"""`psykhe sandbox` and `psykhe sandbox exec` as real processes."""

from __future__ import annotations

import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from psykhe_cli.cli import run
from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.test_sandbox_api import line, post

PSYKHE = [sys.executable, "-m", "psykhe_cli"]


@contextmanager
def foreground(*options: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """A running ``psykhe sandbox``, and the variables of its export lines."""
    process = subprocess.Popen(
        [*PSYKHE, "sandbox", "--port", "0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        exported = {}
        first = process.stdout.readline()
        lines = [first]
        if "--key" not in options:
            lines.append(process.stdout.readline())
        for text in lines:
            name, _, value = text.strip().removeprefix("export ").partition("=")
            exported[name] = shlex.split(value)[0]
        yield process, exported
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str, str]:
    process.send_signal(sig)
    out, err = process.communicate(timeout=10)
    return process.returncode, out, err


def test_foreground_prints_export_lines_and_stops_cleanly_on_sigterm() -> None:
    with foreground("--processing-delay", "0.01") as (process, exported):
        assert set(exported) == {"PSYKHE_BASE_URL", "PSYKHE_API_KEY"}
        assert exported["PSYKHE_BASE_URL"].startswith("http://127.0.0.1:")
        assert exported["PSYKHE_API_KEY"].startswith("sk_sandbox_")
        handle = SandboxHandle(exported["PSYKHE_BASE_URL"], exported["PSYKHE_API_KEY"])
        assert post(handle, line("A")).status_code == 202
        assert handle.wait_for(1)["status"] == 4
        code, out, err = stop(process)
    assert code == 0
    assert out == ""  # nothing after the export lines
    assert exported["PSYKHE_API_KEY"] not in err
    assert '"POST /v1/ingestion/" 202' in err


def test_foreground_with_given_keys_prints_only_the_url_and_stops_on_sigint() -> None:
    with foreground("--key", "sk_given_key=acme", "--key", "sk_other") as (process, exported):
        assert set(exported) == {"PSYKHE_BASE_URL"}
        handle = SandboxHandle(exported["PSYKHE_BASE_URL"], "sk_given_key")
        assert post(handle, line("A")).status_code == 202
        assert handle.wait_for(1)["client_id"] == "acme"
        code, _, err = stop(process, signal.SIGINT)
    assert code == 0
    assert "sk_given_key" not in err and "sk_other" not in err
    assert "client(s) acme, sandbox" in err


def test_foreground_sigterm_keeps_a_queued_ingestion_for_the_next_run(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    with foreground("--key", "sk_k", "--db", db, "--processing-delay", "0.2") as (
        process,
        exported,
    ):
        handle = SandboxHandle(exported["PSYKHE_BASE_URL"], "sk_k")
        assert post(handle, line("A") + line("B")).status_code == 202
        assert stop(process)[0] == 0
    with foreground("--key", "sk_k", "--db", db, "--processing-delay", "0") as (process, exported):
        handle = SandboxHandle(exported["PSYKHE_BASE_URL"], "sk_k")
        assert handle.wait_for(1)["status"] == 4
        assert [p["product_identifier"] for p in handle.products(active=True)] == ["A", "B"]
        assert stop(process)[0] == 0


def test_foreground_faults_flag() -> None:
    rules = '{"respond": {"status": 429, "retry_after": 7}}'
    with foreground("--key", "sk_k", "--faults", rules) as (process, exported):
        handle = SandboxHandle(exported["PSYKHE_BASE_URL"], "sk_k")
        response = post(handle, line("A"))
        assert (response.status_code, response.headers["retry-after"]) == (429, "7")
        assert stop(process)[0] == 0


def test_foreground_port_in_use_is_a_config_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = subprocess.run(
            [*PSYKHE, "sandbox", "--port", port], capture_output=True, text=True, timeout=30
        )
    assert result.returncode == 4
    assert result.stderr.startswith(f"psykhe: error: cannot listen on 127.0.0.1:{port}:")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--key", "pk_public"],
            "psykhe: error: --key must be a private key starting with 'sk_'\n",
        ),
        (["--faults", "{"], "psykhe: error: --faults '{': "),
        (["--faults", '{"respond": {"status": 99}}'], "respond.status must be an HTTP status"),
    ],
)
def test_bad_options_are_usage_errors(
    capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    assert run(["sandbox", *options]) == 2
    assert message in capsys.readouterr().err


def test_missing_extra_says_how_to_install_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert run(["sandbox"]) == 4
    err = capsys.readouterr().err
    assert "psykhe: error: the sandbox needs the 'sandbox' extra" in err
    assert "psykhe: hint: pip install 'psykhe[sandbox]'\n" in err


def exec_(*command: str, options: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PSYKHE, "sandbox", "exec", *options, "--", *command],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_exec_runs_the_command_against_the_sandbox_and_returns_its_code() -> None:
    script = textwrap.dedent(
        """
        import os, sys, httpx
        url, key = os.environ["PSYKHE_BASE_URL"], os.environ["PSYKHE_API_KEY"]
        body = b'{"product_data":{"product_identifier":"A"}}'
        r = httpx.post(url + "/v1/ingestion/", content=body, headers={"X-PSYKHE-API-KEY": key})
        print(url.split(":")[1], key[:3], r.status_code)
        sys.exit(3)
        """
    )
    result = exec_(sys.executable, "-c", script)
    assert (result.returncode, result.stdout) == (3, "//127.0.0.1 sk_ 202\n")
    assert result.stderr == ""


def test_exec_uses_the_given_key() -> None:
    result = exec_(sys.executable, "-c", "import os; print(os.environ['PSYKHE_API_KEY'])",
                   options=("--key", "sk_mine=acme"))  # fmt: skip
    assert (result.returncode, result.stdout) == (0, "sk_mine\n")


def test_exec_command_not_found_is_127() -> None:
    result = exec_("/nonexistent/psykhe-no-such-command")
    assert result.returncode == 127
    assert (
        result.stderr == "psykhe: error: command not found: /nonexistent/psykhe-no-such-command\n"
    )


def test_exec_child_killed_by_a_signal_is_128_plus_n() -> None:
    assert exec_("sh", "-c", "kill -TERM $$").returncode == 128 + signal.SIGTERM


def test_exec_forwards_sigterm_to_the_child(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    script = textwrap.dedent(
        f"""
        import pathlib, signal, sys, time
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))
        pathlib.Path({str(ready)!r}).touch()
        time.sleep(30)
        """
    )
    process = subprocess.Popen([*PSYKHE, "sandbox", "exec", "--", sys.executable, "-c", script])
    try:
        while not ready.exists():
            assert process.poll() is None
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 42
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
