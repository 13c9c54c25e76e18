"""The API's envelope (``{"data": …, "errors": […], "meta": …}``) and the refusal table.

``ApiError`` reads ``errors[0]`` of any answer without ever raising; ``Refusals`` turns the
answers that end a request at once into their exception — 3xx (never followed), 401/403,
413 and every other 4xx but 429 — and ``retry_later`` the ones to wait out (429, 503, 5xx
for a status request) into a ``Retry`` honouring ``Retry-After``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from psykhe_cli.config import Secret
from psykhe_cli.errors import AuthError, PayloadTooLarge, RejectedError
from psykhe_cli.http.exchange import Answer
from psykhe_cli.http.retry import Retry, parse_retry_after
from psykhe_cli.http.transport import MESSAGE_LIMIT
from psykhe_cli.ingestion import as_int
from psykhe_cli.printable import clipped as printable

#: what to do when the server rejects the key
KEY_HINT = "check the key: ingestion needs the private key (sk_…) of this tenant"


@dataclass(frozen=True)
class ApiError:
    """``errors[0]`` of an error envelope, or a description of a body that is not one."""

    code: str | None
    message: str | None
    ingestion_id: int | None
    #: set when the body was not an error envelope: what it was instead
    not_json: str | None

    @classmethod
    def parse(cls, response: Answer, key: Secret) -> ApiError:
        """Read the envelope; never raises, whatever the body is."""
        doc = response.document
        errors = doc.get("errors") if isinstance(doc, dict) else None
        first = errors[0] if isinstance(errors, list) and errors else None
        if not isinstance(first, dict):
            kind = response.headers.get("Content-Type", "no Content-Type").split(";")[0]
            what = (
                "an empty body"
                if not response.content
                else f"{response.size_text} of {printable(kind, 60)}"
            )
            return cls(None, None, None, f"not a JSON error: {what}")
        context = first.get("context")
        code, message = first.get("code"), first.get("message")
        return cls(
            code=printable(key.scrub(code), 80) if isinstance(code, str) else None,
            message=printable(key.scrub(message), MESSAGE_LIMIT)
            if isinstance(message, str)
            else None,
            ingestion_id=as_int(context.get("ingestion_id")) if isinstance(context, dict) else None,
            not_json=None,
        )

    def suffix(self) -> str:
        """``": code: message (ingestion N)"`` for a message, or what the body was."""
        if self.not_json:
            return f": {self.not_json}"
        parts = [p for p in (self.code, self.message) if p]
        text = (": " + ": ".join(parts)) if parts else ""
        if self.ingestion_id is not None:
            text += f" (the server recorded it as ingestion {self.ingestion_id})"
        return text


def data_of(response: Answer) -> dict[str, Any] | None:
    """The envelope's ``data`` object, or None."""
    doc = response.document
    data = doc.get("data") if isinstance(doc, dict) else None
    return data if isinstance(data, dict) else None


def ingestion_id_of(response: Answer) -> int | None:
    """``data.ingestion_id``, or the older bare ``ingestion_id``; None when neither is usable."""
    doc = response.document
    if not isinstance(doc, dict):
        return None
    data = doc.get("data")
    candidates = [data.get("ingestion_id") if isinstance(data, dict) else None]
    candidates.append(doc.get("ingestion_id"))
    for candidate in candidates:
        ingestion_id = as_int(candidate)
        if ingestion_id is not None and ingestion_id > 0:
            return ingestion_id
    return None


class Refusals:
    """The answers that end a request at once, as the exceptions of the module table."""

    def __init__(self, *, base_url: str, api_key: Secret, key_source: str) -> None:
        self._base_url = base_url
        self._key = api_key
        self._key_source = key_source

    def error_of(self, response: Answer) -> ApiError:
        """The answer's ``errors[0]``, the key scrubbed."""
        return ApiError.parse(response, self._key)

    def raise_for(self, response: Answer, *, what: str) -> None:
        """Raise for 3xx, 401/403, 413 and every other 4xx but 429; return for anything else."""
        status = response.status_code
        if 300 <= status < 400:
            raise self._redirect_error(response)
        if status in (401, 403):
            error = self.error_of(response)
            raise AuthError(
                f"the server rejected the API key from {self._key_source} "
                f"({response.status_text}){error.suffix()}",
                hint=KEY_HINT,
            )
        if not 400 <= status < 500 or status == 429:
            return
        error = self.error_of(response)
        if status == 413 or error.code == "payload_too_large":
            raise PayloadTooLarge(
                f"{what} is larger than the server accepts ({response.status_text})"
                + error.suffix(),
                http_status=status,
                api_code="payload_too_large",
                ingestion_id=error.ingestion_id,
            )
        raise RejectedError(
            f"the server rejected {what} ({response.status_text}){error.suffix()}",
            http_status=status,
            api_code=error.code,
            ingestion_id=error.ingestion_id,
        )

    def retry_later(self, response: Answer, *, now: float) -> Retry:
        """An answer asking to come back later (429, 503, …): wait as long as it says."""
        error = self.error_of(response)
        return Retry(
            response.status_text + (f" {error.code}" if error.code else ""),
            retry_after=parse_retry_after(response.headers.get("Retry-After"), now=now),
            reached_server=True,
        )

    def _redirect_error(self, response: Answer) -> RejectedError:
        target = _origin_of_location(response)
        where = f"to {target}" if target else "without a usable Location"
        return RejectedError(
            f"the server answered {response.status_text} redirecting {where}; "
            f"psykhe does not follow redirects, so the key only ever goes to {self._base_url}",
            hint="if the API has moved, set --base-url or PSYKHE_BASE_URL to its new address",
            http_status=response.status_code,
            api_code="redirect",
        )


def _origin_of_location(response: Answer) -> str | None:
    """``scheme://host:port`` of a redirect's target — never its path, query or userinfo."""
    location = response.headers.get("Location")
    if not location:
        return None
    try:
        url = response.request.url.join(location.strip())
        port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    except (httpx.InvalidURL, ValueError):
        return None
    host = printable(url.host, 255)
    if not host or not url.scheme:
        return None
    host = f"[{host}]" if ":" in host else host
    return f"{printable(url.scheme, 20)}://{host}" + (f":{port}" if port else "")
