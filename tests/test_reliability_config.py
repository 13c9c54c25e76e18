"""Reliability matrix, configuration and the key: refused before sending, exit 4 (or 2).

Every row runs the real ``psykhe`` as a subprocess with an isolated home. The leak scan has its
own module (``test_reliability_leaks.py``).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import (
    FAST,
    KEY_CHECK,
    catalog,
    isolated_env,
    product,
    psykhe,
    requests_seen,
    wrapped,
    write_feed,
)


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    return write_feed(tmp_path / "feed.jsonl", catalog(3))


def posts(sandbox: SandboxHandle) -> int:
    return sum(1 for r in sandbox.requests() if r["method"] == "POST")


def test_no_key_exits_4_and_sends_nothing(home: Path, feed: Path, sandbox: SandboxHandle) -> None:
    env = isolated_env(home, {"PSYKHE_BASE_URL": sandbox.base_url})
    out = psykhe("push", str(feed), env=env)
    assert out.returncode == 4
    assert "psykhe: error: no API key: set one of the PSYKHE_API_KEY" in out.stderr
    assert sandbox.requests() == []


def test_a_public_pk_key_exits_4_and_sends_nothing(
    home: Path, feed: Path, sandbox: SandboxHandle
) -> None:
    env = isolated_env(home, sandbox.env() | {"PSYKHE_API_KEY": "pk_live_public_0123456789"})
    out = psykhe("push", str(feed), env=env)
    assert out.returncode == 4
    assert "is a public key (pk_…), which cannot ingest" in out.stderr
    assert "pk_live_public_0123456789" not in out.stderr
    assert sandbox.requests() == []


def test_a_key_without_sk_is_refused_before_the_feed_is_prepared(
    home: Path, feed: Path, sandbox: SandboxHandle
) -> None:
    env = isolated_env(home, sandbox.env() | {"PSYKHE_API_KEY": "live_secret_0123456789"})
    out = psykhe("push", str(feed), env=env)
    assert out.returncode == 4, out.stderr
    assert out.stderr == (
        "psykhe: error: the API key from PSYKHE_API_KEY does not look like a private key: "
        "private keys start with sk_\n"
    )
    assert sandbox.requests() == []


def test_a_dry_run_checks_a_configured_key_but_needs_none(
    home: Path, feed: Path, sandbox: SandboxHandle
) -> None:
    bad = isolated_env(home, sandbox.env() | {"PSYKHE_API_KEY": "pk_live_public_0123456789"})
    out = psykhe("push", str(feed), "--dry-run", env=bad)
    assert out.returncode == 4, out.stderr
    assert "is a public key (pk_…), which cannot ingest" in out.stderr
    none = isolated_env(home, {"PSYKHE_BASE_URL": sandbox.base_url})
    assert psykhe("push", str(feed), "--dry-run", env=none).returncode == 0
    assert sandbox.requests() == []


@pytest.mark.parametrize("key", ["sk_live abc", "sk_live\tabc", "sk_live\nabc"])
def test_a_key_with_inner_whitespace_exits_4_and_sends_nothing(
    home: Path, feed: Path, sandbox: SandboxHandle, key: str
) -> None:
    env = isolated_env(home, sandbox.env() | {"PSYKHE_API_KEY": key})
    out = psykhe("push", str(feed), env=env)
    assert out.returncode == 4
    assert "the API key from PSYKHE_API_KEY contains whitespace" in out.stderr
    assert sandbox.requests() == []


def test_a_key_file_with_a_trailing_newline_works(
    tmp_path: Path, home: Path, feed: Path, sandbox: SandboxHandle
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(sandbox.api_key + "\n")
    key_file.chmod(0o600)
    env = isolated_env(home, {"PSYKHE_BASE_URL": sandbox.base_url})
    out = psykhe("push", str(feed), "--api-key-file", str(key_file), *FAST, env=env)
    assert out.returncode == 0, out.stderr
    assert posts(sandbox) == 1
    assert sandbox.requests()[0]["client_id"] == sandbox.client_id


def test_a_config_file_readable_by_others_is_refused_with_chmod_600(
    home: Path, feed: Path, sandbox: SandboxHandle
) -> None:
    config = home / "config" / "psykhe" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'api_key = "{sandbox.api_key}"\nbase_url = "{sandbox.base_url}"\n')
    config.chmod(0o644)
    out = psykhe("push", str(feed), env=isolated_env(home))
    assert out.returncode == 4
    assert f"fix it with: chmod 600 {config}" in out.stderr
    assert "mode 644" in out.stderr
    assert sandbox.requests() == []
    config.chmod(0o600)  # the same file, made private, is used
    ok = psykhe("push", str(feed), *FAST, env=isolated_env(home))
    assert ok.returncode == 0, ok.stderr
    assert posts(sandbox) == 1


def test_plain_http_to_a_non_loopback_host_is_refused_before_connecting(
    home: Path, feed: Path, sandbox: SandboxHandle
) -> None:
    # 192.0.2.0/24 is TEST-NET-1: nothing answers there; a connection attempt would hang
    env = isolated_env(home, sandbox.env() | {"PSYKHE_BASE_URL": "http://192.0.2.1:8080"})
    out = psykhe("push", str(feed), "--debug", "--retries", "0", env=env, timeout=20)
    assert out.returncode == 2
    assert "plain http:// is only allowed to this machine" in out.stderr
    assert "> POST" not in out.stderr
    assert sandbox.requests() == []


def test_credentials_in_the_base_url_are_refused_without_echoing_the_password(
    home: Path, feed: Path, sandbox: SandboxHandle
) -> None:
    url = "https://operator:Hunter2SecretPw@api.example.com"
    env = isolated_env(home, sandbox.env())
    for args, extra in (
        (("--base-url", url), {}),
        ((), {"PSYKHE_BASE_URL": url}),
    ):
        out = psykhe("push", str(feed), "--debug", *args, env=env | extra)
        assert out.returncode == 2
        assert "contains credentials (user:password@)" in out.stderr
        assert "Hunter2SecretPw" not in out.stdout + out.stderr
        assert "Secret" not in out.stdout + out.stderr
    assert sandbox.requests() == []


def test_a_401_from_the_server_exits_4_without_retrying(
    home: Path, feed: Path, sandbox: SandboxHandle
) -> None:
    env = isolated_env(home, sandbox.env() | {"PSYKHE_API_KEY": "sk_wrong_key_0123456789"})
    out = psykhe("push", str(feed), env=env)
    assert out.returncode == 4
    assert "the server rejected the API key from PSYKHE_API_KEY (HTTP 401" in out.stderr
    assert "unauthorized" in out.stderr
    assert "nothing was sent" in out.stderr
    assert requests_seen(sandbox) == [KEY_CHECK]  # refused at the key check, never retried


def test_an_early_401_before_the_body_is_read_exits_4_without_retrying(
    tmp_path: Path, home: Path, sandbox: SandboxHandle
) -> None:
    # a body far bigger than the socket buffers: the answer comes while the client still sends
    items = (
        product(f"R{i:06d}", title=base64.b85encode(os.urandom(800)).decode()) for i in range(8000)
    )
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"".join(wrapped(item) for item in items))
    sandbox.set_faults(respond={"status": 401, "early": True, "count": None})
    out = psykhe("push", str(big), "--retries", "2", env=isolated_env(home, sandbox.env()))
    assert out.returncode == 4, out.stderr
    assert "rejected the API key" in out.stderr
    assert posts(sandbox) == 1
    assert sandbox.ingestions() == []


# --- key files that are not files, keyrings that are not there (issue 23, 8 and 14) ---------


def _config_with(home: Path, text: str) -> Path:
    config = home / "config" / "psykhe" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text)
    config.chmod(0o600)
    return config


def test_a_key_file_that_is_a_fifo_nobody_writes_to_is_refused_at_once(
    tmp_path: Path, home: Path, feed: Path, sandbox: SandboxHandle
) -> None:
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo, 0o600)
    env = isolated_env(home, {"PSYKHE_BASE_URL": sandbox.base_url})
    out = psykhe("push", str(feed), "--api-key-file", str(fifo), env=env, timeout=60)
    assert out.returncode == 4, out.stderr
    assert f"psykhe: error: the API key file {fifo} is a pipe and nothing was written to it\n" in (
        out.stderr
    )
    _config_with(home, f'base_url = "{sandbox.base_url}"\napi_key_file = "{fifo}"\n')
    out = psykhe("push", str(feed), env=isolated_env(home), timeout=60)
    assert out.returncode == 4, out.stderr
    assert f"the API key file {fifo} is a pipe" in out.stderr
    assert sandbox.requests() == []


def test_a_key_file_that_is_a_device_is_refused_naming_it(
    home: Path, feed: Path, sandbox: SandboxHandle
) -> None:
    env = isolated_env(home, {"PSYKHE_BASE_URL": sandbox.base_url})
    out = psykhe("push", str(feed), "--api-key-file", "/dev/zero", env=env, timeout=60)
    assert out.returncode == 4, out.stderr
    assert "the API key file /dev/zero is not a regular file (it is a character device)" in (
        out.stderr
    )
    assert sandbox.requests() == []


BROKEN_BACKENDS = {
    "no.such.Backend": "PYTHON_KEYRING_BACKEND=no.such.Backend cannot be loaded "
    "(ModuleNotFoundError: No module named 'no')",
    "os.path": "PYTHON_KEYRING_BACKEND=os.path cannot be loaded (AttributeError: ",
}


@pytest.mark.parametrize("backend", sorted(BROKEN_BACKENDS))
def test_a_broken_keyring_is_a_warning_where_the_key_is_found_elsewhere(
    backend: str, tmp_path: Path, home: Path, feed: Path, sandbox: SandboxHandle
) -> None:
    warning = f"psykhe: warning: the keyring cannot be used: {BROKEN_BACKENDS[backend]}"
    env = isolated_env(home, {"PSYKHE_BASE_URL": sandbox.base_url})
    env["PYTHON_KEYRING_BACKEND"] = backend
    dry = psykhe("push", str(feed), "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert warning in dry.stderr
    assert "going on without it" in dry.stderr
    key_file = tmp_path / "key"
    key_file.write_text(sandbox.api_key)
    key_file.chmod(0o600)
    _config_with(home, f'api_key_file = "{key_file}"\n')
    pushed = psykhe("push", str(feed), *FAST, env=env)
    assert pushed.returncode == 0, pushed.stderr
    assert warning in pushed.stderr
    assert posts(sandbox) == 1
    last = psykhe("status", "--last", env=env)
    assert last.returncode == 0, last.stderr
    assert warning in last.stderr
    assert "internal error" not in dry.stderr + pushed.stderr + last.stderr


def test_a_broken_keyring_with_no_other_key_is_the_missing_key_error(
    home: Path, feed: Path, sandbox: SandboxHandle
) -> None:
    env = isolated_env(home, {"PSYKHE_BASE_URL": sandbox.base_url})
    env["PYTHON_KEYRING_BACKEND"] = "no.such.Backend"
    out = psykhe("push", str(feed), env=env)
    assert out.returncode == 4, out.stderr
    assert "psykhe: warning: the keyring cannot be used" in out.stderr
    assert "psykhe: error: no API key" in out.stderr
    assert sandbox.requests() == []
