"""The connection edge of `vpsorg serve`: a cap on open connections, a header timeout, and
connection-level events logged as one summary line per interval.

uvicorn already closes a connection idle between requests (`timeout_keep_alive`), but it
waits forever for the first request head and accepts every connection until the process runs
out of file descriptors. `EdgeProtocol`, its httptools protocol (the C parser llhttp, in place of
h11's pure Python) with three additions, closes that gap:

- past `VPSORG_MAX_CONNECTIONS` open connections (in this process) a new connection is
  answered at once with `503 too_many_connections` (our JSON error body, `Retry-After`,
  `Connection: close`) and closed, so a client never hangs;
- a connection must deliver a complete request head within `VPSORG_HEADER_TIMEOUT_SECONDS`
  of opening (or of the previous response), or it is closed;
- a request head (target and headers) over MAX_HEAD_BYTES is answered 400 and the connection
  closed, as h11 did (httptools itself keeps whatever it is sent).

Refusals, header timeouts, malformed requests and accept() failures are counted and logged
by `LogSummary` as at most one line per `VPSORG_CONNECTION_LOG_INTERVAL_SECONDS`, never a
line (or a traceback) per connection. `uvicorn_options` builds every uvicorn option from
Settings, for the single-process and the `--workers N` paths alike.
"""

import asyncio
import functools
import json
import logging
import resource
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from vpsorg.config import Settings
from vpsorg.errors import TooManyConnections

log = logging.getLogger("vpsorg.edge")

BACKLOG = 2048  # uvicorn's default listen backlog; asyncio accepts up to this many at once
FD_RESERVE = 256  # descriptors for everything else: the database pool, logs, the worker
LINGER_SECONDS = 2.0  # how long a refused connection is drained before it is closed
MAX_HEAD_BYTES = 16 * 1024  # a request's target and headers; h11's (uvicorn's) default limit

REFUSED = "connections refused over the cap (VPSORG_MAX_CONNECTIONS={cap})"
HEADER_TIMEOUT = "connections closed without a complete request head within {timeout:g} s"
MALFORMED = "malformed requests answered with 400"
ACCEPT_FAILED = "accept() failures ({error}); connections waited in the listen backlog"
SOCKET_ERRORS = "connections lost to socket errors"


class LogSummary:
    """Counts events and logs them as at most one line per interval.

    The first event of a quiet period schedules a flush `interval` seconds later; the flush
    writes one line with every count of the window and starts over. `schedule` is
    `loop.call_later` (tests pass their own).
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval: float,
        schedule: Callable[[float, Callable[[], None]], object] | None = None,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.schedule = schedule
        self.counts: Counter[str] = Counter()
        self.pending = False

    def note(self, event: str, n: int = 1) -> None:
        self.counts[event] += n
        if not self.pending:
            self.pending = True
            schedule = self.schedule or asyncio.get_running_loop().call_later
            schedule(self.interval, self.flush)

    def flush(self) -> None:
        self.pending = False
        if not self.counts:
            return
        parts = "; ".join(f"{n} {event}" for event, n in self.counts.items())
        self.counts.clear()
        self.logger.warning("in the last %g s: %s", self.interval, parts)


@dataclass(frozen=True)
class Limits:
    """What `EdgeProtocol` enforces (built from Settings by `uvicorn_options`)."""

    max_connections: int
    header_timeout: float
    log_interval: float


@dataclass
class Edge:
    """Per-server state shared by every connection: the summary and the draining refusals."""

    limits: Limits
    summary: LogSummary
    refusal_body: bytes  # the 503's JSON body
    lingering: int = 0  # refused connections being drained


class _SummarizeUvicornWarnings(logging.Filter):
    """uvicorn logs one warning per malformed request; count them instead."""

    def __init__(self, summary: LogSummary) -> None:
        super().__init__()
        self.summary = summary

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() == "Invalid HTTP request received.":
            self.summary.note(MALFORMED)
            return False
        return True


def _summarize_loop_errors(loop: asyncio.AbstractEventLoop, summary: LogSummary) -> None:
    """asyncio logs a traceback for each failed accept() (out of file descriptors) and each
    fatal socket error; count those instead and leave every other error to asyncio."""
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        exc = context.get("exception")
        if message.startswith("socket.accept()"):
            error = getattr(exc, "strerror", None) or type(exc).__name__
            summary.note(ACCEPT_FAILED.format(error=error))
        elif message.startswith("Fatal") and isinstance(exc, OSError):
            summary.note(SOCKET_ERRORS)
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


def _edge(server_state: ServerState, limits: Limits, loop: asyncio.AbstractEventLoop) -> Edge:
    """The server's Edge, made (and the loop's and uvicorn's logging hooked) on first use."""
    edge: Edge | None = getattr(server_state, "vpsorg_edge", None)
    if edge is None:
        summary = LogSummary(log, limits.log_interval, loop.call_later)
        edge = Edge(limits, summary, _refusal_body(limits))
        server_state.vpsorg_edge = edge  # type: ignore[attr-defined]
        _summarize_loop_errors(loop, summary)
        logging.getLogger("uvicorn.error").addFilter(_SummarizeUvicornWarnings(summary))
    return edge


def _refusal_body(limits: Limits) -> bytes:
    error = TooManyConnections(
        "The server has too many open connections; retry shortly",
        details={"max_connections": limits.max_connections},
    )
    body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
    return json.dumps(body).encode()


class HeadTooLarge(Exception):
    """Raised in a parser callback: httptools turns it into an HttpParserError, which uvicorn
    answers 400 (counted as MALFORMED) before closing the connection."""


class EdgeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a connection cap, a request-head timeout and a
    request-head size limit."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: Limits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.edge = _edge(server_state, limits, self.loop)
        self.refused = False
        self.lingering = False
        self.head_timer: asyncio.TimerHandle | None = None
        self.linger_timer: asyncio.TimerHandle | None = None
        self.head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.edge.limits.max_connections:
            self.transport = transport
            self._refuse()
            return
        super().connection_made(transport)
        self._await_head()

    def _refuse(self) -> None:
        """Answer 503 at once, then drain what the client sends (so its request does not turn
        our close into a reset that loses the answer) for a moment, then close."""
        self.refused = True
        self.edge.summary.note(REFUSED.format(cap=self.edge.limits.max_connections))
        body = self.edge.refusal_body
        head = [b"HTTP/1.1 503 Service Unavailable"]
        head += [b"%s: %s" % kv for kv in self.server_state.default_headers]
        head += [
            b"content-type: application/json",
            b"content-length: %d" % len(body),
            b"retry-after: 1",
            b"connection: close",
            b"x-request-id: " + uuid.uuid4().hex.encode(),
        ]
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        if self.edge.lingering >= self.edge.limits.max_connections or not self.transport.can_write_eof():
            self.transport.close()
            return
        self.edge.lingering += 1
        self.lingering = True
        self.transport.write_eof()
        self.linger_timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _await_head(self) -> None:
        """(Re)start the clock for the next request head."""
        if self.head_timer is not None:
            self.head_timer.cancel()
        self.head_timer = self.loop.call_later(self.edge.limits.header_timeout, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
            return  # closing anyway, or a request arrived and is being answered
        self.edge.summary.note(HEADER_TIMEOUT.format(timeout=self.edge.limits.header_timeout))
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if not self.refused:
            super().data_received(data)

    def on_message_begin(self) -> None:
        self.head_bytes = 0
        super().on_message_begin()

    def _count_head(self, n: int) -> None:
        self.head_bytes += n
        if self.head_bytes > MAX_HEAD_BYTES:
            raise HeadTooLarge

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self.head_timer, self.linger_timer):
            if timer is not None:
                timer.cancel()
        if self.lingering:
            self.lingering = False
            self.edge.lingering -= 1
        if self.refused:
            self.transport.close()
            return
        super().connection_lost(exc)


def connection_cap(requested: int, fd_limit: int) -> int:
    """The most connections a process can hold with `fd_limit` descriptors: each open one and
    each draining refusal holds one, as does each of a burst of accepts (the backlog)."""
    return max(1, min(requested, (fd_limit - BACKLOG - FD_RESERVE) // 2))


def raise_fd_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            log.warning("could not raise the open-file limit from %d to %d", soft, target)
    return soft


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Every connection option of `vpsorg serve` (both paths), from Settings.

    Raises the open-file limit first; a cap the limit cannot hold is lowered (and said so)."""
    fd_limit = raise_fd_limit()
    cap = connection_cap(settings.max_connections, fd_limit)
    if cap < settings.max_connections:
        log.warning(
            "VPSORG_MAX_CONNECTIONS=%d needs about %d open files but the limit is %d; capping at %d",
            settings.max_connections,
            2 * settings.max_connections + BACKLOG + FD_RESERVE,
            fd_limit,
            cap,
        )
    limits = Limits(
        max_connections=cap,
        header_timeout=settings.header_timeout_seconds,
        log_interval=settings.connection_log_interval_seconds,
    )
    # A partial of a module-level class pickles, so `--workers N` hands it to each process.
    protocol = cast(type[asyncio.Protocol], functools.partial(EdgeProtocol, limits=limits))
    return {
        "http": protocol,
        "timeout_keep_alive": settings.keepalive_timeout_seconds,
        "backlog": BACKLOG,
        "log_level": settings.log_level.lower(),
    }
