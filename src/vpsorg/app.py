"""The FastAPI application: routers, the one error handler, and the lifespan."""

import asyncio
import logging
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from limits import parse as parse_limit
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from vpsorg import __version__, inputs, ratelimit
from vpsorg import metrics as prometheus
from vpsorg.accounts.router import router as account_router
from vpsorg.actions.router import router as actions_router
from vpsorg.admin.router import router as admin_router
from vpsorg.catalog.router import router as catalog_router
from vpsorg.config import Settings
from vpsorg.console.router import router as console_router
from vpsorg.db import make_engine, make_sessionmaker
from vpsorg.deps import AppState, get_state
from vpsorg.errors import AppError, Conflict, RateLimited, ValidationFailed
from vpsorg.events.hub import Hub
from vpsorg.events.router import router as events_router
from vpsorg.hotreads import hot_reads as make_hot_reads
from vpsorg.public_url import PublicURLMiddleware
from vpsorg.schemas import ErrorBody
from vpsorg.servers.router import router as servers_router
from vpsorg.snapshots.router import router as snapshots_router
from vpsorg.ssh_keys.router import router as ssh_keys_router
from vpsorg.tokens.router import router as tokens_router
from vpsorg.usage.router import router as usage_router
from vpsorg.web import errors as web_errors
from vpsorg.web.auth import LoginRequired
from vpsorg.web.login import login_redirect
from vpsorg.web.router import router as web_router
from vpsorg.web.security import SecurityHeaders
from vpsorg.web.templating import STATIC_DIR
from vpsorg.webhooks.router import router as webhooks_router
from vpsorg.worker.service import Worker

log = logging.getLogger("vpsorg.app")

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _sane_request_id(value: str) -> bool:
    return REQUEST_ID.fullmatch(value) is not None


HTTP_CODES = {
    400: "invalid_json",  # FastAPI's "error parsing the body": undecodable bytes, unparsable numbers
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(body, status_code=status, headers=headers)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = (
        [str(p) for p in loc[1:]]
        if loc and loc[0] in ("body", "query", "path", "header")
        else [str(p) for p in loc]
    )
    return ".".join(parts) or str(loc[0] if loc else "body")


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    if web_errors.wants_html(request):
        return web_errors.html_error(request, exc.status_code, exc.message)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return error_response(exc.status_code, exc.code, exc.message, exc.details, headers)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return login_redirect(request, exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if web_errors.wants_html(request):
        return web_errors.html_error(
            request, 400, "The form holds a value that is not allowed; go back and check it."
        )
    errs = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errs):
        return error_response(400, "invalid_json", "The request body is not valid JSON")
    fields = [
        {
            "name": _field_name(tuple(e.get("loc", ()))),
            "message": str(e.get("msg", "invalid")).removeprefix("Value error, "),  # a validator's words
        }
        for e in errs
    ]
    summary = "; ".join(f"{f['name']}: {f['message']}" for f in fields[:3])
    return error_response(400, "validation_error", f"Invalid request: {summary}", {"fields": fields})


HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def _allowed_methods(request: Request, allow: str) -> str:
    """Every method the path answers to.

    GET and POST on one path are two routes, and the router's 405 names only the first one's
    methods; so add those the OpenAPI document lists for every path template that matches.
    """
    table = getattr(request.app.state, "path_methods", None)
    if table is None:  # built once, on the first 405
        table = [
            (compile_path(template)[0], {m.upper() for m in item if m in HTTP_METHODS})
            for template, item in request.app.openapi().get("paths", {}).items()
        ]
        request.app.state.path_methods = table
    methods = {m.strip() for m in allow.split(",") if m.strip()}
    path = request.url.path.removeprefix(request.scope.get("root_path", ""))
    for pattern, listed in table:
        if pattern.match(path):
            methods |= listed
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc, inputs.Refusal):
        return await _app_error(request, exc.error)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    message = "No such endpoint" if exc.status_code == 404 else str(exc.detail)
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request, (headers or {}).get("Allow", ""))}
    if web_errors.wants_html(request):
        shown = "There is no such page." if exc.status_code == 404 else str(exc.detail)
        return web_errors.html_error(request, exc.status_code, shown, headers)
    return error_response(exc.status_code, code, message, headers=headers)


async def _conflict(request: Request, exc: Exception) -> Response:
    """A constraint the database enforces (unique, foreign key) refused the change: a race the
    service's own checks could not see, such as two requests making the same change at once."""
    log.warning("integrity error (request %s): %s", correlation_id.get(), exc)
    message = "The change conflicts with a concurrent change; fetch the current state and retry"
    return await _app_error(request, Conflict(message))


async def _db_error(request: Request, exc: Exception) -> Response:
    """503 only when the database does not answer (a lost or refused connection, a lock or
    timeout); any other database error is a bug: 500."""
    assert isinstance(exc, DBAPIError)
    if not isinstance(exc, OperationalError | InterfaceError) and not exc.connection_invalidated:
        return await _unexpected(request, exc)
    log.error("database error (request %s): %s", correlation_id.get(), exc)
    return error_response(
        503,
        "database_unavailable",
        "The database is unavailable; try again shortly",
        headers={"Retry-After": "5"},
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error (request %s)", correlation_id.get(), exc_info=exc)
    if web_errors.wants_html(request):
        return web_errors.html_error(request, 500, f"Internal error; quote request {correlation_id.get()}.")
    return error_response(500, "internal_error", "Internal server error")


def _error_entry(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    if headers:
        entry["headers"] = headers
    return entry


def _header(description: str, required: bool = True) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": {"type": "string"}}


ADMIN_PREFIX = "/api/v1/admin/"
FORBIDDEN = (
    "The token's scope does not allow this (code forbidden): a read token on a write, "
    "or a token without the admin scope on /api/v1/admin/"
)
DB_UNAVAILABLE = "The database is unavailable (code database_unavailable); retry after Retry-After seconds"
RETRY_AFTER = {"Retry-After": _header("Seconds to wait before retrying", required=False)}
RATE_LIMITED = {
    "Retry-After": _header("Seconds to wait before retrying"),
    "RateLimit-Policy": _header('The token\'s quota and window, e.g. `"default";q=600;w=60`'),
    "RateLimit": _header('The quota left and the seconds until it resets, e.g. `"default";r=0;t=41`'),
}
CONFLICT = "A concurrent request made a conflicting change first (code conflict); fetch the state and retry"
TOO_MANY_CONNECTIONS = (
    "The server holds as many connections as it allows (code too_many_connections), answered "
    "before the request is read; retry after Retry-After seconds"
)


def document_errors(doc: dict[str, Any]) -> dict[str, Any]:
    """Make the OpenAPI document say what the error handlers above answer.

    FastAPI documents request validation as 422 with its own body; we answer 400 with ErrorBody.
    Every authenticated operation reads the database, so it can answer 503 database_unavailable,
    and counts against the token's rate limit, so it can answer 429 rate_limited; every
    operation can answer 503 too_many_connections (vpsorg.edge); a 401 carries WWW-Authenticate.
    """
    validation = (ValidationFailed.__doc__ or "").strip()
    for path, path_item in doc.get("paths", {}).items():
        for method, op in path_item.items():
            responses: dict[str, Any] = op.get("responses", {})
            framework_422 = "HTTPValidationError" in str(responses.get("422", ""))
            if framework_422 and responses.pop("422") is not None and "400" not in responses:
                responses["400"] = _error_entry(validation)
            if "401" in responses:
                responses["401"]["headers"] = {"WWW-Authenticate": _header("Bearer")}
            if op.get("security") and (method != "get" or path.startswith(ADMIN_PREFIX)):
                own = responses.get("403", {}).get("description")  # e.g. quota_exceeded
                responses["403"] = _error_entry(f"{FORBIDDEN}; or: {own}" if own else FORBIDDEN)
            if op.get("security") and method != "get":
                _add_error(responses, "409", CONFLICT)
            if op.get("security"):
                responses["429"] = _error_entry((RateLimited.__doc__ or "").strip(), RATE_LIMITED)
                _add_error(responses, "503", DB_UNAVAILABLE, RETRY_AFTER)
            # Any operation: vpsorg.edge answers it before the request is read.
            _add_error(responses, "503", TOO_MANY_CONNECTIONS, RETRY_AFTER)
            op["responses"] = dict(sorted(responses.items()))
    schemas = doc.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return doc


def _add_error(
    responses: dict[str, Any], status: str, description: str, headers: dict[str, Any] | None = None
) -> None:
    """Document an error answer beside any the operation already documents with that status."""
    if status in responses:
        other = responses[status]["description"].rstrip(".")
        responses[status]["description"] = f"{other}; or: {description}"
        if headers:
            responses[status]["headers"] = headers
    else:
        responses[status] = _error_entry(description, headers)


def create_app(settings: Settings | None = None, *, run_worker: bool = False, processes: int = 1) -> FastAPI:
    """Build the app; with run_worker the worker runs in the same process and event loop.

    With VPSORG_METRICS_PORT set it serves Prometheus metrics on the first free port of
    PORT..PORT+processes-1 (one of `serve --workers N`'s processes each)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings)
        hot_reads = make_hot_reads(settings.database_url, engine, pool_size=settings.database_pool_size)
        limiter = ratelimit.Limiter.from_settings(settings)
        await hot_reads.open()
        state = AppState(
            settings=settings,
            engine=engine,
            write_sessions=make_sessionmaker(engine),
            read_sessions=make_sessionmaker(engine, write=False),
            limiter=limiter,
            hot_reads=hot_reads,
            login_limiter=ratelimit.Limiter(parse_limit(settings.login_rate_limit), limiter.storage),
            events_hub=Hub(
                make_sessionmaker(engine, write=False),
                settings.database_url,
                poll_seconds=settings.event_poll_seconds,
            ),
        )
        await state.events_hub.start()
        app.state.vpsorg = state
        stop_metrics = None
        if settings.metrics_port is not None:
            ports = range(settings.metrics_port, min(settings.metrics_port + processes, 65536))
            stop_metrics = prometheus.serve(settings.metrics_host, ports)
        stop = asyncio.Event()
        task = None
        if run_worker:  # every host, each with its own driver (closed when the worker stops)
            worker = Worker(settings, state.write_sessions)
            app.state.worker = worker
            task = asyncio.create_task(worker.run(stop))
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await task
            await state.events_hub.stop()
            await hot_reads.close()
            await engine.dispose()
            if stop_metrics is not None:
                stop_metrics()

    # FastAPIOffline: /docs and /redoc load Swagger UI and ReDoc from this server
    # (/static-offline-docs/, shipped in the fastapi-offline package), not from a CDN.
    app = FastAPIOffline(
        title="vpsorg",
        version=__version__,
        summary="The VPS.org server API: create, configure, power-control and monitor servers.",
        lifespan=lifespan,
        # No query parameter may hold a control character (see vpsorg.inputs).
        dependencies=[Depends(inputs.check_query)],
        # No OpenTelemetry here: FastAPI's native telemetry would otherwise ask the OTel API
        # for its providers on every request (2.5% of a GET's CPU in a py-spy profile).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    # Every response carries X-Request-ID (the client's, if it sent a sane one): quote it
    # to an operator, who finds it in the logs.
    # A body over the limit is refused before anything reads it (inside: the 413 has X-Request-ID).
    app.add_middleware(inputs.BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(CorrelationIdMiddleware, validator=_sane_request_id)
    # Every authenticated response carries the RateLimit headers get_caller computed.
    app.add_middleware(ratelimit.RateLimitHeaders)
    # The panel's pages and static files carry a strict CSP and the other security headers.
    app.add_middleware(SecurityHeaders)
    if settings.public_url:
        app.add_middleware(PublicURLMiddleware, public_url=settings.public_url)
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _conflict)
    app.add_exception_handler(DBAPIError, _db_error)
    app.add_exception_handler(Exception, _unexpected)
    for router in (
        servers_router,
        usage_router,
        actions_router,
        ssh_keys_router,
        snapshots_router,
        webhooks_router,
        console_router,
        events_router,
        catalog_router,
        account_router,
        tokens_router,
        admin_router,
        web_router,
    ):
        app.include_router(router)
    # htmx, the stylesheet and the script, vendored into the package (never from a CDN).
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/healthz", tags=["health"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="The process and its database answer",
        responses={503: {"model": ErrorBody, "description": "The database does not answer"}},
    )
    async def readyz(request: Request) -> JSONResponse:
        try:
            async with get_state(request).engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # any failure to reach the database means not ready
            return error_response(503, "database_unavailable", f"Database unavailable: {type(exc).__name__}")
        return JSONResponse({"status": "ok", "database": "ok"})

    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = inputs.document_query(document_errors(build_openapi()))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


SERVE_WORKER_ENV = "VPSORG_SERVE_WORKER"
SERVE_PROCESSES_ENV = "VPSORG_SERVE_PROCESSES"


def app_from_environment() -> FastAPI:
    """The app of one of `vpsorg serve --workers N`'s processes: settings from the environment,
    the worker in-process unless VPSORG_SERVE_WORKER=0 (set by `--no-worker`), N from
    VPSORG_SERVE_PROCESSES (for the metrics ports)."""
    return create_app(
        Settings(),
        run_worker=os.environ.get(SERVE_WORKER_ENV, "1") != "0",
        processes=int(os.environ.get(SERVE_PROCESSES_ENV, "1")),
    )
