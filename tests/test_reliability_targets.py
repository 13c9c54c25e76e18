"""Reliability matrix, the drop guard's memory: one target however its base URL is spelled, a
profile's memory kept across keys, and state files read whole, validated and bounded."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from psykhe_cli.config import key_fingerprint
from psykhe_cli.sandbox.inspect import SandboxHandle
from psykhe_cli.state import StateStore, Target
from tests.conftest import SandboxFactory
from tests.helpers import FAST, catalog, posts, psykhe, write_feed

SOFT = ("--mode", "soft_replace", "--yes")


def _baseline(tmp_path: Path, env: dict[str, str]) -> Path:
    """A completed soft_replace of 20 products; returns a feed of 2 (90% fewer)."""
    full = write_feed(tmp_path / "full.jsonl", catalog(60))
    out = psykhe("push", str(full), *SOFT, *FAST, env=env)
    assert out.returncode == 0, out.stderr
    return write_feed(tmp_path / "small.jsonl", catalog(6))


def _spellings(base_url: str) -> list[str]:
    port = base_url.rsplit(":", 1)[1]
    return [
        f"{base_url}/.",
        f"{base_url}//",
        f"{base_url}/v1/..",
        f"HTTP://127.0.0.1:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}",
        f"http://[::ffff:7f00:1]:{port}",
    ]


def test_another_spelling_of_the_base_url_is_the_same_target_for_the_guard(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    small = _baseline(tmp_path, env)
    for spelling in _spellings(sandbox.base_url):
        out = psykhe("push", str(small), *SOFT, env={**env, "PSYKHE_BASE_URL": spelling})
        assert out.returncode == 7, (spelling, out.stderr)
        assert "fewer than 50% of the 20" in out.stderr, spelling
    assert len(posts(sandbox)) == 1


def test_another_spelling_of_the_base_url_waits_for_the_same_lock(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    store = StateStore(home / "state" / "psykhe")
    held = Target(base_url=sandbox.base_url, key_fingerprint=key_fingerprint(env["PSYKHE_API_KEY"]))
    with store.sync_lock(held, exclusive=True):
        for spelling in _spellings(sandbox.base_url):
            out = psykhe("push", str(feed), *SOFT, env={**env, "PSYKHE_BASE_URL": spelling})
            assert out.returncode == 7, (spelling, out.stderr)
            assert f"pid {os.getpid()}" in out.stderr
    assert posts(sandbox) == []


def test_localhost_with_a_trailing_dot_is_localhost_but_not_127_0_0_1(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    port = sandbox.base_url.rsplit(":", 1)[1]
    local = {**env, "PSYKHE_BASE_URL": f"http://localhost:{port}"}
    small = _baseline(tmp_path, local)
    out = psykhe(
        "push", str(small), *SOFT, env={**env, "PSYKHE_BASE_URL": f"http://localhost.:{port}"}
    )
    assert out.returncode == 7, out.stderr
    # another host name is another target, even for one address: a dry run shows no baseline
    out = psykhe("push", str(small), *SOFT, "--dry-run", env=env)
    assert out.returncode == 0, out.stderr
    assert "no earlier full sync to " + sandbox.base_url in out.stderr
    assert len(posts(sandbox)) == 1


def _profile_env(home: Path, env: dict[str, str], base_url: str, key: str) -> dict[str, str]:
    config = home / "config" / "psykhe" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[profiles.shop]\nbase_url = "{base_url}"\napi_key = "{key}"\n')
    config.chmod(0o600)
    rest = {k: v for k, v in env.items() if k not in ("PSYKHE_API_KEY", "PSYKHE_BASE_URL")}
    return rest | {"PSYKHE_PROFILE": "shop"}


def test_under_a_profile_a_rotated_key_keeps_the_guard_memory(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox_factory: SandboxFactory
) -> None:
    # while a tenant's key is rotated, the server accepts the old key and the new one (the
    # push checks the key before its guard)
    new_key = "sk_test_rotated_0123456789abcdef"
    sandbox = sandbox_factory(keys={env["PSYKHE_API_KEY"]: "test-client", new_key: "test-client"})
    small = _baseline(tmp_path, _profile_env(home, env, sandbox.base_url, sandbox.api_key))
    rotated = _profile_env(home, env, sandbox.base_url + "/", new_key)
    out = psykhe("push", str(small), *SOFT, env=rotated)
    assert out.returncode == 7, out.stderr
    assert "fewer than 50% of the 20" in out.stderr
    assert len(posts(sandbox)) == 1


def test_without_a_profile_a_new_key_is_a_new_target_and_says_so(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    small = _baseline(tmp_path, env)
    other = {**env, "PSYKHE_API_KEY": "sk_test_another_tenant_0123456789"}
    out = psykhe("push", str(small), *SOFT, "--dry-run", env=other)
    assert out.returncode == 0, out.stderr
    fingerprint = key_fingerprint(other["PSYKHE_API_KEY"])
    assert (
        f"no earlier full sync to {sandbox.base_url} is known for this key "
        f"(fingerprint {fingerprint})"
    ) in out.stderr
    assert len(posts(sandbox)) == 1


def test_a_target_remembered_under_an_older_spelling_is_still_found(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    fingerprint = key_fingerprint(env["PSYKHE_API_KEY"])
    old = f"{sandbox.base_url}/./ key:{fingerprint}"  # as an earlier version may have keyed it
    path = home / "state" / "psykhe" / "full-syncs.json"
    path.parent.mkdir(parents=True)
    entry = {"base_url": sandbox.base_url + "/./", "key_fingerprint": fingerprint}
    entry |= {"products": 20, "variants": 60, "ingestion_id": 1, "time": "2026-01-01T00:00:00Z"}
    path.write_text(json.dumps({"version": 2, "targets": {old: entry}}))
    small = write_feed(tmp_path / "small.jsonl", catalog(6))
    out = psykhe("push", str(small), *SOFT, env=env)
    assert out.returncode == 7, out.stderr
    assert posts(sandbox) == []


# -- full-syncs.json: validated whole ------------------------------------------------------


def _tamper(home: Path, change: object) -> Path:
    path = home / "state" / "psykhe" / "full-syncs.json"
    doc = json.loads(path.read_text())
    (entry,) = doc["targets"].values()
    change(entry)  # type: ignore[operator]
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda e: e.pop("products"), id="products-deleted"),
        pytest.param(lambda e: e.update(variants="60"), id="variants-a-string"),
        pytest.param(lambda e: e.update(products=True), id="products-a-bool"),
        pytest.param(lambda e: e.update(products=-1), id="products-negative"),
        pytest.param(lambda e: e.pop("key_fingerprint"), id="fingerprint-deleted"),
        pytest.param(lambda e: e.update(key_fingerprint="0" * 16), id="another-key"),
        pytest.param(lambda e: e.update(base_url="https://x.example"), id="another-url"),
        pytest.param(lambda e: e.update(pending=[{"variants": 3}]), id="pending-no-products"),
        pytest.param(lambda e: e.update(pending={}), id="pending-not-a-list"),
        pytest.param(lambda e: e.update(products_file="../../x"), id="file-outside"),
    ],
)
def test_a_tampered_full_sync_file_is_refused_naming_it_never_no_baseline(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle, change: object
) -> None:
    small = _baseline(tmp_path, env)
    path = _tamper(home, change)
    out = psykhe("push", str(small), *SOFT, "--json", env=env)
    assert out.returncode == 4, out.stderr
    assert f"psykhe: error: the state file {path} is damaged" in out.stderr
    assert json.loads(out.stdout)["error"]["code"] == "config_error"
    assert len(posts(sandbox)) == 1


# -- state files are regular files of bounded size -----------------------------------------


def test_a_history_that_is_dev_zero_is_refused_naming_it(
    home: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    history = home / "state" / "psykhe" / "history.jsonl"
    history.parent.mkdir(parents=True)
    history.symlink_to("/dev/zero")
    out = psykhe("status", "--last", env=env, timeout=60)
    assert out.returncode == 4, out.stderr
    assert f"psykhe: error: the state file {history} is not a regular file" in out.stderr


@pytest.mark.parametrize("name", ["full-syncs.json", "no-chunked.json"])
def test_a_state_file_that_is_dev_zero_stops_a_full_sync_naming_it(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle, name: str
) -> None:
    state = home / "state" / "psykhe"
    state.mkdir(parents=True)
    (state / name).symlink_to("/dev/zero")
    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    out = psykhe("push", str(feed), *SOFT, env=env, timeout=60)
    if name == "no-chunked.json":  # only a hint for the upload: not known, and it goes on
        assert out.returncode == 0, out.stderr
        return
    assert out.returncode == 4, out.stderr
    assert f"the state file {state / name} is not a regular file" in out.stderr
    assert posts(sandbox) == []


def test_a_huge_history_is_read_from_its_end(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    assert psykhe("push", str(feed), *FAST, env=env).returncode == 0
    history = home / "state" / "psykhe" / "history.jsonl"
    last = history.read_bytes()
    with history.open("wb") as handle:  # 40 MB of junk lines before the real one
        handle.write((b"x" * 1023 + b"\n") * 40 * 1024)
        handle.write(last)
    out = psykhe("status", "--last", "--json", env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["ingestion_id"] == json.loads(last)["ingestion_ids"][-1]


def test_an_oversized_full_sync_file_is_refused_naming_it(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    state = home / "state" / "psykhe"
    state.mkdir(parents=True)
    path = state / "full-syncs.json"
    path.write_text(json.dumps({"version": 2, "targets": {}, "x": "y" * (5 << 20)}))
    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    out = psykhe("push", str(feed), *SOFT, env=env)
    assert out.returncode == 4, out.stderr
    assert f"the state file {path} is larger than" in out.stderr
    assert posts(sandbox) == []


def test_a_baseline_that_is_a_fifo_never_hangs_the_plan(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    small = _baseline(tmp_path, env)
    (products,) = (home / "state" / "psykhe" / "baselines").glob("*.products")
    products.unlink()
    os.mkfifo(products)  # nothing will ever write to it
    out = psykhe("push", str(small), *SOFT, "--dry-run", "--force", env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"no plan: the baseline's identifiers cannot be read (the state file {products}" in (
        out.stderr
    )
    assert len(posts(sandbox)) == 1
