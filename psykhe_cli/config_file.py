"""The config file and the secret files it and ``--api-key-file`` name: read, checked, typed.

The config file is ``$XDG_CONFIG_HOME/psykhe/config.toml`` (default ``~/.config``), read only
when it is private (mode 600). A profile is a ``[profiles.NAME]`` table with ``base_url``,
``api_key`` or ``api_key_file``, ``protected`` and ``keep_full_syncs``; its values never mix
with the top-level ones, so a key cannot reach another profile's origin.

A file that holds a secret is opened without blocking and read only when it is a regular file
or a pipe (``--api-key-file <(pass show psykhe)``), up to 1 MiB; a pipe that gives no end
within ``PIPE_SECONDS`` is an error, so a FIFO nobody writes to cannot hang a cron job.
"""

from __future__ import annotations

import os
import re
import select
import stat
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psykhe_cli.errors import ConfigError, UsageError

ENV_PROFILE = "PSYKHE_PROFILE"
#: the name of the config file's top-level keys, as a profile and as the keyring's user
DEFAULT_PROFILE = "default"
#: the keys a ``[profiles.NAME]`` table may hold; anything else is a typo worth an error
PROFILE_KEYS = (
    "base_url",
    "api_key",
    "api_key_file",
    "protected",
    "keep_full_syncs",
    "max_changed",
    "baseline_max_age",
)
#: full-sync bodies kept for ``psykhe restore`` when the config file says nothing
DEFAULT_KEEP_FULL_SYNCS = 2
_PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: a key file or config file larger than this is refused rather than read in part
_MAX_FILE_BYTES = 1024 * 1024
#: how long a secret file that is a pipe may take to reach its end
PIPE_SECONDS = 10.0


def config_file(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/psykhe/config.toml`` (it may not exist)."""
    env = os.environ if environ is None else environ
    return xdg_dir(env, "XDG_CONFIG_HOME", ".config") / "psykhe" / "config.toml"


def xdg_dir(env: Mapping[str, str], name: str, fallback: str) -> Path:
    """``$name`` when it is an absolute path, else ``$HOME/fallback`` (the XDG rule)."""
    # the XDG spec: a relative path in the variable is invalid and must be ignored
    value = env.get(name, "")
    if value and os.path.isabs(value):
        return Path(value)
    home = env.get("HOME") or os.path.expanduser("~")
    return Path(home) / fallback


# --- profiles -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ProfileTable:
    """One target's keys in the config file: the top level, or a ``[profiles.NAME]`` table."""

    #: how messages name the table: "the config file PATH" or "[profiles.NAME] in PATH"
    where: str
    base_url: str | None = None
    api_key: str | None = None
    api_key_file: Path | None = None
    protected: bool = False
    #: how many completed full syncs' bodies to keep for ``psykhe restore``
    keep_full_syncs: int = DEFAULT_KEEP_FULL_SYNCS
    #: push: refuse when more than this percent of the remembered variants change
    max_changed: float | None = None
    #: push: days the catalog memory is trusted after a whole feed refreshed it
    baseline_max_age: float | None = None


def pick_profile(flag: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """``--profile`` > ``PSYKHE_PROFILE`` > None; ``default`` names the top-level keys."""
    env = os.environ if environ is None else environ
    name = flag if flag is not None else env.get(ENV_PROFILE) or None
    if name is None or name == DEFAULT_PROFILE:
        return None
    if not _PROFILE_NAME.fullmatch(name):
        source = "--profile" if flag is not None else ENV_PROFILE
        raise UsageError(
            f"{source} {name!r} is not a profile name (letters, digits, '_', '-', '.')"
        )
    return name


def chosen_profile(flag: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """``pick_profile``, checked against the config file: the profile must be defined there."""
    env = os.environ if environ is None else environ
    name = pick_profile(flag, env)
    if name is not None:
        path = config_file(env)
        profile_table(read_config(path), name, path)
    return name


def profile_table(config: Mapping[str, Any], profile: str | None, path: Path) -> ProfileTable:
    """The keys of ``profile`` (None: the top level), type-checked; ``ConfigError`` if unusable."""
    profiles = config.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"profiles in the config file {path} must be [profiles.NAME] tables")
    if DEFAULT_PROFILE in profiles:
        raise ConfigError(
            f"[profiles.{DEFAULT_PROFILE}] in the config file {path}: '{DEFAULT_PROFILE}' "
            "names the top-level keys; give the table another name"
        )
    if profile is None:
        values = {name: value for name, value in config.items() if name != "profiles"}
        return _table(values, where=f"the config file {path}", path=path)
    if profile not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigError(
            f"no profile {profile!r} in the config file {path} (profiles: {known})",
            hint=f'add a [profiles.{profile}] table with base_url = "https://..." and '
            'api_key_file = "PATH"',
        )
    values = profiles[profile]
    where = f"[profiles.{profile}] in the config file {path}"
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(values) - set(PROFILE_KEYS))
    if unknown:
        raise ConfigError(
            f"{where} has unknown key(s): {', '.join(unknown)} (known: {', '.join(PROFILE_KEYS)})"
        )
    return _table(values, where=where, path=path)


def _table(values: Mapping[str, Any], *, where: str, path: Path) -> ProfileTable:
    # unknown top-level keys are let be, as they always were: they may be a newer psykhe's
    strings: dict[str, str | None] = {}
    for name in ("base_url", "api_key", "api_key_file"):
        value = values.get(name)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{name} in {where} must be a string")
        strings[name] = value
    protected = values.get("protected", False)
    if not isinstance(protected, bool):
        raise ConfigError(f"protected in {where} must be true or false")
    keep = values.get("keep_full_syncs", DEFAULT_KEEP_FULL_SYNCS)
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 0:
        raise ConfigError(f"keep_full_syncs in {where} must be a whole number, 0 or more")
    if strings["api_key"] is not None and strings["api_key_file"] is not None:
        raise ConfigError(f"{where} has both api_key and api_key_file; keep one")
    key_file = None
    if strings["api_key_file"] is not None:
        # relative to the config file's folder, so the file can be moved with its keys
        key_file = path.parent / Path(strings["api_key_file"]).expanduser()
    return ProfileTable(
        where=where,
        base_url=strings["base_url"],
        api_key=strings["api_key"],
        api_key_file=key_file,
        protected=protected,
        keep_full_syncs=keep,
        max_changed=_number(values, "max_changed", where, upper=100),
        baseline_max_age=_number(values, "baseline_max_age", where, upper=None),
    )


def _number(values: Mapping[str, Any], name: str, where: str, upper: float | None) -> float | None:
    """A number from 0 (to ``upper``) in the table, or None when it is not set."""
    value = values.get(name)
    if value is None:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
    if not ok or (upper is not None and value > upper):
        limit = f"from 0 to {upper:g}" if upper is not None else "of 0 or more"
        raise ConfigError(f"{name} in {where} must be a number {limit}")
    return float(value)


# --- files ----------------------------------------------------------------------------------


def read_config(path: Path) -> dict[str, Any]:
    """The config file as TOML data; ``{}`` when there is no file."""
    if not path.exists():
        return {}
    text = read_private_file(path, what="config file")
    try:
        return _toml_loads(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise ConfigError(f"the config file {path} is not valid TOML: {exc}") from None


def _toml_loads(text: str) -> dict[str, Any]:
    # the same parser on every Python: tomllib from 3.11, its backport tomli on 3.10
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    return tomllib.loads(text)


def read_private_file(path: Path, *, what: str) -> str:
    """Read a file that holds a secret (``what``: "API key file"); ``ConfigError`` naming it
    when it is missing, readable by others, not a regular file or a pipe, too large, or a
    pipe that does not end."""
    try:
        # no open may block: a FIFO with no writer would wait for one forever
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise ConfigError(f"the {what} {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"the {what} {path} is a directory") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
    try:
        raw = _read_secret(fd, path, what)
    finally:
        os.close(fd)
    if len(raw) > _MAX_FILE_BYTES:
        raise ConfigError(f"the {what} {path} is too large (over 1 MiB) to be one")
    try:
        return raw.decode("utf-8-sig")  # an editor's invisible BOM is not part of the key
    except UnicodeDecodeError:
        raise ConfigError(f"the {what} {path} is not UTF-8 text") from None


def _read_secret(fd: int, path: Path, what: str) -> bytes:
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode):
        raise ConfigError(f"the {what} {path} is a directory")
    if stat.S_ISREG(mode):
        if os.name == "posix" and mode & 0o077:
            raise ConfigError(
                f"the {what} {path} may be read by other users "
                f"(mode {stat.S_IMODE(mode):03o}); fix it with: chmod 600 {path}"
            )
        return _read_until_end(fd, path, what, deadline=None)
    if stat.S_ISFIFO(mode):
        raw = _read_until_end(fd, path, what, deadline=time.monotonic() + PIPE_SECONDS)
        if not raw:
            raise ConfigError(
                f"the {what} {path} is a pipe and nothing was written to it",
                hint="keep the key in a regular file (mode 600)",
            )
        return raw
    raise ConfigError(
        f"the {what} {path} is not a regular file (it is a {_kind(mode)})",
        hint="keep the key in a regular file (mode 600)",
    )


def _read_until_end(fd: int, path: Path, what: str, *, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size <= _MAX_FILE_BYTES:
        try:
            chunk = os.read(fd, _MAX_FILE_BYTES + 1 - size)
        except BlockingIOError:  # a pipe whose writer has not written yet
            left = 0.0 if deadline is None else deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise ConfigError(
                    f"the {what} {path} is a pipe that did not end within {PIPE_SECONDS:g} s"
                ) from None
            continue
        except OSError as exc:
            raise ConfigError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _kind(mode: int) -> str:
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"
