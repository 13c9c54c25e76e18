"""Which target a push goes to: one identity however its base URL is spelled.

The drop guard's memory (``full-syncs.json``, the baselines), the per-target sync lock and the
history are keyed by a target. Two spellings of one endpoint must be one target, or a
soft_replace sent to ``http://127.0.0.1:8080/.`` would find no baseline and no lock of
``http://127.0.0.1:8080``. So the base URL is put in one canonical form by its syntax alone,
never by asking DNS (one address may serve many hosts):

- scheme and host lower-cased, a trailing dot dropped from the host (``localhost.``);
- the default port dropped (``:443`` for https, ``:80`` for http);
- an IPv4-mapped IPv6 address written as IPv4 (``[::ffff:127.0.0.1]``), IPv6 compressed,
  and the numeric forms of IPv4 that resolvers accept (``127.1``, ``0x7f.0.0.1``) dotted;
- the path's ``.``, ``..`` and empty segments resolved, a trailing slash dropped, and
  percent-escapes of unreserved characters decoded (``%7E`` is ``~``).

Two host names stay two targets, ``localhost`` and ``127.0.0.1`` included.

Who the target is beyond its URL: under a named profile (``--profile``, ``PSYKHE_PROFILE``),
the profile — a rotated key keeps its memory. Without one, two keys on one base URL may be two
tenants, so the key's fingerprint is part of the identity (never the key itself).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from psykhe_cli.config import Settings

_DEFAULT_PORTS = {"http": 80, "https": 443}
#: what inet_aton reads as IPv4: up to four parts, decimal, octal or hex
_NUMERIC_IPV4 = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def canonical_base_url(url: str) -> str:
    """The one spelling of ``url`` that names its endpoint; an unparsable URL is kept as is."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = canonical_host(parts.hostname or "")
    if not scheme or not host:
        return url
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    return f"{scheme}://{netloc}{canonical_path(parts.path)}"


def canonical_host(host: str) -> str:
    """``host`` lower-cased, without a trailing dot, addresses in their one written form."""
    host = host.strip("[]").lower()
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]
    if ":" in host:
        try:
            address = ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return host
        mapped = address.ipv4_mapped
        return str(mapped) if mapped is not None else address.compressed
    if _NUMERIC_IPV4.fullmatch(host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            return host
    return host


def canonical_path(path: str) -> str:
    """``path`` with ``.``, ``..`` and empty segments resolved and no trailing slash."""
    segments: list[str] = []
    for segment in _ESCAPE.sub(_unescape_unreserved, path).split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    return "".join(f"/{segment}" for segment in segments)


def _unescape_unreserved(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else f"%{match.group(1).upper()}"


@dataclass(frozen=True, kw_only=True)
class Target:
    """Where a push goes: the canonical base URL, and the profile or the key's fingerprint.

    ``base_url`` is made canonical on construction, so a target read back from an older
    history or state file compares equal to today's. Equality is by base URL and key (what a
    history record holds); ``name`` and ``slug`` — the guard's memory and lock — are by
    profile when there is one.
    """

    base_url: str
    key_fingerprint: str
    #: the named profile in use (None: the config file's top-level keys, or none at all)
    profile: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", canonical_base_url(self.base_url))

    @classmethod
    def of(cls, settings: Settings) -> Target:
        """The target ``settings`` point at."""
        return cls(
            base_url=settings.base_url,
            key_fingerprint=settings.key_fingerprint,
            profile=settings.profile,
        )

    @property
    def name(self) -> str:
        """The target's key in ``full-syncs.json``: ``"<base URL> profile:<name>"`` under a
        named profile, else ``"<base URL> key:<fingerprint>"``."""
        if self.profile is not None:
            return f"{self.base_url} profile:{self.profile}"
        return self.key_name

    @property
    def key_name(self) -> str:
        """``"<base URL> key:<fingerprint>"``: the name without a profile (and before profiles
        were targets: what an earlier version's state files hold for a profile's target)."""
        return f"{self.base_url} key:{self.key_fingerprint}"

    @property
    def slug(self) -> str:
        """A short file-name-safe digest of ``name`` (lock and baseline file names)."""
        return hashlib.sha256(self.name.encode()).hexdigest()[:16]

    @property
    def nothing_known(self) -> str:
        """What to say when no full sync to this target is remembered."""
        if self.profile is not None:
            return f"no full sync to {self.base_url} under profile {self.profile} is remembered"
        return (
            f"no earlier full sync to {self.base_url} is known for this key (fingerprint "
            f"{self.key_fingerprint}); under a named profile a new key keeps the profile's memory"
        )


def target_name(base_url: str, key_fingerprint: str, profile: str | None) -> str:
    """The canonical ``Target.name`` of what a state file entry says of its target."""
    return Target(base_url=base_url, key_fingerprint=key_fingerprint, profile=profile).name
