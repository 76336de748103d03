"""What the API refuses before it does any work: oversized bodies, JSON nested too deep, control
characters in strings and query parameters, path ids that are not plain integers.

- A body over `VPSORG_MAX_BODY_BYTES` answers 413 `payload_too_large` before authentication:
  at once when its Content-Length says so, else as soon as the bytes received pass the limit
  (a chunked body is never buffered beyond it).
- A JSON body nested more than MAX_JSON_DEPTH levels answers 400 `validation_error`.
- No string may contain a C0 control character or DEL (see CONTROLS; a field may allow some
  whitespace, e.g. a public key's line ending): PostgreSQL cannot store NUL in text, and
  nothing here needs the others.
"""

import json
import re
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.routing import APIRoute
from pydantic import BeforeValidator
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vpsorg.errors import AppError, PayloadTooLarge, ValidationFailed
from vpsorg.schemas import CONTROLS_MESSAGE, forbid_controls_in_schema, has_controls

MAX_JSON_DEPTH = 32
MAX_ID = 2**31 - 1


class Refusal(HTTPException):
    """An AppError raised where FastAPI would turn any other exception into a 400 `invalid_json`
    (reading and parsing the body): an HTTPException passes through to the app's handler, which
    renders `error`."""

    def __init__(self, error: AppError) -> None:
        super().__init__(status_code=error.status_code, detail=error.message)
        self.error = error


def _too_large_error(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than {limit} bytes", details={"limit": limit})


def _too_large(limit: int) -> JSONResponse:
    error = _too_large_error(limit)
    body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
    return JSONResponse(body, status_code=error.status_code, headers={"Connection": "close"})


class BodyLimit:
    """Pure ASGI: refuse a body over `limit` bytes before anything reads or parses it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            return await _too_large(self.limit)(scope, receive, send)
        if not length and b"transfer-encoding" not in headers:
            # HTTP/1.1 (RFC 9112 6.3): a request with neither header has no body (most GETs)
            return await self.app(scope, receive, send)
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise Refusal(_too_large_error(self.limit))
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except Refusal as refusal:
            if started or not isinstance(refusal.error, PayloadTooLarge):
                raise
            await _too_large(self.limit)(scope, receive, send)


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_INNERMOST = re.compile(rb"\[\]|\{\}")


def too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether valid JSON `body` nests arrays/objects more than `limit` deep (without recursion:
    each pass drops the innermost level)."""
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", body))
    for _ in range(limit):
        if not brackets:
            return False
        brackets = _INNERMOST.sub(b"", brackets)
    return bool(brackets)


def _too_deep() -> Refusal:
    return Refusal(ValidationFailed.field("body", f"JSON nested more than {MAX_JSON_DEPTH} levels deep"))


class LimitedRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                parsed = json.loads(body)
            except RecursionError:
                raise _too_deep() from None
            if too_deep(body):
                raise _too_deep()
            self._json = parsed
        return self._json


class LimitedRoute(APIRoute):
    """Every router's route class: JSON bodies are parsed by LimitedRequest."""

    def get_route_handler(self) -> Any:
        handler = super().get_route_handler()

        async def limited(request: Request) -> Any:
            return await handler(LimitedRequest(request.scope, request.receive))

        return limited


async def check_query(request: HTTPConnection) -> None:
    """An app-wide dependency: no query parameter (name or value) holds a control character
    (an HTTPConnection: WebSocket routes have it too)."""
    if not request.scope.get("query_string"):
        return  # most requests have none: no parsing
    for name, value in request.query_params.multi_items():
        if has_controls(name) or has_controls(value):
            raise ValidationFailed.field(name if not has_controls(name) else "query", CONTROLS_MESSAGE)


def document_query(doc: dict[str, Any]) -> dict[str, Any]:
    """Let the OpenAPI document's string query parameters say what check_query enforces."""
    for path_item in doc.get("paths", {}).values():
        for op in path_item.values():
            for param in _params(op):
                if param.get("in") == "query":
                    forbid_controls_in_schema(param.get("schema", {}))
    return doc


def _params(op: Any) -> Iterable[dict[str, Any]]:
    return op.get("parameters", []) if isinstance(op, dict) else []


_ID = re.compile(r"[1-9][0-9]{0,9}")


def _plain_id(value: Any) -> Any:
    if isinstance(value, str) and not _ID.fullmatch(value):
        raise ValueError(f"must be an integer from 1 to {MAX_ID}, in plain decimal digits")
    return value


def path_id(value: Any) -> int | None:
    """A raw path parameter as PathId reads it, or None where PathId answers 400."""
    if not isinstance(value, str) or not _ID.fullmatch(value) or int(value) > MAX_ID:
        return None
    return int(value)


# The one type of every id in a path: plain decimal digits (no sign, leading zero, blank,
# decimal point or underscore), 1 to 2**31-1; anything else is 400 validation_error.
PathId = Annotated[
    int,
    Path(ge=1, le=MAX_ID, description=f"The object's unique ID: an integer from 1 to {MAX_ID}"),
    BeforeValidator(_plain_id),  # after Path: before it, FastAPI's schema loses minimum/maximum
]
