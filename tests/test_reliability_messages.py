"""Reliability matrix, messages that must not mislead: what was sent, accepted, and why not.

Each row runs the real ``psykhe`` (a subprocess) against the sandbox and its fault injection,
or against nothing at all (a closed port, a dead proxy), and checks the exit code and that the
message says what really happened.
"""

from __future__ import annotations

import gzip
import signal
import subprocess
from pathlib import Path

import orjson
import pytest

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import (
    FAST,
    PSYKHE,
    catalog,
    closed_port,
    isolated_env,
    posts,
    psykhe,
    wrapped,
    write_feed,
)


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    return write_feed(tmp_path / "feed.jsonl", catalog(6))


# -- 10: SIGTERM while waiting out a 429 -------------------------------------------------------


def test_sigterm_while_waiting_out_a_429_says_nothing_was_accepted(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    sandbox.set_faults(respond={"status": 429, "retry_after": 60})
    child = subprocess.Popen(
        [*PSYKHE, "push", str(feed), "--retries", "1"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert child.stderr is not None
    seen = b""
    while b"retrying in" not in seen:  # the whole body was sent, and answered 429
        line = child.stderr.readline()
        assert line, seen.decode()
        seen += line
    child.send_signal(signal.SIGTERM)
    stderr = (seen + child.communicate(timeout=30)[1]).decode()
    assert child.returncode == 130, stderr
    assert "the whole upload was sent" not in stderr
    assert "may have accepted" not in stderr
    assert "interrupted while waiting to retry the upload (HTTP 429" in stderr
    assert "it is safe to run the same command again" in stderr
    assert [r["status"] for r in posts(sandbox)] == [429]
    assert sandbox.ingestions() == []


# -- 11: the key refused while following an accepted ingestion ---------------------------------


def test_a_401_while_polling_says_the_ingestion_was_accepted_and_how_to_follow_it(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    sandbox.set_faults(respond={"status": 401, "on": "status", "count": None})
    out = psykhe("push", str(feed), *FAST, "--json", env=env)
    assert out.returncode == 4, out.stderr
    assert "ingestion 1 was accepted and goes on on the server, but following it failed: " in (
        out.stderr
    )
    assert "rejected the API key" in out.stderr
    assert "psykhe status 1 --watch" in out.stderr
    assert orjson.loads(out.stdout)["ingestion_ids"] == [1]


# -- 12: a later batch part fails after retries ------------------------------------------------


def test_a_batch_part_failing_after_retries_names_the_accepted_ingestions(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    # part 1 is accepted; part 2 meets 503 on every attempt
    sandbox.set_faults(
        respond=[
            {"status": 202, "count": 1},
            {"status": 503, "retry_after": 0, "count": None},
        ]
    )
    out = psykhe("push", str(feed), *FAST, "--batch-size", "3", "--retries", "1", env=env)
    assert out.returncode == 5, out.stderr
    assert "nothing was processed" not in out.stderr
    assert "part 2 of 2 of the upload failed 2 time(s), last: HTTP 503" in out.stderr
    assert "ingestion(s) 1 of the part(s) before it were accepted" in out.stderr
    assert "psykhe status 1 --watch" in out.stderr
    assert [r["status"] for r in posts(sandbox)] == [202, 503, 503]
    assert len(sandbox.ingestions()) == 1


# -- 14: gzip inside gzip ----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "push"])
def test_gzip_inside_gzip_is_one_clear_error(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle, command: str
) -> None:
    twice = tmp_path / "feed.jsonl.gz"
    twice.write_bytes(gzip.compress(gzip.compress(b"".join(map(wrapped, catalog(30))))))
    out = psykhe(command, str(twice), env=env)
    assert out.returncode == 3, out.stderr
    assert out.stderr.count("gzip inside gzip") == 1
    assert "UTF-8" not in out.stderr
    assert sandbox.requests() == []


# -- 15: TLS trust and proxies from the environment --------------------------------------------


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("missing", "cannot be read"),
        ("garbage", "holds no usable certificate"),
        ("directory", "is a directory"),
    ],
)
def test_a_bad_ssl_cert_file_exits_4_naming_the_variable(
    tmp_path: Path, home: Path, feed: Path, kind: str, why: str
) -> None:
    path = {"missing": tmp_path / "nowhere.pem", "directory": tmp_path}.get(kind)
    if path is None:
        path = tmp_path / "garbage.pem"
        path.write_text("not a certificate\n")
    env = isolated_env(
        home,
        {
            "PSYKHE_BASE_URL": f"https://127.0.0.1:{closed_port()}",
            "PSYKHE_API_KEY": "sk_test_tls_0123456789",
            "SSL_CERT_FILE": str(path),
        },
    )
    for args in (("push", str(feed)), ("status", "1")):
        out = psykhe(*args, env=env)
        assert out.returncode == 4, out.stderr
        assert f"SSL_CERT_FILE={path} {why}" in out.stderr
        assert "Traceback" not in out.stderr


def test_a_missing_ssl_cert_dir_exits_4_naming_the_variable(
    tmp_path: Path, home: Path, feed: Path
) -> None:
    env = isolated_env(
        home,
        {
            "PSYKHE_BASE_URL": f"https://127.0.0.1:{closed_port()}",
            "PSYKHE_API_KEY": "sk_test_tls_0123456789",
            "SSL_CERT_DIR": str(tmp_path / "no-such-dir"),
        },
    )
    env.pop("SSL_CERT_FILE", None)  # which httpx would read instead
    out = psykhe("push", str(feed), env=env)
    assert out.returncode == 4, out.stderr
    assert f"SSL_CERT_DIR={tmp_path / 'no-such-dir'} is not a directory" in out.stderr


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"])
def test_a_dead_proxy_is_named_without_its_credentials(
    home: Path, feed: Path, variable: str
) -> None:
    port = closed_port()
    env = isolated_env(
        home,
        {
            "PSYKHE_BASE_URL": "https://api.psykhe.dev",
            "PSYKHE_API_KEY": "sk_test_proxy_0123456789",
            variable: f"http://proxyuser:proxysecret@127.0.0.1:{port}",
        },
    )
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        if name != variable:
            env.pop(name, None)
    out = psykhe("push", str(feed), "--retries", "0", env=env)
    assert out.returncode == 5, out.stderr
    assert f"cannot connect through the proxy http://127.0.0.1:{port} (from {variable})" in (
        out.stderr
    )
    assert "proxysecret" not in out.stderr and "proxyuser" not in out.stderr
