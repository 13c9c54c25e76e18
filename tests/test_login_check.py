"""``psykhe login --check`` (issue 22, 3) and ``-q`` on login/logout (issue 22, 14): the real
CLI as a subprocess against the sandbox, and a stand-in for answers that tell nothing."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from psykhe_cli.config import Secret, key_fingerprint
from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import isolated_env, psykhe, run_in_pty
from tests.keyring_backend import BACKEND
from tests.standin import StandIn, envelope_answer

WRONG_KEY = "sk_live_wrong_key_0123456789"


def _check_lines(base_url: str, source: str, key: str, server: str, answer: str) -> str:
    return (
        "profile: default\n"
        f"base URL: {base_url}\n"
        f"key from: {source}\n"
        f"key fingerprint: {key_fingerprint(Secret(key))}\n"
        f"server: {server}\n"
        f"answer: {answer}\n"
    )


def test_login_check_with_the_sandbox_key_says_accepted(
    sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    out = psykhe("login", "--check", env=env)
    assert (out.returncode, out.stderr) == (0, "")
    assert out.stdout == _check_lines(
        sandbox.base_url,
        "PSYKHE_API_KEY",
        sandbox.api_key,
        "accepts the key",
        "HTTP 404 Not Found: not_found: ingestion 0 not found",
    )
    assert [r["path"] for r in sandbox.requests()] == ["/v1/ingestion/0"]


def test_login_check_with_a_wrong_key_is_refused_with_exit_4(
    sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    out = psykhe("login", "--check", env=env | {"PSYKHE_API_KEY": WRONG_KEY})
    assert out.returncode == 4
    assert out.stderr == (
        "psykhe: error: the server rejected the API key from PSYKHE_API_KEY (HTTP 401 "
        "Unauthorized: unauthorized: missing or invalid X-PSYKHE-API-KEY)\n"
        "psykhe: hint: check the key: ingestion needs the private key (sk_…) of this tenant\n"
    )
    assert "server: refuses the key\n" in out.stdout
    assert WRONG_KEY not in out.stdout + out.stderr


def test_login_check_json_names_the_key_file_and_never_the_key(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(WRONG_KEY + "\n")
    key_file.chmod(0o600)
    out = psykhe("login", "--check", "--api-key-file", str(key_file), "--json", env=env)
    assert out.returncode == 4
    assert WRONG_KEY not in out.stdout + out.stderr
    assert json.loads(out.stdout) == {
        "exit_code": 4,
        "profile": None,
        "base_url": sandbox.base_url,
        "key_source": f"--api-key-file {key_file}",
        "key_fingerprint": key_fingerprint(Secret(WRONG_KEY)),
        "key": {
            "status": "refused",
            "reason": "HTTP 401 Unauthorized: unauthorized: missing or invalid X-PSYKHE-API-KEY",
            "http_status": 401,
        },
        "error": {
            "code": "unauthorized",
            "message": "the server rejected the API key from --api-key-file "
            f"{key_file} (HTTP 401 Unauthorized: unauthorized: missing or invalid "
            "X-PSYKHE-API-KEY)",
            "hint": "check the key: ingestion needs the private key (sk_…) of this tenant",
        },
    }


def _answering_500(method: str, path: str, connection: socket.socket) -> None:
    connection.sendall(
        envelope_answer("500 Internal Server Error", b"<html>oops</html>").replace(
            b"application/json", b"text/html"
        )
    )


def test_login_check_when_the_server_answers_500_is_not_known_exit_5(tmp_path: Path) -> None:
    with StandIn(_answering_500) as server:
        env = isolated_env(
            tmp_path / "home", {"PSYKHE_BASE_URL": server.base_url, "PSYKHE_API_KEY": WRONG_KEY}
        )
        out = psykhe("login", "--check", "--json", env=env)
    assert server.requests == [("GET", "/v1/ingestion/0")]
    assert out.returncode == 5
    document = json.loads(out.stdout)
    assert document["key"] == {
        "status": "unknown",
        "reason": "HTTP 500 Internal Server Error: not a JSON error: 17 bytes of text/html",
        "http_status": 500,
    }
    assert document["error"]["message"] == (
        f"cannot tell whether {server.base_url} accepts the API key from PSYKHE_API_KEY: "
        "HTTP 500 Internal Server Error: not a JSON error: 17 bytes of text/html"
    )
    assert out.stderr.startswith("psykhe: error: cannot tell whether")


def test_login_check_names_the_keyring_as_the_key_source(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    env = isolated_env(
        tmp_path / "home",
        {
            "PYTHON_KEYRING_BACKEND": BACKEND,
            "TEST_KEYRING_FILE": str(tmp_path / "keyring.json"),
            "PSYKHE_BASE_URL": sandbox.base_url,
        },
    )
    stored = psykhe("login", "-q", env=env, input=f"{sandbox.api_key}\n".encode())
    assert (stored.returncode, stored.stderr) == (0, "")  # -q: the informative line goes
    out = psykhe("login", "--check", env=env)
    assert out.returncode == 0, out.stderr
    assert "key from: the keyring (psykhe login)\n" in out.stdout
    assert "server: accepts the key\n" in out.stdout
    assert sandbox.api_key not in out.stdout + out.stderr
    quiet = psykhe("login", "--check", "--quiet", env=env | {"PSYKHE_API_KEY": WRONG_KEY})
    assert (quiet.returncode, quiet.stdout) == (4, "")
    assert quiet.stderr.startswith("psykhe: error: the server rejected the API key")
    gone = psykhe("logout", "-q", env=env)
    assert (gone.returncode, gone.stdout, gone.stderr) == (0, "", "")
    missing = psykhe("login", "--check", env=env)
    assert missing.returncode == 4
    assert "no API key" in missing.stderr


def test_login_quiet_still_asks_for_the_key_on_a_terminal(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    env = isolated_env(
        tmp_path / "home",
        {"PYTHON_KEYRING_BACKEND": BACKEND, "TEST_KEYRING_FILE": str(tmp_path / "keyring.json")},
    )
    code, screen = run_in_pty(
        ["login", "-q"], env=env, answers={b"not shown): ": f"{sandbox.api_key}\n".encode()}
    )
    assert code == 0, screen
    assert b"API key for profile default (sk_" in screen
    assert b"is in the keyring" not in screen
    assert sandbox.api_key.encode() not in screen


@pytest.mark.parametrize("flag", ["--json", "--base-url=http://127.0.0.1:1", "--api-key-file=k"])
def test_login_check_options_without_check_are_a_usage_error(tmp_path: Path, flag: str) -> None:
    out = psykhe("login", flag, env=isolated_env(tmp_path / "home"))
    assert out.returncode == 2
    assert out.stderr == (
        f"psykhe: error: {flag.split('=')[0]}: only with --check (psykhe login --check)\n"
    )
