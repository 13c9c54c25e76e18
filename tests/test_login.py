"""``psykhe login`` / ``logout``: the key in a keyring (the tests' own file backend)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from psykhe_cli.config import Secret
from psykhe_cli.errors import ConfigError
from psykhe_cli.keys import store_key
from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import FAST, catalog, isolated_env, psykhe, run_in_pty, write_feed
from tests.keyring_backend import BACKEND


@pytest.fixture
def keyring_env(tmp_path: Path, sandbox: SandboxHandle) -> dict[str, str]:
    env = isolated_env(
        tmp_path / "home",
        {
            "PYTHON_KEYRING_BACKEND": BACKEND,
            "TEST_KEYRING_FILE": str(tmp_path / "keyring.json"),
            "PSYKHE_BASE_URL": sandbox.base_url,
        },
    )
    config = Path(env["XDG_CONFIG_HOME"]) / "psykhe" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[profiles.shop]\nbase_url = "{sandbox.base_url}"\n')
    config.chmod(0o600)
    return env


def _stored(env: dict[str, str]) -> dict[str, str]:
    path = Path(env["TEST_KEYRING_FILE"])
    return json.loads(path.read_text()) if path.exists() else {}


def test_login_then_push_uses_the_keyring_then_logout(
    tmp_path: Path, sandbox: SandboxHandle, keyring_env: dict[str, str]
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    login = psykhe(
        "login", "--profile", "shop", env=keyring_env, input=f"{sandbox.api_key}\n".encode()
    )
    assert login.returncode == 0, login.stderr
    assert (
        login.stderr == "psykhe: the key for profile shop is in the keyring (test file keyring)\n"
    )
    assert _stored(keyring_env) == {"psykhe/shop": sandbox.api_key}
    pushed = psykhe("push", str(feed), "--profile", "shop", *FAST, env=keyring_env)
    assert pushed.returncode == 0, pushed.stderr
    assert len(sandbox.ingestions()) == 1
    logout = psykhe("logout", "--profile", "shop", env=keyring_env)
    assert logout.stderr == "psykhe: removed the key for profile shop from the keyring\n"
    assert _stored(keyring_env) == {}
    again = psykhe("logout", "--profile", "shop", env=keyring_env)
    assert (again.returncode, again.stderr) == (
        0,
        "psykhe: the keyring held no key for profile shop\n",
    )
    refused = psykhe("push", str(feed), "--profile", "shop", env=keyring_env)
    assert refused.returncode == 4
    assert "no API key" in refused.stderr


def test_the_environment_wins_over_the_keyring(
    tmp_path: Path, sandbox: SandboxHandle, keyring_env: dict[str, str]
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    stored = psykhe("login", env=keyring_env, input=b"sk_stale_key_in_the_keyring\n")
    assert stored.returncode == 0, stored.stderr
    env = keyring_env | {"PSYKHE_API_KEY": sandbox.api_key}
    assert psykhe("push", str(feed), *FAST, env=env).returncode == 0
    rejected = psykhe("push", str(feed), *FAST, env=keyring_env)
    assert rejected.returncode == 4
    assert "the API key from the keyring (psykhe login)" in rejected.stderr


def test_login_refuses_a_bad_key_and_an_unknown_profile(keyring_env: dict[str, str]) -> None:
    public = psykhe("login", env=keyring_env, input=b"pk_live_0123456789\n")
    assert public.returncode == 4
    assert "is a public key" in public.stderr
    unknown = psykhe("login", "--profile", "shpo", env=keyring_env, input=b"sk_x\n")
    assert unknown.returncode == 4
    assert "no profile 'shpo'" in unknown.stderr
    assert _stored(keyring_env) == {}


def test_login_on_a_terminal_asks_without_echo(
    sandbox: SandboxHandle, keyring_env: dict[str, str]
) -> None:
    code, screen = run_in_pty(
        ["login", "--profile", "shop"],
        env=keyring_env,
        answers={b"not shown): ": f"{sandbox.api_key}\n".encode()},
    )
    assert code == 0, screen
    assert sandbox.api_key.encode() not in screen
    assert _stored(keyring_env) == {"psykhe/shop": sandbox.api_key}


def test_login_without_the_keyring_package_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "keyring", None)
    with pytest.raises(ConfigError) as caught:
        store_key(None, Secret("sk_x"))
    assert caught.value.hint is not None
    assert "pip install 'psykhe[keyring]'" in caught.value.hint
    assert "pipx inject psykhe keyring" in caught.value.hint


# --- keyrings that cannot keep the key (issue 23, 14 and 15; issue 22, 10) ------------------


def _login(env: dict[str, str], backend: str) -> tuple[int, str]:
    out = psykhe(
        "login", env=env | {"PYTHON_KEYRING_BACKEND": backend}, input=b"sk_live_0123456789\n"
    )
    return out.returncode, out.stderr


def test_login_with_a_backend_that_cannot_be_loaded_is_a_config_error(
    keyring_env: dict[str, str],
) -> None:
    code, stderr = _login(keyring_env, "no.such.Backend")
    assert code == 4, stderr
    assert stderr.splitlines() == [
        "psykhe: error: the keyring cannot be used: PYTHON_KEYRING_BACKEND=no.such.Backend "
        "cannot be loaded (ModuleNotFoundError: No module named 'no')",
        "psykhe: hint: unset PYTHON_KEYRING_BACKEND, or name an installed backend "
        "(python -m keyring --list-backends)",
    ]
    assert psykhe("logout", env=keyring_env | {"PYTHON_KEYRING_BACKEND": "os.path"}).returncode == 4


def test_login_to_the_null_keyring_says_the_key_was_not_kept(
    keyring_env: dict[str, str],
) -> None:
    code, stderr = _login(keyring_env, "keyring.backends.null.Keyring")
    assert code == 4, stderr
    assert stderr.splitlines()[0] == (
        "psykhe: error: the keyring (null Keyring) took the key but does not give it back: "
        "it is not kept"
    )
    assert "pip install keyrings.alt" in stderr
    assert 'api_key_file = "PATH"' in stderr
    assert "sk_live_0123456789" not in stderr


def test_login_on_a_machine_without_a_keyring_service_says_what_to_do(
    keyring_env: dict[str, str],
) -> None:
    code, stderr = _login(keyring_env, "keyring.backends.fail.Keyring")
    assert code == 4, stderr
    assert stderr.splitlines() == [
        "psykhe: error: the keyring cannot be used: this machine has no keyring service",
        "psykhe: hint: for a keyring in a file: pip install keyrings.alt (or: pipx inject psykhe "
        'keyrings.alt); or keep the key in a file (mode 600): api_key_file = "PATH" in the '
        "config file, or --api-key-file PATH",
    ]
    assert "No recommended backend" not in stderr


@pytest.mark.parametrize("backend", ["keyring.backends.fail.Keyring", "no.such.Backend"])
def test_login_on_a_terminal_says_so_before_asking_for_the_key(
    backend: str, keyring_env: dict[str, str]
) -> None:
    code, screen = run_in_pty(
        ["login"],
        env=keyring_env | {"PYTHON_KEYRING_BACKEND": backend},
        answers={b"not shown): ": b"sk_live_0123456789\n"},
    )
    text = screen.decode(errors="replace")
    assert code == 4, text
    assert "psykhe: error: the keyring cannot be used" in text
    assert "API key for profile" not in text
