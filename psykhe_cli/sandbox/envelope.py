"""The ``{errors, meta, data}`` envelope of every sandbox response, and other answer bodies."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from starlette.responses import Response

JSON = "application/json"


def reason(status: int) -> str:
    """The reason phrase of an HTTP status."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def success(data: Any, meta: Any = None) -> dict[str, Any]:
    """A success envelope."""
    return {"errors": None, "meta": meta, "data": data}


def error(code: str, message: str, context: Any = None) -> dict[str, Any]:
    """A failure envelope with one error."""
    entry = {"code": code, "message": message, "context": context, "extra": None}
    return {"errors": [entry], "meta": None, "data": None}


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    """``body`` as JSON with ``status``."""
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type=JSON)


def error_response(
    status: int,
    code: str,
    message: str,
    context: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A failure envelope with ``status``."""
    return json_response(status, error(code, message, context), headers)


def html_response(status: int, headers: Mapping[str, str] | None = None) -> Response:
    """An HTML error page, as a proxy or load balancer sends it."""
    title = f"{status} {reason(status)}"
    page = f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center>"
    page += "<hr><center>nginx</center></body></html>\n"
    return Response(page, status_code=status, headers=headers, media_type="text/html")
