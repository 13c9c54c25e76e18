"""SandboxHandle: a small client for a running sandbox's ``/_sandbox`` routes.

For tests and scripts, so nobody hand-writes inspection URLs::

    handle = SandboxHandle("http://127.0.0.1:8787", api_key="sk_…")
    handle.set_faults(respond={"status": 503, "retry_after": 1})
    ...
    assert [r["status"] for r in handle.requests()] == [503, 202]
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

TERMINAL_STATUSES = (4, 5)


@dataclass(frozen=True)
class SandboxHandle:
    """Where a sandbox listens and how to call it, plus its inspection routes."""

    base_url: str
    api_key: str
    client_id: str = "sandbox"
    timeout: float = 10.0

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        # plain HTTP on loopback: no CA bundle to load, no proxy from the environment
        with httpx.Client(verify=False, trust_env=False, timeout=self.timeout) as client:
            response = client.request(method, self.base_url + path, **kwargs)
        body = response.json()
        if response.status_code != 200:
            raise RuntimeError(f"{method} {path}: {response.status_code} {body}")
        return body["data"]

    @property
    def ingestion_url(self) -> str:
        """URL of ``POST /v1/ingestion/``."""
        return f"{self.base_url}/v1/ingestion/"

    def status_url(self, ingestion_id: int) -> str:
        """URL of ``GET /v1/ingestion/{id}``."""
        return f"{self.base_url}/v1/ingestion/{ingestion_id}"

    def headers(self, mode: str | None = None, *, gzip: bool = False) -> dict[str, str]:
        """Request headers with this sandbox's key (and a mode / gzip encoding if given)."""
        headers = {"X-PSYKHE-API-KEY": self.api_key, "Content-Type": "application/x-ndjson"}
        if mode is not None:
            headers["X-PSYKHE-PROCESSING-MODE"] = mode
        if gzip:
            headers["Content-Encoding"] = "gzip"
        return headers

    def env(self) -> dict[str, str]:
        """``PSYKHE_BASE_URL`` and ``PSYKHE_API_KEY`` for a client process."""
        return {"PSYKHE_BASE_URL": self.base_url, "PSYKHE_API_KEY": self.api_key}

    def reset(self) -> None:
        """Forget ingestions, products, the request log and every fault."""
        self._call("POST", "/_sandbox/reset")

    def set_faults(self, **faults: Any) -> list[dict[str, Any]]:
        """Add fault rules (``POST /_sandbox/faults``); returns the active rules."""
        result: list[dict[str, Any]] = self._call("POST", "/_sandbox/faults", json=faults)
        return result

    def faults(self) -> list[dict[str, Any]]:
        """The fault rules still active."""
        result: list[dict[str, Any]] = self._call("GET", "/_sandbox/faults")
        return result

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self._call("DELETE", "/_sandbox/faults")

    def requests(self) -> list[dict[str, Any]]:
        """The request log (API requests only), oldest first."""
        result: list[dict[str, Any]] = self._call("GET", "/_sandbox/ingestions")["requests"]
        return result

    def ingestions(self) -> list[dict[str, Any]]:
        """Every ingestion recorded, with the sandbox-only ``error`` details."""
        result: list[dict[str, Any]] = self._call("GET", "/_sandbox/ingestions")["ingestions"]
        return result

    def ingestion(self, ingestion_id: int) -> dict[str, Any]:
        """One ingestion as ``ingestions()`` shows it (KeyError if unknown)."""
        for entry in self.ingestions():
            if entry["id"] == ingestion_id:
                return entry
        raise KeyError(ingestion_id)

    def products(
        self, active: bool | None = None, client_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The catalog, every client's unless ``client_id`` is given."""
        params: dict[str, str] = {"limit": "1000000"}
        if active is not None:
            params["active"] = "true" if active else "false"
        if client_id is not None:
            params["client_id"] = client_id
        result: list[dict[str, Any]] = self._call("GET", "/_sandbox/products", params=params)
        return result

    def wait_for(self, ingestion_id: int, timeout: float = 10.0) -> dict[str, Any]:
        """The ingestion once COMPLETED or FAILED (TimeoutError past ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            entry = self.ingestion(ingestion_id)
            if entry["status"] in TERMINAL_STATUSES:
                return entry
            if time.monotonic() > deadline:
                raise TimeoutError(f"ingestion {ingestion_id} still has status {entry['status']}")
            time.sleep(0.02)
