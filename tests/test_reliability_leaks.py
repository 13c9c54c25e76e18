"""Reliability matrix, the leak scan: the key never appears, whatever happens.

Every command runs with ``--debug`` through every fault of the matrix, with a recognisable key.
Neither the key nor any 8-character piece of it may appear in stdout, stderr, the ``--rejects``
file, or any file left in the state directory or the temporary directory.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import catalog, isolated_env, product, psykhe, write_feed

CANARY = "sk_live_LEAKCANARY_0123456789abcdef"
PIECES = sorted({CANARY[i : i + 8] for i in range(len(CANARY) - 7)})
FAST = ("--poll-interval", "0.05", "--timeout", "2")

#: (name, fault rules, extra push arguments, extra environment)
FAULTS: list[tuple[str, dict[str, Any], tuple[str, ...], dict[str, str]]] = [
    ("none", {}, (), {}),
    ("503_then_ok", {"respond": {"status": 503, "retry_after": 0}}, (), {}),
    ("429_then_ok", {"respond": {"status": 429, "retry_after": 0}}, (), {}),
    ("503_always", {"respond": {"status": 503, "retry_after": 0, "count": None}}, (), {}),
    ("500", {"respond": {"status": 500}}, (), {}),
    ("502_html", {"respond": {"status": 502, "body": "html"}}, (), {}),
    ("504", {"respond": {"status": 504}}, (), {}),
    ("400_json", {"respond": {"status": 400, "context": {"ingestion_id": 9}}}, (), {}),
    ("422", {"respond": {"status": 422}}, (), {}),
    ("401", {"respond": {"status": 401}}, (), {}),
    ("401_early", {"respond": {"status": 401, "early": True}}, (), {}),
    ("413", {"respond": {"status": 413}}, (), {}),
    ("200_html", {"respond": {"status": 200, "body": "html"}}, (), {}),
    ("200_empty", {"respond": {"status": 200, "body": "empty"}}, (), {}),
    ("200_no_id", {"respond": {"status": 200, "body": "no_id"}}, (), {}),
    ("redirect", {"redirect": {"status": 307, "location": "http://127.0.0.1:9/x"}}, (), {}),
    ("reset_after_body", {"drop": {}}, (), {}),
    ("reset_mid_body", {"drop": {"after_bytes": 10, "count": None}}, (), {}),
    ("read_timeout", {"delay": {"before_answer": 2}}, (), {"PSYKHE_READ_TIMEOUT": "0.3"}),
    ("slow_read", {"slow_read": {"bytes_per_second": 20000}}, (), {}),
    ("failed", {"ingestion": {"outcome": "failed"}}, (), {}),
    ("stalled", {"ingestion": {"outcome": "stalled"}}, (), {}),
    ("status_502", {"respond": {"status": 502, "on": "status", "count": 2}}, (), {}),
    ("status_404", {"respond": {"status": 404, "on": "status"}}, (), {}),
    ("status_401", {"respond": {"status": 401, "on": "status"}}, (), {}),
    ("status_unknown", {"respond": {"status": 200, "on": "status", "ingestion_status": 7}}, (), {}),
    ("status_redirect", {"redirect": {"on": "status", "location": "http://127.0.0.1:9/"}}, (), {}),
    (
        "status_timeout",
        {"delay": {"before_answer": 1, "on": "status"}},
        (),
        {"PSYKHE_READ_TIMEOUT": "0.3"},
    ),
]


@pytest.fixture
def leaky(sandbox_factory: Any) -> SandboxHandle:
    """A sandbox that accepts the canary key."""
    return sandbox_factory(keys={CANARY: "leak-client"})


def files_under(*roots: Path) -> Iterator[Path]:
    for root in roots:
        if root.exists():
            yield from (path for path in root.rglob("*") if path.is_file())


def assert_no_leak(outputs: dict[str, bytes], *roots: Path) -> None:
    found = dict(outputs)
    for path in files_under(*roots):
        found[str(path)] = path.read_bytes()
    for where, data in found.items():
        for piece in PIECES:
            assert piece.encode() not in data, f"{piece!r} of the key found in {where}"


def run(*args: str, env: dict[str, str], **kwargs: Any) -> dict[str, bytes]:
    out = psykhe(*args, "--debug", env=env, **kwargs)
    assert "Traceback" not in out.stderr or "internal error" not in out.stderr, out.stderr
    return {f"stdout of {args}": out.stdout.encode(), f"stderr of {args}": out.stderr.encode()}


#: run in the default (quick) suite; the other faults are marked slow (CI runs them all)
QUICK = {"none", "503_always", "401_early", "redirect", "reset_after_body"}


@pytest.mark.parametrize(
    ("name", "faults", "args", "extra"),
    [
        pytest.param(*fault, id=fault[0], marks=() if fault[0] in QUICK else pytest.mark.slow)
        for fault in FAULTS
    ],
)
def test_no_piece_of_the_key_leaks_through_push_and_status_under_each_fault(
    tmp_path: Path,
    leaky: SandboxHandle,
    name: str,
    faults: dict[str, Any],
    args: tuple[str, ...],
    extra: dict[str, str],
) -> None:
    home = tmp_path / "home"
    env = isolated_env(home, {"PSYKHE_BASE_URL": leaky.base_url, "PSYKHE_API_KEY": CANARY})
    env |= extra
    feed = tmp_path / "feed.jsonl"
    good = write_feed(tmp_path / "good.jsonl", catalog(6)).read_bytes()
    feed.write_bytes(good + orjson.dumps(product("BAD", price="x")) + b"\n")
    rejects = tmp_path / "rejects.jsonl"
    outputs: dict[str, bytes] = {}
    if faults:
        leaky.set_faults(**faults)
    outputs |= run(
        "push",
        str(feed),
        "--skip-invalid",
        "--rejects",
        str(rejects),
        "--retries",
        "1",
        *FAST,
        "--json",
        *args,
        env=env,
    )
    if faults:
        leaky.set_faults(**faults)
    outputs |= run("status", "--last", "--watch", *FAST, "--retries", "1", env=env)
    assert rejects.exists()
    outputs["rejects"] = rejects.read_bytes()
    assert_no_leak(outputs, home / "state", home / "tmp")


@pytest.mark.parametrize(
    "name",
    ["none", *(pytest.param(n, marks=pytest.mark.slow) for n in ("status_502", "stalled"))],
)
def test_no_piece_of_the_key_leaks_through_soft_replace_and_every_status_form(
    tmp_path: Path, leaky: SandboxHandle, name: str
) -> None:
    faults = next(f[1] for f in FAULTS if f[0] == name)
    home = tmp_path / "home"
    env = isolated_env(home, {"PSYKHE_BASE_URL": leaky.base_url, "PSYKHE_API_KEY": CANARY})
    good = write_feed(tmp_path / "good.jsonl", catalog(6)).read_bytes()
    if faults:
        leaky.set_faults(**faults)
    soft = ("--mode", "soft_replace", "--yes", "--retries", "1", *FAST, "--json")
    outputs = run("push", "-", *soft, env=env, input=good)
    if faults:
        leaky.set_faults(**faults)
    outputs |= run("status", "1", "--retries", "1", env=env)
    outputs |= run("status", "--last", "--json", "--retries", "1", env=env)
    outputs |= run("status", "1", "--watch", *FAST, "--json", "--retries", "1", env=env)
    assert_no_leak(outputs, home / "state", home / "tmp")


def test_no_piece_of_the_key_leaks_when_nothing_answers(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    home = tmp_path / "home"
    env = isolated_env(
        home, {"PSYKHE_BASE_URL": f"http://127.0.0.1:{port}", "PSYKHE_API_KEY": CANARY}
    )
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    outputs = run("push", str(feed), "--retries", "1", "--json", env=env)
    outputs |= run("status", "1", "--retries", "0", "--json", env=env)
    outputs |= run("status", "--last", "--retries", "0", env=env)
    assert_no_leak(outputs, home / "state", home / "tmp")


def test_no_piece_of_the_key_leaks_from_refused_configurations(tmp_path: Path) -> None:
    home = tmp_path / "home"
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    outputs: dict[str, bytes] = {}
    base = {"PSYKHE_BASE_URL": "http://127.0.0.1:9"}
    # a key with whitespace inside, a public key, a non-ASCII key: each refused, none echoed
    for bad in (CANARY[:20] + " " + CANARY[20:], "pk_" + CANARY[3:], CANARY + "é"):
        env = isolated_env(home, base | {"PSYKHE_API_KEY": bad})
        outputs |= run("push", str(feed), env=env)
        outputs |= run("status", "1", env=env)
    # the key in a config file readable by others, and in a key file readable by others
    config = home / "config" / "psykhe" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'api_key = "{CANARY}"\n')
    config.chmod(0o644)
    outputs |= run("push", str(feed), env=isolated_env(home, base))
    config.unlink()
    key_file = tmp_path / "secret" / "key"
    key_file.parent.mkdir()
    key_file.write_text(CANARY + "\n")
    key_file.chmod(0o644)
    outputs |= run("push", str(feed), "--api-key-file", str(key_file), env=isolated_env(home, base))
    # a base URL that carries the key as a password
    env = isolated_env(home, {"PSYKHE_API_KEY": CANARY})
    outputs |= run("push", str(feed), "--base-url", f"https://u:{CANARY}@example.com", env=env)
    outputs |= run("validate", str(feed), env=env)
    outputs |= run("push", str(feed), "--dry-run", env=env)
    assert_no_leak(outputs, home / "state", home / "tmp")
