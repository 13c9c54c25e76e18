"""Settings and their single loader: flag > ``PSYKHE_*`` environment > config file.

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

The config file is ``$XDG_CONFIG_HOME/psykhe/config.toml`` (default ``~/.config``), read by
``config_file.py``; local state lives in ``$XDG_STATE_HOME/psykhe`` (default ``~/.local/state``).
Where the key comes from is ``keys.py``'s, and it is held in a ``secret.Secret``. No flag takes
the key's value: a command line is visible to every user of the machine.

This module also says which TLS and proxy variables apply to a base URL
(``network_environment``) and where the spool goes (``temp_dir``).
"""

from __future__ import annotations

import ipaddress
import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from psykhe_cli.config_file import (
    DEFAULT_KEEP_FULL_SYNCS,
    ProfileTable,
    config_file,
    pick_profile,
    profile_table,
    read_config,
    xdg_dir,
)
from psykhe_cli.errors import UsageError
from psykhe_cli.keys import pick_api_key
from psykhe_cli.secret import REDACTED as REDACTED
from psykhe_cli.secret import Secret as Secret
from psykhe_cli.secret import key_fingerprint as key_fingerprint

DEFAULT_BASE_URL = "https://api.psykhe.dev"
DEFAULT_RETRIES = 4
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
DEFAULT_WRITE_TIMEOUT = 60.0

ENV_BASE_URL = "PSYKHE_BASE_URL"
#: seconds to wait for an answer; for slow gateways, and for tests that need a short one
ENV_READ_TIMEOUT = "PSYKHE_READ_TIMEOUT"


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
    #: ``keep_full_syncs``: the completed full syncs whose bodies ``psykhe restore`` can send
    keep_full_syncs: int = DEFAULT_KEEP_FULL_SYNCS
    #: ``max_changed`` and ``baseline_max_age`` in the config file (None: not set)
    max_changed: float | None = None
    baseline_max_age: float | None = None

    @property
    def key_fingerprint(self) -> str:
        """``key_fingerprint(api_key)``: names the key in state files."""
        return key_fingerprint(self.api_key)


def state_dir_of(env: Mapping[str, str]) -> Path:
    """``$XDG_STATE_HOME/psykhe``, where the history and the drop guard's memory are kept."""
    return xdg_dir(env, "XDG_STATE_HOME", ".local/state") / "psykhe"


def load_settings(
    *,
    base_url: str | None = None,
    api_key_file: Path | str | None = None,
    retries: int = DEFAULT_RETRIES,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> Settings:
    """Build ``Settings`` from flag values, the environment and the config file.

    Raises ``UsageError`` (exit 2) for a bad base URL or option value and ``ConfigError``
    (exit 4) for a missing, unsafe or malformed key or config file. What can be passed over
    (a broken keyring) goes to ``on_warning``, by default a ``psykhe: warning:`` line on stderr.
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
    table = profile_table(read_config(config_path), chosen, config_path)
    url, url_source = _pick_base_url(base_url, env, table)
    key, key_source = pick_api_key(api_key_file, env, table, chosen, on_warning or _warn)
    return Settings(
        base_url=normalize_base_url(url, source=url_source),
        api_key=key,
        key_source=key_source,
        config_path=config_path,
        state_dir=state_dir_of(env),
        retries=retries,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        profile=chosen,
        protected=table.protected,
        keep_full_syncs=table.keep_full_syncs,
        max_changed=table.max_changed,
        baseline_max_age=table.baseline_max_age,
    )


def _warn(text: str) -> None:
    sys.stderr.write(f"psykhe: warning: {text}\n")


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


def temp_dir(environ: Mapping[str, str] | None = None) -> str | None:
    """``$TMPDIR`` when set, else None (the system default).

    Python's ``tempfile`` quietly falls back to ``/tmp`` when ``$TMPDIR`` cannot be written;
    a user who pointed it at the disk with room for the spool wants an error instead.
    """
    env = os.environ if environ is None else environ
    return env.get("TMPDIR") or None


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
