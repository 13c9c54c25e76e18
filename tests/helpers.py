"""Running the real ``psykhe`` as a subprocess, with an isolated home, for end-to-end tests."""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from psykhe_cli.config import Settings
    from psykhe_cli.sandbox.inspect import SandboxHandle

PSYKHE = [sys.executable, "-m", "psykhe_cli"]
#: poll quickly: the sandbox of the tests moves an ingestion along every 0.05 s
FAST = ("--poll-interval", "0.05")


def client_settings(base_url: str, key: str) -> Settings:
    """Settings for an ``IngestionClient`` made in a test: 2 retries, short timeouts, and
    paths that must never be read."""
    from psykhe_cli.config import Secret, Settings

    return Settings(
        base_url=base_url,
        api_key=Secret(key),
        key_source="PSYKHE_API_KEY",
        config_path=Path("/nonexistent/config.toml"),
        state_dir=Path("/nonexistent/state"),
        retries=2,
        connect_timeout=3.0,
        read_timeout=7.0,
    )


def noting_forks(what: str) -> list[str]:
    """psykhe's command line, noting at every fork the value of the expression ``what``
    (with ``os``, ``sys`` and ``threading`` imported): its first argument is the file the
    list of values is written to once the command ends."""
    script = f"""
import json, os, sys, threading
forks, noted = [], sys.argv.pop(1)
os.register_at_fork(before=lambda: forks.append({what}))
from psykhe_cli.cli import run
sys.argv[0] = "psykhe"
code = run()
open(noted, "w").write(json.dumps(forks))
sys.exit(code)
"""
    return [sys.executable, "-c", script]


def isolated_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment with psykhe's variables removed and XDG dirs under ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PSYKHE_", "XDG_"))}
    env.pop("NO_COLOR", None)
    env |= {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_STATE_HOME": str(home / "state"),
        "TMPDIR": str(home / "tmp"),
        "PYTHONUNBUFFERED": "1",
        # never the machine's own keyring: tests that want one pass tests.keyring_backend
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        # a thread started before the validation workers are forked fails the test
        "PSYKHE_STRICT_THREADS": "1",
    }
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env |= dict(extra or {})
    return env


def psykhe(
    *args: str,
    env: Mapping[str, str],
    input: bytes | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``psykhe ARGS`` to completion; stdin is empty (not a terminal) unless ``input``."""
    result = subprocess.run(
        [*PSYKHE, *args],
        env=dict(env),
        input=input if input is not None else b"",
        capture_output=True,
        timeout=timeout,
        cwd=cwd,
    )
    return subprocess.CompletedProcess(
        result.args,
        result.returncode,
        result.stdout.decode("utf-8", "replace"),
        result.stderr.decode("utf-8", "replace"),
    )


def product(pid: str, vid: str | None = None, **fields: Any) -> dict[str, Any]:
    """A valid product object in the contract's example shape."""
    return {
        "product_identifier": pid,
        "variant_identifier": vid or pid,
        "title": f"Product {pid}",
        "images": [f"https://cdn.example.com/{pid}.jpg"],
        "designer": "Acme",
        "categories": ["Clothing: Dresses"],
        "sizes": ["all"],
        "color": "black",
        "price": 10.5,
    } | fields


def wrapped(item: Mapping[str, Any]) -> bytes:
    """One JSON Lines line holding ``item`` in the API's wrapper."""
    return orjson.dumps({"operation": "insert", "product_data": item}) + b"\n"


def write_feed(path: Path, items: Iterable[Mapping[str, Any]]) -> Path:
    """Write a JSON Lines feed (gzip when ``path`` ends with .gz)."""
    data = b"".join(wrapped(item) for item in items)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def catalog(count: int, prefix: str = "P") -> list[dict[str, Any]]:
    """``count`` variants, three per product."""
    return [product(f"{prefix}{i // 3:05d}", f"{prefix}{i // 3:05d}-{i % 3}") for i in range(count)]


def run_in_pty(
    args: list[str],
    *,
    env: Mapping[str, str],
    answers: Mapping[bytes, bytes] | None = None,
    stdin_data: bytes | None = None,
    timeout: float = 60,
    program: list[str] | None = None,
) -> tuple[int, bytes]:
    """Run ``psykhe ARGS`` on a pseudo-terminal; reply to each prompt in ``answers``.

    The terminal is the child's controlling terminal, so ``/dev/tty`` works; with
    ``stdin_data`` the child's stdin is a pipe carrying it instead (a feed from a pipeline).
    Returns the exit code and everything written to the terminal. ``program``: what to run
    instead of ``psykhe`` (``ARGS`` follow it).
    """
    import os
    import pty
    import select
    import time

    pending = dict(answers or {})
    pipe_r, pipe_w = os.pipe() if stdin_data is not None else (-1, -1)
    pid, master = pty.fork()
    if pid == 0:  # the child: exec psykhe, stdin from the pipe when there is data
        if stdin_data is not None:
            os.dup2(pipe_r, 0)
            os.close(pipe_w)
        command = [*(program or PSYKHE), *args]
        os.execve(command[0], command, dict(env))
    if stdin_data is not None:
        os.close(pipe_r)
        os.write(pipe_w, stdin_data)
        os.close(pipe_w)
    output = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            for prompt, answer in list(pending.items()):
                if prompt in output:
                    os.write(master, answer)
                    del pending[prompt]
        else:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                os.close(master)
                return os.waitstatus_to_exitcode(status), output
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    os.close(master)
    return os.waitstatus_to_exitcode(status), output


#: the request a push makes before its upload: is the key accepted? (``http/keycheck.py``)
KEY_CHECK = ("GET", "/v1/ingestion/0")


def nothing_but_key_checks(sandbox: SandboxHandle) -> bool:
    """No byte of a feed reached the sandbox: at most the key checks a push makes while its
    workers check a big feed (a run stopped before their answer may or may not have made one)."""
    return all((r["method"], r["path"]) == KEY_CHECK for r in sandbox.requests())


def requests_seen(sandbox: SandboxHandle) -> list[tuple[str, str]]:
    """The (method, path) of each request the sandbox received, oldest first."""
    return [(r["method"], r["path"]) for r in sandbox.requests()]


def posts(sandbox: SandboxHandle) -> list[dict[str, Any]]:
    """The sandbox's log of the POST requests it received, oldest first."""
    return [r for r in sandbox.requests() if r["method"] == "POST"]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        time.sleep(0.02)
    return value
