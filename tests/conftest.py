"""Shared fixtures: a real sandbox over HTTP on 127.0.0.1, for every test that needs a server.

Fixtures (stable; other test modules rely on these names):

``sandbox_server`` (session)
    One ``SandboxServer`` per test process (so per xdist worker) on an ephemeral loopback
    port, ``processing_delay=0.05``, key ``SANDBOX_KEY`` for client ``SANDBOX_CLIENT``.
``sandbox`` (function)
    A ``SandboxHandle`` on that server, reset (state, request log, faults) before the test:
    ``.base_url``, ``.api_key``, ``.client_id``, ``.ingestion_url``, ``.status_url(id)``,
    ``.headers(mode=None, gzip=False)``, ``.env()``, ``.set_faults(**rules)``,
    ``.faults()``, ``.clear_faults()``, ``.requests()``, ``.ingestions()``,
    ``.ingestion(id)``, ``.products(active=None, client_id=None)``, ``.wait_for(id)``,
    ``.reset()``. See ``psykhe_cli/sandbox/inspect.py`` and ``docs/sandbox.md``.
``home``, ``env`` (function)
    An empty home under ``tmp_path``, and the environment of a psykhe process in it
    (``tests.helpers.isolated_env``) pointed at ``sandbox``.
``sandbox_factory`` (function)
    ``sandbox_factory(**settings) -> SandboxHandle`` starts one more server with its own
    ``SandboxSettings`` fields (``max_body_mb=0.001``, ``db_path=tmp_path / "s.db"``,
    ``keys={...}``, ``faults=({...},)``; defaults as above), stopped at teardown.
    To restart one (same ``db_path``): ``sandbox_factory.stop(handle)``, then call it again.

Tests marked ``@pytest.mark.slow`` run only when ``PSYKHE_RUN_SLOW=1`` (CI sets it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from psykhe_cli.sandbox.inspect import SandboxHandle

# in-process settings never read the machine's own keyring (keyring reads this when first used)
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
# a thread started while validation workers may still be forked is an error in every test
# (psykhe_cli.threads); tests.helpers.isolated_env passes it on to the psykhe processes run
os.environ["PSYKHE_STRICT_THREADS"] = "1"

SANDBOX_KEY = "sk_test_sandbox_key_0123456789"
SANDBOX_CLIENT = "test-client"
SANDBOX_DELAY = 0.05


def pytest_configure(config: pytest.Config) -> None:
    # pytest-benchmark, when installed, warns that xdist disables it; warnings are errors
    # here, so `pytest -n 2` would stop at start-up. Disable it quietly under xdist instead.
    under_xdist = config.getoption("dist", "no") != "no" or "PYTEST_XDIST_WORKER" in os.environ
    if under_xdist and hasattr(config.option, "benchmark_disable"):
        config.option.benchmark_disable = True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("PSYKHE_RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow; set PSYKHE_RUN_SLOW=1 to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def _settings(**options: Any) -> Any:
    from psykhe_cli.sandbox.settings import SandboxSettings

    options.setdefault("port", 0)
    options.setdefault("host", "127.0.0.1")
    options.setdefault("keys", {SANDBOX_KEY: SANDBOX_CLIENT})
    options.setdefault("processing_delay", SANDBOX_DELAY)
    options.setdefault("access_log", False)
    return SandboxSettings(**options)


def _handle(server: Any) -> SandboxHandle:
    return SandboxHandle(server.base_url, api_key=server.api_key, client_id=server.client_id)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Any]:
    """The session's sandbox server (a ``psykhe_cli.sandbox.server.SandboxServer``)."""
    from psykhe_cli.sandbox.server import SandboxServer

    server = SandboxServer(_settings())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty home for one psykhe process: config, state and TMPDIR beneath it."""
    return tmp_path / "home"


@pytest.fixture
def env(home: Path, sandbox: SandboxHandle) -> dict[str, str]:
    """The environment of a psykhe process pointed at the test's sandbox, in ``home``."""
    from tests.helpers import isolated_env

    return isolated_env(home, sandbox.env())


@pytest.fixture
def sandbox(sandbox_server: Any) -> SandboxHandle:
    """A handle on the session's sandbox, reset for this test."""
    handle = _handle(sandbox_server)
    handle.reset()
    return handle


class SandboxFactory:
    """Starts extra sandboxes for one test; all are stopped at teardown."""

    def __init__(self) -> None:
        self._servers: dict[str, Any] = {}

    def __call__(self, **options: Any) -> SandboxHandle:
        """A new running sandbox with ``SandboxSettings(**options)`` (test defaults)."""
        from psykhe_cli.sandbox.server import SandboxServer

        server = SandboxServer(_settings(**options))
        server.start()
        self._servers[server.base_url] = server
        return _handle(server)

    def stop(self, handle: SandboxHandle) -> None:
        """Stop the sandbox behind ``handle`` now (e.g. to restart on the same ``db_path``)."""
        self._servers.pop(handle.base_url).stop()

    def stop_all(self) -> None:
        """Stop every sandbox still running."""
        for server in self._servers.values():
            server.stop()
        self._servers.clear()


@pytest.fixture
def sandbox_factory() -> Iterator[SandboxFactory]:
    """``sandbox_factory(**settings)`` → a handle on a fresh sandbox, stopped at teardown."""
    factory = SandboxFactory()
    yield factory
    factory.stop_all()
