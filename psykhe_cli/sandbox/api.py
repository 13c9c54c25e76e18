"""The two vendor endpoints: ``POST /v1/ingestion/`` and ``GET /v1/ingestion/{id}``.

Each request first takes its fault plan (``faults.py``), then runs the contract: key, mode
header, encoding, the body streamed into a spool, the ingestion recorded, the answer.
Rejections that depend on the headers alone still read the body to its end before answering,
so a client always gets to read the answer; the ``early`` faults answer without reading.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from psykhe_cli.sandbox import envelope
from psykhe_cli.sandbox.body import BodyOutcome, UploadSpool
from psykhe_cli.sandbox.faults import Fault, FaultPlan, status_code_name
from psykhe_cli.sandbox.requestlog import RequestRecord, current_record

if TYPE_CHECKING:
    from psykhe_cli.sandbox.state import SandboxState

MODES = ("insert", "soft_replace")
KEY_HEADER = "x-psykhe-api-key"
MODE_HEADER = "x-psykhe-processing-mode"


class BodyCutShort(Exception):
    """Raised when the connection closes before the body's end."""


class DroppedConnection(Response):
    """What an endpoint returns once the connection is gone: nothing is sent."""

    def __init__(self) -> None:
        super().__init__()  # never sent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # wait for the server to notice, so it does not try to answer on a dead connection
        while (await receive())["type"] != "http.disconnect":
            pass


class BodyReader:
    """The request body as chunks, counted into the request record, optionally throttled."""

    def __init__(self, request: Request, record: RequestRecord, slow_read: Fault | None) -> None:
        self._receive = request.receive
        self._record = record
        self._rate = float(slow_read.get("bytes_per_second")) if slow_read else None
        self.ended = False

    async def chunks(self) -> AsyncIterator[bytes]:
        """Each chunk as it arrives; BodyCutShort if the client goes away first."""
        while not self.ended:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise BodyCutShort
            chunk: bytes = message.get("body", b"")
            self.ended = not message.get("more_body", False)
            if chunk:
                self._record.body_bytes += len(chunk)
                if self._rate:
                    await asyncio.sleep(len(chunk) / self._rate)
                yield chunk

    async def drain(self) -> None:
        """Read and hash the whole body without keeping it."""
        sha1 = hashlib.sha1()
        async for chunk in self.chunks():
            sha1.update(chunk)
        self._record.complete = True
        self._record.sha1 = sha1.hexdigest()


# -- answers ---------------------------------------------------------------------------------


def _answer(record: RequestRecord, response: Response, code: str | None = None) -> Response:
    record.error_code = code
    return response


def _error(
    record: RequestRecord, status: int, code: str, message: str, context: Any = None
) -> Response:
    return _answer(record, envelope.error_response(status, code, message, context), code)


def _fault_response(rule: Fault, record: RequestRecord, data: Any = None) -> Response:
    """The answer a ``respond`` or ``redirect`` rule asks for (``data``: a 2xx's payload)."""
    status = int(rule.get("status"))
    headers: dict[str, str] = {}
    if rule.kind == "redirect":
        headers["location"] = str(rule.get("location"))
        message = f"moved to {rule.get('location')}"
        return _answer(
            record,
            envelope.error_response(status, "redirect", message, headers=headers),
            "redirect",
        )
    if rule.get("retry_after") is not None:
        headers["retry-after"] = str(rule.get("retry_after"))
    style = rule.get("body")
    code = None if status < 300 else (rule.get("code") or status_code_name(status))
    if style == "html":
        return _answer(record, envelope.html_response(status, headers), code)
    if style == "empty":
        return _answer(record, Response(b"", status_code=status, headers=headers), code)
    if status < 300 and style == "no_id":  # a well-formed success that names no ingestion
        return envelope.json_response(status, envelope.success({}), headers)
    if status < 300 and isinstance(data, dict) and rule.get("ingestion_status") is not None:
        data = {**data, "status": int(rule.get("ingestion_status"))}
    if status < 300:
        bare = style == "bare" and isinstance(data, dict) and "ingestion_id" in data
        body = data if bare else envelope.success(data)
        return envelope.json_response(status, body, headers)
    message = rule.get("message") or envelope.reason(status)
    response = envelope.error_response(status, code or "", message, rule.get("context"), headers)
    return _answer(record, response, code)


def _is_error_answer(rule: Fault | None) -> bool:
    return rule is not None and (
        rule.kind == "redirect" or (rule.kind == "respond" and int(rule.get("status")) >= 300)
    )


async def _drop(
    sandbox: SandboxState, request: Request, reader: BodyReader | None, after_bytes: int | None
) -> Response:
    """Read ``after_bytes`` of the body (None: all of it), then reset the connection."""
    try:
        if reader is not None and after_bytes is None:
            await reader.drain()
        elif reader is not None and after_bytes:
            async for _ in reader.chunks():
                if current_record().body_bytes >= after_bytes:
                    break
    except BodyCutShort:
        return DroppedConnection()
    sandbox.connections.abort(request.scope.get("client"))
    return DroppedConnection()


# -- the endpoints ---------------------------------------------------------------------------


def _client_id(sandbox: SandboxState, request: Request) -> str | None:
    key = request.headers.get(KEY_HEADER)
    return None if key is None or not key.startswith("sk_") else sandbox.keys.get(key)


async def _before(plan: FaultPlan, name: str) -> None:
    if plan.delay is not None and plan.delay.get(name):
        await asyncio.sleep(float(plan.delay.get(name)))


async def create_ingestion(request: Request) -> Response:
    """``POST /v1/ingestion/``."""
    sandbox: SandboxState = request.app.state.sandbox
    record = current_record()
    plan = sandbox.faults.plan("create")
    record.faults = plan.names
    answer = plan.answer
    if answer is not None and answer.get("early"):
        await _before(plan, "before_answer")
        return _fault_response(answer, record)
    await _before(plan, "before_body")
    reader = BodyReader(request, record, plan.slow_read)
    try:
        response = await _create(sandbox, request, record, reader, answer)
    except asyncio.CancelledError:
        # The server is stopping and the grace period is over: cut the upload as a dying
        # server would (uvicorn would otherwise answer a plain-text 500). Nothing was created.
        sandbox.connections.abort(request.scope.get("client"))
        return DroppedConnection()
    if not isinstance(response, DroppedConnection):
        await _before(plan, "before_answer")
    return response


async def _create(
    sandbox: SandboxState,
    request: Request,
    record: RequestRecord,
    reader: BodyReader,
    answer: Fault | None,
) -> Response:
    if answer is not None and answer.kind == "drop" and not _accepts(answer):
        return await _drop(sandbox, request, reader, answer.get("after_bytes"))
    record.client_id = client_id = _client_id(sandbox, request)
    rejection = _header_rejection(request, client_id)
    if rejection is not None or _is_error_answer(answer):
        try:
            await reader.drain()
        except BodyCutShort:
            return DroppedConnection()
        if answer is not None:  # the injected answer stands for a gateway in front
            return _fault_response(answer, record)
        assert rejection is not None
        return _error(record, *rejection)
    assert client_id is not None
    record.mode = request.headers.get(MODE_HEADER, "insert")
    try:
        status, body = await _accept(sandbox, request, record, reader, client_id)
    except BodyCutShort:
        return DroppedConnection()
    if answer is not None and answer.kind == "drop":
        return await _drop(sandbox, request, None, 0)
    if answer is not None and status == 202:
        return _fault_response(answer, record, body["data"])
    code = body["errors"][0]["code"] if body["errors"] else None
    return _answer(record, envelope.json_response(status, body), code)


def _accepts(rule: Fault) -> bool:
    """A ``drop`` rule that records the ingestion before dropping the connection."""
    return rule.get("after_bytes") is None and bool(rule.get("accept"))


def _header_rejection(request: Request, client_id: str | None) -> tuple[int, str, str] | None:
    """(status, code, message) when the headers alone decide the answer."""
    if client_id is None:
        return 401, "unauthorized", "missing or invalid X-PSYKHE-API-KEY"
    mode = request.headers.get(MODE_HEADER, "insert")
    if mode not in MODES:
        return (
            400,
            "validation_error",
            f"X-PSYKHE-PROCESSING-MODE must be one of {', '.join(MODES)}",
        )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("gzip", "identity", ""):
        return 400, "validation_error", f"unsupported Content-Encoding {encoding!r} (use gzip)"
    return None


async def _accept(
    sandbox: SandboxState,
    request: Request,
    record: RequestRecord,
    reader: BodyReader,
    client_id: str,
) -> tuple[int, dict[str, Any]]:
    """Stream the body into a spool and record the ingestion: (HTTP status, envelope)."""
    gzip = request.headers.get("content-encoding", "").strip().lower() == "gzip"
    path = sandbox.store.spool_dir / f"upload-{uuid.uuid4().hex}.ndjson"
    spool = UploadSpool(path, gzip=gzip, max_bytes=sandbox.settings.max_body_bytes)
    try:
        async for chunk in reader.chunks():
            spool.feed(chunk)
    except BaseException:
        spool.discard()
        raise
    outcome = spool.finish()
    record.complete = outcome is not BodyOutcome.TRUNCATED_GZIP
    record.sha1 = spool.sha1 if record.complete else None
    if outcome is not BodyOutcome.OK:
        spool.discard()
    if outcome in (BodyOutcome.BAD_GZIP, BodyOutcome.TRUNCATED_GZIP):
        what = (
            "is not readable gzip"
            if outcome is BodyOutcome.BAD_GZIP
            else "ends inside the gzip stream (truncated)"
        )
        return 400, envelope.error("validation_error", f"the request body {what}")
    rejected = _REJECTIONS.get(outcome)
    ingestion_id = await asyncio.to_thread(
        sandbox.store.create_ingestion,
        client_id=client_id,
        mode=str(record.mode),
        file_identifier=spool.sha1,
        body_bytes=spool.raw_bytes,
        spool_path=None if rejected else path,
        forced_outcome=None if rejected else sandbox.faults.take_outcome(),
        rejected=rejected[1:] if rejected else None,
    )
    record.ingestion_id = ingestion_id
    if rejected:
        status, code, message = rejected
        return status, envelope.error(code, message, {"ingestion_id": ingestion_id})
    sandbox.worker.submit(ingestion_id)
    return 202, envelope.success({"ingestion_id": ingestion_id})


_REJECTIONS: dict[BodyOutcome, tuple[int, str, str]] = {
    BodyOutcome.EMPTY: (400, "payload_empty", "Payload is empty"),
    BodyOutcome.TOO_LARGE: (413, "payload_too_large", "Payload is too large"),
}


#: ingestion ids are SQLite integers, below 2**63
_ID_LIMIT = 1 << 63


async def get_ingestion(request: Request) -> Response:
    """``GET /v1/ingestion/{id}``."""
    sandbox: SandboxState = request.app.state.sandbox
    record = current_record()
    # psykhe's key check asks for ingestion 0: it meets the rules made for it (or for any
    # request), so a rule for the status of an ingestion stays for the polls it was meant for
    check = str(request.path_params["ingestion_id"]) == "0"
    plan = sandbox.faults.plan("key_check" if check else "status")
    record.faults = plan.names
    await _before(plan, "before_body")
    answer = plan.answer
    if answer is not None and answer.kind == "drop":
        return await _drop(sandbox, request, None, 0)
    response = await _status(sandbox, request, record, answer)
    await _before(plan, "before_answer")
    return response


async def _status(
    sandbox: SandboxState, request: Request, record: RequestRecord, answer: Fault | None
) -> Response:
    if _is_error_answer(answer):
        assert answer is not None
        return _fault_response(answer, record)
    record.client_id = client_id = _client_id(sandbox, request)
    if client_id is None:
        return _error(record, 401, "unauthorized", "missing or invalid X-PSYKHE-API-KEY")
    ingestion_id = int(request.path_params["ingestion_id"])
    record.ingestion_id = ingestion_id
    data = None
    if 0 < ingestion_id < _ID_LIMIT:  # ids past SQLite's integers cannot exist
        data = await asyncio.to_thread(sandbox.store.get_ingestion, ingestion_id, client_id)
    if data is None:
        return _error(record, 404, "not_found", f"ingestion {ingestion_id} not found")
    if answer is not None:
        return _fault_response(answer, record, data)
    return envelope.json_response(200, envelope.success(data))
