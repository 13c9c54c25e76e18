"""Settings loading: precedence, base URL rules, the key's checks and its secrecy."""

from __future__ import annotations

import copy
import dataclasses
import os
import pickle
import re
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from psykhe_cli.config import (
    DEFAULT_BASE_URL,
    Secret,
    is_loopback_host,
    key_fingerprint,
    load_settings,
    normalize_base_url,
)
from psykhe_cli.errors import ConfigError, ExitCode, MissingKeyError, PsykheError, UsageError
from psykhe_cli.keys import delete_key, store_key

KEY = "sk_test_RECOGNISABLE_key_0123456789"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(home), **extra}


def _write_config(home: Path, text: str, mode: int = 0o600) -> Path:
    path = home / ".config" / "psykhe" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def _write_key_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "key"
    path.write_text(text)
    path.chmod(mode)
    return path


def _leaks(text: str, key: str = KEY) -> bool:
    return any(key[i : i + 8] in text for i in range(len(key) - 7))


# --- base URL -----------------------------------------------------------------------------


def test_base_url_defaults_to_the_documented_api(home: Path) -> None:
    settings = load_settings(environ=_env(home, PSYKHE_API_KEY=KEY))
    assert settings.base_url == DEFAULT_BASE_URL == "https://api.psykhe.dev"


def test_base_url_precedence_flag_env_config(home: Path) -> None:
    _write_config(home, 'base_url = "https://from-config.example"\n')
    env = _env(home, PSYKHE_API_KEY=KEY)
    assert load_settings(environ=env).base_url == "https://from-config.example"
    env["PSYKHE_BASE_URL"] = "https://from-env.example"
    assert load_settings(environ=env).base_url == "https://from-env.example"
    assert (
        load_settings(base_url="https://from-flag.example", environ=env).base_url
        == "https://from-flag.example"
    )


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("https://api.psykhe.dev/", "https://api.psykhe.dev"),
        ("HTTPS://API.Example.COM:8443//", "https://api.example.com:8443"),
        ("https://gw.example.com/psykhe/", "https://gw.example.com/psykhe"),
        ("https://api.psykhe.dev:443/", "https://api.psykhe.dev"),
        ("http://localhost:80", "http://localhost"),
        ("http://localhost:443", "http://localhost:443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.9.9.9", "http://127.9.9.9"),
        ("http://localhost:5000/", "http://localhost:5000"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("http://[::ffff:127.0.0.1]:8000", "http://[::ffff:127.0.0.1]:8000"),
        ("https://[2001:db8::1]", "https://[2001:db8::1]"),
    ],
)
def test_base_url_is_normalized(url: str, normalized: str) -> None:
    assert normalize_base_url(url) == normalized


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://api.psykhe.dev", "plain http:// is only allowed to this machine"),
        ("http://10.0.0.1:8080", "not to 10.0.0.1"),
        ("http://localhost.evil.example", "plain http://"),
        ("http://128.0.0.1", "plain http://"),
        ("ftp://api.psykhe.dev", "must look like https://host"),
        ("api.psykhe.dev", "must look like https://host"),
        ("https://", "must look like https://host"),
        ("https://api.psykhe.dev/?x=1", "must not have a query or fragment"),
        ("https://api.psykhe.dev/#top", "must not have a query or fragment"),
        ("https://api.psykhe.dev?", "must not have a query or fragment"),
        ("https://api.psykhe.dev:99999", "is not a valid URL"),
        ("https://api.psykhe.dev/ x", "whitespace or control characters"),
    ],
)
def test_base_url_refused_is_usage_error(url: str, fragment: str) -> None:
    with pytest.raises(UsageError) as caught:
        normalize_base_url(url, source="--base-url")
    assert caught.value.exit_code == ExitCode.USAGE
    assert int(caught.value.exit_code) == 2
    assert fragment in caught.value.message
    assert caught.value.message.startswith(("the base URL from --base-url", "plain http://"))


def test_base_url_with_credentials_is_refused_without_echoing_them(home: Path) -> None:
    env = _env(home, PSYKHE_API_KEY=KEY, PSYKHE_BASE_URL="https://alice:hunter2@api.example")
    with pytest.raises(UsageError) as caught:
        load_settings(environ=env)
    text = "".join(traceback.format_exception(caught.value))
    assert "hunter2" not in text and "alice" not in text
    assert caught.value.message == (
        "the base URL from PSYKHE_BASE_URL contains credentials (user:password@); "
        "psykhe authenticates with the API key only — remove them"
    )


def test_base_url_from_config_file_is_checked_too(home: Path) -> None:
    path = _write_config(home, 'base_url = "http://example.com"\n')
    with pytest.raises(UsageError, match=f"from base_url in {path}|not to example.com"):
        load_settings(environ=_env(home, PSYKHE_API_KEY=KEY))


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("127.0.0.1", True),
        ("127.255.0.3", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("10.1.1.1", False),
        ("example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


# --- where the key comes from -------------------------------------------------------------


def test_key_precedence_file_then_env_then_config(home: Path, tmp_path: Path) -> None:
    config = _write_config(home, 'api_key = "sk_from_config"\n')
    env = _env(home)
    settings = load_settings(environ=env)
    assert (settings.api_key.reveal(), settings.key_source) == ("sk_from_config", str(config))
    env["PSYKHE_API_KEY"] = "sk_from_env"
    settings = load_settings(environ=env)
    assert (settings.api_key.reveal(), settings.key_source) == ("sk_from_env", "PSYKHE_API_KEY")
    key_file = _write_key_file(tmp_path, "sk_from_file\n")
    settings = load_settings(api_key_file=key_file, environ=env)
    assert settings.api_key.reveal() == "sk_from_file"
    assert settings.key_source == f"--api-key-file {key_file}"


@pytest.mark.parametrize("text", ["sk_file\n", "sk_file\r\n", "sk_file"])
def test_key_file_trailing_newline_is_stripped(tmp_path: Path, home: Path, text: str) -> None:
    key_file = _write_key_file(tmp_path, text)
    assert load_settings(api_key_file=key_file, environ=_env(home)).api_key.reveal() == "sk_file"


def test_key_file_readable_by_others_is_refused_with_chmod_advice(
    tmp_path: Path, home: Path
) -> None:
    key_file = _write_key_file(tmp_path, KEY, mode=0o644)
    with pytest.raises(ConfigError) as caught:
        load_settings(api_key_file=key_file, environ=_env(home))
    assert caught.value.exit_code == 4
    assert caught.value.message == (
        f"the API key file {key_file} may be read by other users (mode 644); "
        f"fix it with: chmod 600 {key_file}"
    )


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_config_file_readable_by_others_is_refused(home: Path, mode: int) -> None:
    path = _write_config(home, f'api_key = "{KEY}"\n', mode=mode)
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=_env(home))
    assert caught.value.exit_code == ExitCode.CONFIG
    assert f"chmod 600 {path}" in caught.value.message
    assert not _leaks(caught.value.message)


def test_config_file_refused_even_when_env_key_wins(home: Path) -> None:
    # the file's key is exposed whichever key this run uses; say so rather than ignore it
    _write_config(home, f'api_key = "{KEY}"\n', mode=0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_settings(environ=_env(home, PSYKHE_API_KEY="sk_other"))


def test_config_file_in_xdg_config_home(tmp_path: Path) -> None:
    path = tmp_path / "xdg" / "psykhe" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('api_key = "sk_xdg"  # comment\n[other]\napi_key = "ignored"\n')
    path.chmod(0o600)
    env = {"HOME": str(tmp_path / "nohome"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    settings = load_settings(environ=env)
    assert (settings.api_key.reveal(), settings.config_path) == ("sk_xdg", path)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("api_key = sk_unquoted\n", "is not valid TOML"),
        ('api_key = "unterminated\n', "is not valid TOML"),
        ("api_key = 42\n", "api_key in the config file"),
        ('base_url = ["x"]\n', "base_url in the config file"),
    ],
)
def test_config_file_malformed_is_config_error(home: Path, text: str, fragment: str) -> None:
    _write_config(home, text)
    with pytest.raises(ConfigError, match=fragment):
        load_settings(environ=_env(home, PSYKHE_API_KEY=KEY))


def test_missing_key_names_the_three_ways_to_set_one(home: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=_env(home))
    config = home / ".config" / "psykhe" / "config.toml"
    assert caught.value.message == (
        "no API key: set one of the PSYKHE_API_KEY environment variable, "
        "--api-key-file PATH (a file holding only the key, mode 600), "
        f'api_key = "sk_..." in {config} (mode 600), or the keyring with psykhe login'
    )


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("", "is empty"),
        ("pk_live_abcdef123456", "is a public key (pk_…), which cannot ingest"),
        ("sk_live abc", "contains whitespace"),
        ("sk_live\tabc", "contains whitespace"),
        (" sk_live_abc", "contains whitespace"),
        ("sk_live_abc\n", "contains whitespace"),
        ("sk_live_\u00e9t\u00e9", "non-ASCII or control characters"),
        ("sk_live_\x00abc", "non-ASCII or control characters"),
        ("live_abcdef123456", "does not look like a private key: private keys start with sk_"),
    ],
)
def test_bad_key_from_env_is_refused_before_sending(home: Path, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=_env(home, PSYKHE_API_KEY=key))
    assert caught.value.message.startswith("the API key from PSYKHE_API_KEY ")
    assert fragment in caught.value.message
    if len(key) >= 8:
        assert not _leaks(caught.value.message, key)


@pytest.mark.parametrize("text", ["", "\n", "sk_a b\n", "pk_abc\n", "sk_abc\n\n"])
def test_bad_key_file_is_refused(tmp_path: Path, home: Path, text: str) -> None:
    key_file = _write_key_file(tmp_path, text)
    with pytest.raises(ConfigError, match=f"the API key from --api-key-file {key_file} "):
        load_settings(api_key_file=key_file, environ=_env(home))


def test_key_file_with_a_bom_is_read(tmp_path: Path, home: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(b"\xef\xbb\xbfsk_bom\r\n")
    key_file.chmod(0o600)
    assert load_settings(api_key_file=key_file, environ=_env(home)).api_key.reveal() == "sk_bom"


def test_key_file_too_large_or_not_utf8_is_refused(tmp_path: Path, home: Path) -> None:
    key_file = _write_key_file(tmp_path, "sk_" + "a" * (1024 * 1024))
    with pytest.raises(ConfigError, match=r"is too large \(over 1 MiB\)"):
        load_settings(api_key_file=key_file, environ=_env(home))
    key_file.write_bytes(b"sk_\xff\xfe")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_settings(api_key_file=key_file, environ=_env(home))


def test_key_file_missing_or_a_directory(tmp_path: Path, home: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(api_key_file=tmp_path / "nope", environ=_env(home))
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(api_key_file=tmp_path, environ=_env(home))


def test_key_file_may_be_a_pipe(tmp_path: Path, home: Path) -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"sk_from_pipe\n")
    os.close(write_end)
    try:
        settings = load_settings(api_key_file=f"/dev/fd/{read_end}", environ=_env(home))
    finally:
        os.close(read_end)
    assert settings.api_key.reveal() == "sk_from_pipe"


# --- the key stays secret -----------------------------------------------------------------


def test_secret_never_shows_itself() -> None:
    secret = Secret(KEY)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", "{}".format(secret)):  # noqa: UP032
        assert not _leaks(text)
    assert str(secret) == "[redacted]"
    assert repr(secret) == "Secret('[redacted]')"
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_settings_repr_holds_no_key(home: Path) -> None:
    settings = load_settings(environ=_env(home, PSYKHE_API_KEY=KEY))
    assert not _leaks(repr(settings))
    assert "Secret('[redacted]')" in repr(settings)


def test_secret_survives_copies_of_settings(home: Path) -> None:
    settings = load_settings(environ=_env(home, PSYKHE_API_KEY=KEY))
    copied = copy.deepcopy(settings)
    assert copied == settings and copied.api_key is settings.api_key
    as_dict = dataclasses.asdict(settings)
    assert as_dict["api_key"] is settings.api_key
    assert not _leaks(repr(as_dict))


def test_secret_equality_and_hash() -> None:
    assert Secret(KEY) == Secret(KEY)
    assert Secret(KEY) != Secret(KEY + "x")
    assert hash(Secret(KEY)) == hash(Secret(KEY))


def test_key_fingerprint_is_short_stable_and_not_the_key() -> None:
    fingerprint = key_fingerprint(KEY)
    assert (
        fingerprint == key_fingerprint(Secret(KEY)) == "b2bed134835c"
    )  # printf psykhe:KEY | sha256sum
    assert len(fingerprint) == 12 and int(fingerprint, 16) >= 0
    assert key_fingerprint("sk_other") != fingerprint
    assert not _leaks(fingerprint)


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        (f"key={KEY}!", "key=[redacted]!"),
        (f"prefix {KEY[:8]} and {KEY[10:25]} end", "prefix [redacted] and [redacted] end"),
        (f"{KEY[:7]} is too short to say anything", f"{KEY[:7]} is too short to say anything"),
        ("nothing here", "nothing here"),
        (f"{KEY}{KEY}", "[redacted]"),
    ],
)
def test_secret_scrub_removes_every_8_character_piece(text: str, scrubbed: str) -> None:
    assert Secret(KEY).scrub(text) == scrubbed


def test_short_secret_scrub_replaces_whole_value() -> None:
    assert Secret("sk_ab").scrub("a sk_ab b") == "a [redacted] b"


def test_config_error_traceback_holds_no_key(home: Path) -> None:
    key = "pk_live_RECOGNISABLE_public_0123456789"
    with pytest.raises(PsykheError) as caught:
        load_settings(environ=_env(home, PSYKHE_API_KEY=key))
    assert not _leaks("".join(traceback.format_exception(caught.value)), key)


# --- directories, option values -----------------------------------------------------------


def test_state_dir_follows_xdg_state_home(tmp_path: Path, home: Path) -> None:
    env = _env(home, PSYKHE_API_KEY=KEY, XDG_STATE_HOME=str(tmp_path / "state"))
    assert load_settings(environ=env).state_dir == tmp_path / "state" / "psykhe"
    env["XDG_STATE_HOME"] = "relative/path"  # invalid per the XDG spec: ignored
    assert load_settings(environ=env).state_dir == home / ".local" / "state" / "psykhe"


def test_load_settings_creates_nothing(tmp_path: Path, home: Path) -> None:
    load_settings(environ=_env(home, PSYKHE_API_KEY=KEY))
    assert not home.exists()


def test_option_values_are_checked(home: Path) -> None:
    env = _env(home, PSYKHE_API_KEY=KEY)
    with pytest.raises(UsageError, match="--retries must be 0 or more"):
        load_settings(retries=-1, environ=env)
    with pytest.raises(UsageError, match="read timeout must be more than 0"):
        load_settings(read_timeout=0, environ=env)
    settings = load_settings(retries=0, connect_timeout=2.5, read_timeout=30, environ=env)
    assert (settings.retries, settings.connect_timeout, settings.read_timeout) == (0, 2.5, 30)


def test_settings_are_frozen_and_keyword_only(home: Path) -> None:
    settings = load_settings(environ=_env(home, PSYKHE_API_KEY=KEY))
    with pytest.raises(AttributeError):
        settings.base_url = "https://other.example"  # type: ignore[misc]
    with pytest.raises(TypeError):
        type(settings)("https://x", Secret(KEY))  # type: ignore[call-arg]


# --- TOML: one parser on every Python -----------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        'retries = 3\napi_key = "sk_from_config"\n',
        '"api_key" = "sk_from_config"\n',
        'api_key = """sk_from_config"""\n',
        "api_key = '''sk_from_config'''\n[other]\nvalue = 1\n",
    ],
)
def test_config_file_is_read_as_toml(home: Path, text: str) -> None:
    # each of these was an error on Python 3.10 under the old hand-written parser
    _write_config(home, text)
    assert load_settings(environ=_env(home)).api_key.reveal() == "sk_from_config"


def test_config_file_junk_after_a_table_is_an_error(home: Path) -> None:
    # the old 3.10 parser stopped reading at the first table and let this pass
    _write_config(home, 'api_key = "sk_from_config"\n[other]\nthis is not toml\n')
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(environ=_env(home))


# --- profiles -----------------------------------------------------------------------------

PROFILES = """\
base_url = "https://default.example"
api_key = "sk_default_key"

[profiles.staging]
base_url = "https://staging.example"
api_key = "sk_staging_key"

[profiles.prod]
base_url = "https://prod.example"
api_key_file = "prod.key"
protected = true
"""


def test_profile_from_flag_or_env_uses_only_its_table(home: Path) -> None:
    path = _write_config(home, PROFILES)
    (path.parent / "prod.key").write_text("sk_prod_key\n")
    (path.parent / "prod.key").chmod(0o600)
    default = load_settings(environ=_env(home))
    assert (default.base_url, default.api_key.reveal()) == (
        "https://default.example",
        "sk_default_key",
    )
    assert (default.profile, default.protected) == (None, False)
    staging = load_settings(profile="staging", environ=_env(home))
    assert (staging.base_url, staging.api_key.reveal(), staging.profile) == (
        "https://staging.example",
        "sk_staging_key",
        "staging",
    )
    prod = load_settings(environ=_env(home, PSYKHE_PROFILE="prod"))
    assert (prod.base_url, prod.api_key.reveal(), prod.protected) == (
        "https://prod.example",
        "sk_prod_key",
        True,
    )
    assert prod.key_source == str(path.parent / "prod.key")
    # the flag wins over the environment; "default" names the top-level keys
    flagged = load_settings(profile="default", environ=_env(home, PSYKHE_PROFILE="prod"))
    assert flagged.base_url == "https://default.example"


def test_profile_never_borrows_the_top_level_key_or_url(home: Path) -> None:
    _write_config(home, 'base_url = "https://default.example"\napi_key = "sk_d"\n[profiles.x]\n')
    with pytest.raises(ConfigError, match="no API key") as caught:
        load_settings(profile="x", environ=_env(home))
    assert "[profiles.x] in the config file" in caught.value.message
    settings = load_settings(profile="x", environ=_env(home, PSYKHE_API_KEY=KEY))
    assert settings.base_url == DEFAULT_BASE_URL


def test_unknown_profile_names_the_known_ones(home: Path) -> None:
    _write_config(home, PROFILES)
    with pytest.raises(ConfigError) as caught:
        load_settings(profile="prdo", environ=_env(home))
    assert caught.value.message.startswith("no profile 'prdo' in the config file ")
    assert caught.value.message.endswith("(profiles: prod, staging)")
    assert caught.value.exit_code == ExitCode.CONFIG


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[profiles.p]\napi-key = "sk_x"\n', "[profiles.p] in the config file"),
        ('[profiles.p]\napi_key = "sk_x"\napi_key_file = "k"\n', "both api_key and api_key_file"),
        ('[profiles.p]\napi_key = "sk_x"\nprotected = "yes"\n', "protected in [profiles.p]"),
        ("[profiles.p]\napi_key = 1\n", "api_key in [profiles.p]"),
        ('[profiles.default]\napi_key = "sk_x"\n', "names the top-level keys"),
        ('profiles = "p"\n', "must be [profiles.NAME] tables"),
    ],
)
def test_profile_tables_are_checked(home: Path, text: str, fragment: str) -> None:
    _write_config(home, text)
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        load_settings(profile="p", environ=_env(home))


def test_profile_name_is_checked(home: Path) -> None:
    with pytest.raises(UsageError, match="is not a profile name"):
        load_settings(profile="../etc", environ=_env(home, PSYKHE_API_KEY=KEY))


def test_profile_config_file_permissions_apply(home: Path) -> None:
    _write_config(home, PROFILES, mode=0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_settings(profile="staging", environ=_env(home))


# --- the keyring ----------------------------------------------------------------------------


@pytest.fixture
def file_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import keyring

    from tests.keyring_backend import FileKeyring

    monkeypatch.setenv("TEST_KEYRING_FILE", str(tmp_path / "keyring.json"))
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    yield
    keyring.set_keyring(previous)


def test_key_precedence_flag_file_env_keyring_config(
    home: Path, tmp_path: Path, file_keyring: None
) -> None:
    config = _write_config(home, 'api_key = "sk_from_config"\n[profiles.p]\napi_key = "sk_p"\n')
    env = _env(home)
    assert load_settings(environ=env).key_source == str(config)
    store_key(None, Secret("sk_from_keyring"))
    settings = load_settings(environ=env)
    assert (settings.api_key.reveal(), settings.key_source) == (
        "sk_from_keyring",
        "the keyring (psykhe login)",
    )
    # the keyring holds one key per profile
    assert load_settings(profile="p", environ=env).api_key.reveal() == "sk_p"
    env["PSYKHE_API_KEY"] = "sk_from_env"
    assert load_settings(environ=env).api_key.reveal() == "sk_from_env"
    key_file = _write_key_file(tmp_path, "sk_from_file\n")
    assert load_settings(api_key_file=key_file, environ=env).api_key.reveal() == "sk_from_file"
    assert delete_key(None) is True
    assert delete_key(None) is False
    del env["PSYKHE_API_KEY"]
    assert load_settings(environ=env).api_key.reveal() == "sk_from_config"


def test_a_bad_key_in_the_keyring_is_refused(home: Path, file_keyring: None) -> None:
    store_key("p", Secret("pk_public"))
    _write_config(home, '[profiles.p]\nbase_url = "https://p.example"\n')
    with pytest.raises(ConfigError, match=r"from the keyring \(psykhe login --profile p\) is a"):
        load_settings(profile="p", environ=_env(home))


def test_keyring_without_a_backend_is_no_key(home: Path) -> None:
    import keyring
    from keyring.backends.fail import Keyring as NoBackend

    previous = keyring.get_keyring()
    keyring.set_keyring(NoBackend())
    try:
        with pytest.raises(MissingKeyError):
            load_settings(environ=_env(home))
    finally:
        keyring.set_keyring(previous)


def test_key_file_that_is_a_pipe_without_an_end_is_refused(
    monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    from psykhe_cli import config_file

    monkeypatch.setattr(config_file, "PIPE_SECONDS", 0.05)
    read_end, write_end = os.pipe()
    os.write(write_end, b"sk_half")  # the writer stays: the key file never ends
    try:
        with pytest.raises(ConfigError, match=r"is a pipe that did not end within 0\.05 s"):
            load_settings(api_key_file=f"/dev/fd/{read_end}", environ=_env(home))
    finally:
        os.close(read_end)
        os.close(write_end)
