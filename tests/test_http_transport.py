"""The ``httpx.Client`` psykhe talks through: no redirects, its timeouts, TLS set up once."""

from __future__ import annotations

import ssl

import httpx
import pytest

from psykhe_cli import __version__
from psykhe_cli.client import make_http_client
from tests.helpers import client_settings

KEY = "sk_test_RECOGNISABLE_key_0123456789"


def test_make_http_client_never_follows_redirects_and_sets_timeouts() -> None:
    with make_http_client(client_settings("https://api.example.test", KEY)) as http:
        assert http.follow_redirects is False
        assert http.timeout == httpx.Timeout(connect=3.0, read=7.0, write=60.0, pool=3.0)
        assert http.headers["User-Agent"] == f"psykhe/{__version__}"
        assert "X-PSYKHE-API-KEY" not in http.headers
        assert http.trust_env is True


def test_make_http_client_ignores_proxies_for_loopback_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    with make_http_client(client_settings("http://127.0.0.1:8080", KEY)) as http:
        assert http.trust_env is False


def _tls_context(http: httpx.Client) -> ssl.SSLContext:
    context = http._transport._pool._ssl_context  # type: ignore[attr-defined]
    assert isinstance(context, ssl.SSLContext)
    return context


def test_only_an_https_client_loads_certificates_and_both_verify() -> None:
    with make_http_client(client_settings("https://api.example.test", KEY)) as http:
        secure = _tls_context(http)
        assert secure.cert_store_stats()["x509_ca"] > 0
    with make_http_client(client_settings("http://127.0.0.1:8080", KEY)) as http:
        unused = _tls_context(http)  # never used: it trusts no certificate at all
        assert unused.cert_store_stats()["x509_ca"] == 0
    for context in (secure, unused):
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
