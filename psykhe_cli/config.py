"""Settings and their single loader: the only reader of the config file and of the variables
that configure psykhe (below, and the XDG, proxy and CA-bundle ones).

The other variables psykhe looks at are read where they belong, never to configure a push:
``terminal.py`` reads NO_COLOR, FORCE_COLOR and TERM (the terminal's conventions),
``threads.py`` PSYKHE_STRICT_THREADS (a switch of the test suite), ``validate/lines.py`` sets
OPENBLAS_NUM_THREADS around numpy's import, and ``psykhe sandbox run`` hands the environment
on to the command it runs.

Where each value comes from, first match wins:

    profile    --profile NAME  >  PSYKHE_PROFILE  >  none (the config file's top-level keys)
    base URL   --base-url  >  PSYKHE_BASE_URL  >  the profile's ``base_url``  >  https://api.psykhe.dev
    API key    --api-key-file PATH  >  PSYKHE_API_KEY  >  the keyring (``psykhe login``)
               >  the profile's ``api_key`` or ``api_key_file``
    read timeout                       PSYKHE_READ_TIMEOUT (seconds)  >  60

The config file is ``$XDG_CONFIG_HOME/psykhe/config.toml`` (default ``~/.config``); local state
lives in ``$XDG_STATE_HOME/psykhe`` (default ``~/.local/state``). No flag takes the key's value:
a command line is visible to every user of the machine.

A profile is a ``[profiles.NAME]`` table with ``base_url``, ``api_key`` or ``api_key_file``, and
``protected``; its values never mix with the top-level ones, so a key cannot reach another
profile's origin. The keyring is read only when the optional ``keyring`` package is installed,
under service ``psykhe`` and user NAME (``default`` for the top level).

The key is held in a ``Secret`` whose ``repr``/``str`` are redacted, so it cannot reach output,
logs, exception messages or tracebacks by accident; ``Secret.reveal()`` is called only where
the value itself is needed: the request header (``client.py``), the keyring (``store_key``)
and the one-way fingerprint (``key_fingerprint``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import os
import re
import stat
import string
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from psykhe_cli.errors import ConfigError, MissingKeyError, UsageError

DEFAULT_BASE_URL = "https://api.psykhe.dev"
DEFAULT_RETRIES = 4
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
DEFAULT_WRITE_TIMEOUT = 60.0

ENV_BASE_URL = "PSYKHE_BASE_URL"
ENV_API_KEY = "PSYKHE_API_KEY"
ENV_PROFILE = "PSYKHE_PROFILE"
#: the name of the config file's top-level keys, as a profile and as the keyring's user
DEFAULT_PROFILE = "default"
#: the keyring service under which ``psykhe login`` stores keys (user: the profile's name)
KEYRING_SERVICE = "psykhe"
#: the keys a ``[profiles.NAME]`` table may hold; anything else is a typo worth an error
PROFILE_KEYS = ("base_url", "api_key", "api_key_file", "protected")
_PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: seconds to wait for an answer; for slow gateways, and for tests that need a short one
ENV_READ_TIMEOUT = "PSYKHE_READ_TIMEOUT"

REDACTED = "[redacted]"
#: the shortest piece of the key that ``Secret.scrub`` removes from text
_SCRUB_WINDOW = 8
#: a key file or config file larger than this is refused rather than read in part
_MAX_FILE_BYTES = 1024 * 1024
#: lower-cases ASCII letters only, so that every character keeps its place
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


class Secret:
    """A string that never shows itself: ``repr``/``str``/f-strings print ``[redacted]``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The real value: only for the request header, the keyring and the fingerprint."""
        return self._value

    def scrub(self, text: str) -> str:
        """``text`` with every piece of 8+ consecutive characters of the secret redacted.

        Letters match in either case: a gateway may echo the key lower-cased (a ``Location``
        host) or upper-cased.
        """
        pattern = self._pattern()
        hidden: list[tuple[int, int]] = []
        for match in pattern.finditer(text.translate(_ASCII_LOWER)):
            start, end = match.start(), match.start() + len(match.group(1))
            if hidden and start <= hidden[-1][1]:
                hidden[-1] = (hidden[-1][0], max(end, hidden[-1][1]))
            else:
                hidden.append((start, end))
        if not hidden:
            return text
        out, done = [], 0
        for start, end in hidden:
            out += [text[done:start], REDACTED]
            done = end
        out.append(text[done:])
        return "".join(out)

    def scrub_bytes(self, data: bytes) -> bytes:
        """``scrub`` for bytes (a response body); each byte is taken as one character."""
        return self.scrub(data.decode("latin-1")).encode("latin-1", "replace")

    def _pattern(self) -> re.Pattern[str]:
        # every window, found at every position (a lookahead matches without consuming)
        value = self._value.translate(_ASCII_LOWER)
        if not value:
            return re.compile(r"(?!)()")
        if len(value) < _SCRUB_WINDOW:
            return re.compile(f"(?=({re.escape(value)}))")
        windows = {value[i : i + _SCRUB_WINDOW] for i in range(len(value) - _SCRUB_WINDOW + 1)}
        return re.compile("(?=(" + "|".join(map(re.escape, sorted(windows))) + "))")

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, format_spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(key_fingerprint(self))

    def __reduce__(self) -> str:
        raise TypeError("a Secret cannot be pickled")

    # immutable: copies (dataclasses.asdict/replace, copy.deepcopy) share the one instance
    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Secret:
        return self


def key_fingerprint(key: Secret | str) -> str:
    """A short, one-way name for a key (12 hex digits), safe to store in state files."""
    value = key.reveal() if isinstance(key, Secret) else key
    return hashlib.sha256(f"psykhe:{value}".encode()).hexdigest()[:12]


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the client layer needs to talk to one PSYKHE endpoint."""

    #: normalized: scheme and host lower-cased, no trailing slash, no query/fragment/userinfo
    base_url: str
    api_key: Secret
    #: where the key came from, for messages: "PSYKHE_API_KEY", "--api-key-file PATH", "PATH"
    key_source: str
    #: the config file looked at (it may not exist)
    config_path: Path
    #: ``$XDG_STATE_HOME/psykhe``; not created here (``state.StateStore`` creates it 0700)
    state_dir: Path
    retries: int = DEFAULT_RETRIES
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    #: how long to wait for the answer once the body is sent (and between response bytes)
    read_timeout: float = DEFAULT_READ_TIMEOUT
    #: how long a single write of the body may block (a server that stopped reading)
    write_timeout: float = DEFAULT_WRITE_TIMEOUT
    #: the ``[profiles.NAME]`` in use, or None for the config file's top-level keys
    profile: str | None = None
    #: ``protected = true`` on that profile: a soft_replace asks for its name to be typed
    protected: bool = False

    @property
    def key_fingerprint(self) -> str:
        """``key_fingerprint(api_key)``: names the key in state files."""
        return key_fingerprint(self.api_key)


def load_settings(
    *,
    base_url: str | None = None,
    api_key_file: Path | str | None = None,
    retries: int = DEFAULT_RETRIES,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build ``Settings`` from flag values, the environment and the config file.

    Raises ``UsageError`` (exit 2) for a bad base URL or option value and ``ConfigError``
    (exit 4) for a missing, unsafe or malformed key or config file.
    """
    env = os.environ if environ is None else environ
    if read_timeout is None:
        read_timeout = _seconds_from(env, ENV_READ_TIMEOUT, DEFAULT_READ_TIMEOUT)
    if retries < 0:
        raise UsageError(f"--retries must be 0 or more, not {retries}")
    for name, value in (("connect", connect_timeout), ("read", read_timeout)):
        if not value > 0:
            raise UsageError(f"the {name} timeout must be more than 0 seconds, not {value}")
    config_path = config_file(env)
    chosen = pick_profile(profile, env)
    table = profile_table(_read_config(config_path), chosen, config_path)
    url, url_source = _pick_base_url(base_url, env, table)
    key, key_source = _pick_api_key(api_key_file, env, table, chosen)
    return Settings(
        base_url=normalize_base_url(url, source=url_source),
        api_key=key,
        key_source=key_source,
        config_path=config_path,
        state_dir=_xdg_dir(env, "XDG_STATE_HOME", ".local/state") / "psykhe",
        retries=retries,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        profile=chosen,
        protected=table.protected,
    )


def config_file(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/psykhe/config.toml`` (it may not exist)."""
    env = os.environ if environ is None else environ
    return _xdg_dir(env, "XDG_CONFIG_HOME", ".config") / "psykhe" / "config.toml"


def _seconds_from(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise UsageError(f"{name} must be a number of seconds, not {value!r}") from None
    if not (seconds > 0 and math.isfinite(seconds)):
        raise UsageError(f"{name} must be more than 0 seconds, not {value!r}")
    return seconds


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
        profile_table(_read_config(path), name, path)
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
    )


# --- base URL -------------------------------------------------------------------------------


def _pick_base_url(
    flag: str | None, env: Mapping[str, str], table: ProfileTable
) -> tuple[str, str]:
    if flag is not None:
        return flag, "--base-url"
    if env.get(ENV_BASE_URL):
        return env[ENV_BASE_URL], ENV_BASE_URL
    if table.base_url is not None:
        return table.base_url, f"base_url in {table.where}"
    return DEFAULT_BASE_URL, "the default"


def normalize_base_url(url: str, *, source: str = "--base-url") -> str:
    """Check and normalize a base URL; ``UsageError`` (exit 2) names ``source``, never a password.

    https to any host; plain http only to loopback (127.0.0.0/8, ::1, localhost). No userinfo,
    query or fragment. Scheme and host are lower-cased, a default port and a trailing slash
    removed, so one endpoint has one spelling (the drop guard's memory is keyed on it).
    """
    if any(ch.isspace() for ch in url) or not url.isprintable():
        raise UsageError(f"the base URL from {source} contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UsageError(f"the base URL from {source} is not a valid URL") from None
    if "@" in parts.netloc:
        # say nothing of the URL itself: it carries a password
        raise UsageError(
            f"the base URL from {source} contains credentials (user:password@); "
            "psykhe authenticates with the API key only — remove them"
        )
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        raise UsageError(
            f"the base URL from {source} must look like https://host[:port][/path], not {url!r}"
        )
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise UsageError(f"the base URL from {source} must not have a query or fragment: {url!r}")
    if scheme == "http" and not is_loopback_host(host):
        raise UsageError(
            f"plain http:// is only allowed to this machine (127.0.0.1, ::1, localhost), "
            f"not to {host}: the key would cross the network unencrypted; use https://"
        )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and (scheme, port) not in (("https", 443), ("http", 80)):
        netloc = f"{netloc}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def is_loopback_host(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (also as an IPv4-mapped address)."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


# --- the key --------------------------------------------------------------------------------


def _pick_api_key(
    key_file: Path | str | None,
    env: Mapping[str, str],
    table: ProfileTable,
    profile: str | None,
) -> tuple[Secret, str]:
    if key_file is not None:
        path = Path(key_file)
        source = f"--api-key-file {path}"
        return check_api_key(_read_key_file(path), source=source), source
    if ENV_API_KEY in env:
        return check_api_key(env[ENV_API_KEY], source=ENV_API_KEY), ENV_API_KEY
    stored = keyring_key(profile)
    if stored is not None:
        source = f"the keyring (psykhe login{f' --profile {profile}' if profile else ''})"
        return check_api_key(stored, source=source), source
    if table.api_key is not None:
        source = table.where.removeprefix("the config file ")
        return check_api_key(table.api_key, source=source), source
    if table.api_key_file is not None:
        source = str(table.api_key_file)
        return check_api_key(_read_key_file(table.api_key_file), source=source), source
    where = table.where.removeprefix("the config file ")
    raise MissingKeyError(
        "no API key: set one of "
        f"the {ENV_API_KEY} environment variable, "
        "--api-key-file PATH (a file holding only the key, mode 600), "
        f'api_key = "sk_..." in {where} (mode 600), or the keyring with psykhe login'
        + (f" --profile {profile}" if profile else "")
    )


# --- the keyring ----------------------------------------------------------------------------


def keyring_key(profile: str | None) -> str | None:
    """The key ``psykhe login`` stored for ``profile``; None without keyring or a backend."""
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        return None
    try:
        return keyring.get_password(KEYRING_SERVICE, profile or DEFAULT_PROFILE)
    except KeyringError:  # e.g. a headless server with no keyring service: not an error here
        return None


def store_key(profile: str | None, key: Secret) -> str:
    """Keep ``key`` in the system keyring for ``profile``; returns the keyring's name."""
    keyring, errors = _keyring()
    try:
        keyring.set_password(KEYRING_SERVICE, profile or DEFAULT_PROFILE, key.reveal())
    except errors.KeyringError as exc:
        raise ConfigError(f"the keyring refused the key: {exc}") from None
    return _keyring_name(keyring)


def delete_key(profile: str | None) -> bool:
    """Remove ``profile``'s key from the keyring; False when there was none."""
    keyring, errors = _keyring()
    try:
        keyring.delete_password(KEYRING_SERVICE, profile or DEFAULT_PROFILE)
    except errors.PasswordDeleteError:
        return False
    except errors.KeyringError as exc:
        raise ConfigError(f"the keyring refused to remove the key: {exc}") from None
    return True


def _keyring() -> tuple[Any, Any]:
    try:
        import keyring
        import keyring.errors
    except ImportError:
        raise ConfigError(
            "the keyring is not available: the keyring package is not installed",
            hint="pip install 'psykhe[keyring]' (or: pipx inject psykhe keyring); "
            "on a server without a keyring use PSYKHE_API_KEY or --api-key-file",
        ) from None
    return keyring, keyring.errors


def _keyring_name(keyring: Any) -> str:
    backend = keyring.get_keyring()
    return str(getattr(backend, "name", type(backend).__name__))


def check_api_key(value: str, *, source: str) -> Secret:
    """Refuse an empty, public (``pk_``), whitespace-containing, non-ASCII or non-``sk_`` key."""
    if not value:
        raise ConfigError(f"the API key from {source} is empty")
    if value.startswith("pk_"):
        raise ConfigError(
            f"the API key from {source} is a public key (pk_…), which cannot ingest; "
            "use the private key (sk_…)"
        )
    if any(ch.isspace() for ch in value):
        raise ConfigError(f"the API key from {source} contains whitespace")
    if not (value.isascii() and value.isprintable()):
        raise ConfigError(f"the API key from {source} contains non-ASCII or control characters")
    if not value.startswith("sk_"):
        # the API answers 401 to any other key: say so before a feed is read and spooled
        raise ConfigError(
            f"the API key from {source} does not look like a private key: "
            "private keys start with sk_"
        )
    return Secret(value)


def _read_key_file(path: Path) -> str:
    data = _read_private_file(path, what="API key file")
    # one trailing line ending, as `echo KEY > file` leaves it; anything else is refused
    return data.removesuffix("\n").removesuffix("\r")


# --- files ----------------------------------------------------------------------------------


def _read_private_file(path: Path, *, what: str) -> str:
    """Read a file that holds a secret; refuse it when group or others may read it."""
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if os.name == "posix" and stat.S_ISREG(info.st_mode) and info.st_mode & 0o077:
                raise ConfigError(
                    f"the {what} {path} may be read by other users "
                    f"(mode {stat.S_IMODE(info.st_mode):03o}); fix it with: chmod 600 {path}"
                )
            raw = handle.read(_MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"the {what} {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"the {what} {path} is a directory") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
    if len(raw) > _MAX_FILE_BYTES:
        raise ConfigError(f"the {what} {path} is too large (over 1 MiB) to be one")
    try:
        return raw.decode("utf-8-sig")  # an editor's invisible BOM is not part of the key
    except UnicodeDecodeError:
        raise ConfigError(f"the {what} {path} is not UTF-8 text") from None


def _read_config(path: Path) -> dict[str, Any]:
    """The config file as TOML data; ``{}`` when there is no file."""
    if not path.exists():
        return {}
    text = _read_private_file(path, what="config file")
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


def temp_dir(environ: Mapping[str, str] | None = None) -> str | None:
    """``$TMPDIR`` when set, else None (the system default).

    Python's ``tempfile`` quietly falls back to ``/tmp`` when ``$TMPDIR`` cannot be written;
    a user who pointed it at the disk with room for the spool wants an error instead.
    """
    env = os.environ if environ is None else environ
    return env.get("TMPDIR") or None


def _xdg_dir(env: Mapping[str, str], name: str, fallback: str) -> Path:
    # the XDG spec: a relative path in the variable is invalid and must be ignored
    value = env.get(name, "")
    if value and os.path.isabs(value):
        return Path(value)
    home = env.get("HOME") or os.path.expanduser("~")
    return Path(home) / fallback


#: the variables that choose the CA certificates httpx trusts for an https base URL
ENV_SSL_CERT_FILE = "SSL_CERT_FILE"
ENV_SSL_CERT_DIR = "SSL_CERT_DIR"


@dataclass(frozen=True, kw_only=True)
class NetworkEnvironment:
    """What the environment says about TLS trust and proxies for an https base URL.

    httpx reads these variables itself; they are here so that a failure can name the one
    that caused it.
    """

    ssl_cert_file: str | None = None
    ssl_cert_dir: str | None = None
    #: ``(variable, proxy URL without credentials)`` the base URL goes through, if any
    proxy: tuple[str, str] | None = None


def network_environment(
    base_url: str, environ: Mapping[str, str] | None = None
) -> NetworkEnvironment:
    """The TLS and proxy variables that apply to ``base_url`` (https only: see the client)."""
    env = os.environ if environ is None else environ
    parts = urlsplit(base_url)
    if parts.scheme != "https":
        return NetworkEnvironment()
    return NetworkEnvironment(
        ssl_cert_file=env.get(ENV_SSL_CERT_FILE) or None,
        ssl_cert_dir=env.get(ENV_SSL_CERT_DIR) or None,
        proxy=_proxy_for(parts.hostname or "", env),
    )


def _proxy_for(host: str, env: Mapping[str, str]) -> tuple[str, str] | None:
    # as httpx (through urllib): https_proxy, then all_proxy; lower case first; NO_PROXY wins
    no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
    for entry in (e.strip().lower().lstrip(".") for e in no_proxy.split(",")):
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return None
    for name in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        value = env.get(name, "").strip()
        if value:
            return name, _without_credentials(value)
    return None


def _without_credentials(url: str) -> str:
    """``scheme://host:port`` of a proxy URL: never its user name or password."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")
