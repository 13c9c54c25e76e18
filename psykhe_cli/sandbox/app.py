"""One sandbox: its state (``state.py``) and the starlette app serving it.

Routes — the vendor's two, and the sandbox-only inspection routes under ``/_sandbox/``
(no key needed: the sandbox is a loopback tool; the vendor API has none of these)::

    POST /v1/ingestion/                    create an ingestion            (api.py)
    GET  /v1/ingestion/{id}                its status                     (api.py)
    GET  /_sandbox/health                  {"status": "ok"} once serving
    GET  /_sandbox/products?active=&client_id=&limit=&offset=   the catalog
    GET  /_sandbox/ingestions              {"requests": [...], "ingestions": [...]}
    POST /_sandbox/reset                   forget everything, faults included
    GET|POST|DELETE /_sandbox/faults       list / add / clear fault rules (faults.py)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from psykhe_cli.sandbox import api, envelope
from psykhe_cli.sandbox.faults import FaultError, parse_faults
from psykhe_cli.sandbox.requestlog import (
    redact,
    redact_headers,
    reset_current,
    set_current,
)
from psykhe_cli.sandbox.settings import SandboxSettings
from psykhe_cli.sandbox.state import SandboxState

log = logging.getLogger("psykhe.sandbox")


class Sandbox(SandboxState):
    """One sandbox: its state and the ASGI app serving it; ``close()`` when done."""

    def __init__(self, settings: SandboxSettings) -> None:
        super().__init__(settings)
        self.app = _build_app(self)


# -- /_sandbox routes ------------------------------------------------------------------------


def _sandbox_of(request: Request) -> SandboxState:
    sandbox: SandboxState = request.app.state.sandbox
    return sandbox


def _flag(value: str | None, name: str) -> bool | None:
    if value is None or value == "":
        return None
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise ValueError(f"{name} must be true or false")


def _int(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    if not value.isdigit():
        raise ValueError(f"{name} must be a non-negative integer")
    return int(value)


async def health(request: Request) -> Response:
    """``GET /_sandbox/health``."""
    return envelope.json_response(200, envelope.success({"status": "ok"}))


async def products(request: Request) -> Response:
    """``GET /_sandbox/products``: one page of the catalog, every client's by default."""
    params = request.query_params
    try:
        active = _flag(params.get("active"), "active")
        limit = _int(params.get("limit"), "limit", 10_000)
        offset = _int(params.get("offset"), "offset", 0)
    except ValueError as exc:
        return envelope.error_response(400, "validation_error", str(exc))
    total, page = await asyncio.to_thread(
        _sandbox_of(request).store.products,
        active=active,
        client_id=params.get("client_id"),
        limit=limit,
        offset=offset,
    )
    meta = {"total": total, "limit": limit, "offset": offset}
    return envelope.json_response(200, envelope.success(page, meta))


async def ingestions(request: Request) -> Response:
    """``GET /_sandbox/ingestions``: the request log and every ingestion."""
    sandbox = _sandbox_of(request)
    recorded = await asyncio.to_thread(sandbox.store.list_ingestions)
    data = {"requests": sandbox.log.to_json(), "ingestions": recorded}
    return envelope.json_response(200, envelope.success(data))


async def reset(request: Request) -> Response:
    """``POST /_sandbox/reset``."""
    await _sandbox_of(request).reset()
    return envelope.json_response(200, envelope.success({"reset": True}))


async def faults(request: Request) -> Response:
    """``GET|POST|DELETE /_sandbox/faults``: the rules still active afterwards."""
    book = _sandbox_of(request).faults
    if request.method == "DELETE":
        book.clear()
    elif request.method == "POST":
        try:
            book.add(parse_faults(orjson.loads(await request.body())))
        except (orjson.JSONDecodeError, FaultError) as exc:
            return envelope.error_response(400, "validation_error", f"faults: {exc}")
    return envelope.json_response(200, envelope.success(book.to_json()))


# -- assembly --------------------------------------------------------------------------------


class RequestLogMiddleware:
    """Logs every API request (not ``/_sandbox/``) in the request log and one access line."""

    def __init__(self, app: ASGIApp, sandbox: SandboxState) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        status: list[int] = []

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                if record is not None:
                    record.status = message["status"]
            await send(message)

        record = None
        if not path.startswith("/_sandbox/"):
            headers = redact_headers(scope["headers"])
            query = scope["query_string"].decode("latin-1")
            record = self.sandbox.log.open(scope["method"], path, query, headers)
            record.complete = "content-length" not in headers and "transfer-encoding" not in headers
        token = set_current(record)
        try:
            await self.app(scope, receive, send_and_note)
        except Exception:
            if not status and record is not None:
                record.status = 500
            raise
        finally:
            reset_current(token)
            if record is not None:
                record.ended = True
            if self.sandbox.settings.access_log:
                shown = status[0] if status else "-"
                log.info('%s "%s %s" %s', _peer(scope), scope["method"], redact(path), shown)


def _peer(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    code = codes.get(exc.status_code, f"http_{exc.status_code}")
    return envelope.error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    return envelope.error_response(500, "internal_error", "internal error in the sandbox")


def _build_app(sandbox: SandboxState) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sandbox.worker.start()
        try:
            yield
        finally:
            await sandbox.worker.stop()

    routes = [
        Route("/v1/ingestion/", api.create_ingestion, methods=["POST"]),
        Route("/v1/ingestion/{ingestion_id:int}", api.get_ingestion, methods=["GET"]),
        Route("/_sandbox/health", health, methods=["GET"]),
        Route("/_sandbox/products", products, methods=["GET"]),
        Route("/_sandbox/ingestions", ingestions, methods=["GET"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/faults", faults, methods=["GET", "POST", "DELETE"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestLogMiddleware, sandbox=sandbox)],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # an unknown path is a 404, as the vendor's would be
    app.state.sandbox = sandbox
    return app
