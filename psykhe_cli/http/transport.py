"""The ``httpx.Client`` psykhe talks through: no redirects, its timeouts, TLS trust checked.

A bad ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` is a ``ConfigError`` (4) naming it, raised when the
client is made, not at the first request.
"""

from __future__ import annotations

import os
import ssl

import httpx

from psykhe_cli import __version__
from psykhe_cli.config import (
    ENV_SSL_CERT_DIR,
    ENV_SSL_CERT_FILE,
    NetworkEnvironment,
    Settings,
    network_environment,
)
from psykhe_cli.errors import ConfigError
from psykhe_cli.printable import clipped as printable

USER_AGENT = f"psykhe/{__version__}"
#: how much of a server's or the OS's text a message quotes
MESSAGE_LIMIT = 300


def make_http_client(
    settings: Settings, *, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """The ``httpx.Client`` for ``settings``: no redirects, psykhe's timeouts and User-Agent.

    Proxy variables are honoured for https only (the key then travels inside the TLS tunnel);
    a plain-http base URL is loopback, where a proxy would only see the key in clear text.
    Connections are not kept alive between requests: each request's own connection is the
    one its deadline can shut (``exchange.Watchdog``), and requests are seconds apart anyway.
    """
    timeout = httpx.Timeout(
        connect=settings.connect_timeout,
        read=settings.read_timeout,
        write=settings.write_timeout,
        pool=settings.connect_timeout,
    )
    https = settings.base_url.startswith("https://")
    if https:
        _check_trust_variables(network_environment(settings.base_url))
    try:
        return httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            trust_env=https,
            headers={"User-Agent": USER_AGENT},
            transport=transport,
            verify=True if https else _trusting_nothing(),
            limits=httpx.Limits(max_keepalive_connections=0),
        )
    except ImportError as exc:  # e.g. ALL_PROXY=socks5://… without socksio installed
        raise ConfigError(f"cannot use the proxy from the environment: {exc}") from None
    except OSError as exc:  # ssl.SSLError too: SSL_CERT_FILE is not a certificate bundle
        raise _bad_trust_variable(network_environment(settings.base_url), exc) from None


def _trusting_nothing() -> ssl.SSLContext:
    """The TLS context of a client for a plain-http (loopback) base URL, which never opens
    TLS: redirects are not followed, and nothing else is contacted. It trusts no
    certificate, so it could only refuse a server; loading the CA bundle instead cost
    ~0.1 s of CPU while the workers check the feed."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _check_trust_variables(env: NetworkEnvironment) -> None:
    """httpx reads SSL_CERT_DIR only when the TLS handshake needs it: check it now."""
    cert_dir = env.ssl_cert_dir if env.ssl_cert_file is None else None
    if cert_dir is not None and not os.path.isdir(cert_dir):
        raise ConfigError(
            f"{ENV_SSL_CERT_DIR}={printable(cert_dir, 200)} is not a directory",
            hint=f"point {ENV_SSL_CERT_DIR} at a directory of CA certificates, or unset it",
        )


def _bad_trust_variable(env: NetworkEnvironment, exc: OSError) -> ConfigError:
    if env.ssl_cert_file is None:
        return ConfigError(f"cannot set up TLS: {printable(str(exc), MESSAGE_LIMIT)}")
    if isinstance(exc, IsADirectoryError):
        why = "is a directory"
    elif isinstance(exc, ssl.SSLError):
        why = f"holds no usable certificate ({printable(exc.reason or str(exc), 120)})"
    else:
        why = f"cannot be read ({printable(exc.strerror or str(exc), 120)})"
    return ConfigError(
        f"{ENV_SSL_CERT_FILE}={printable(env.ssl_cert_file, 200)} {why}",
        hint=f"point {ENV_SSL_CERT_FILE} at a PEM file of CA certificates, or unset it",
    )
