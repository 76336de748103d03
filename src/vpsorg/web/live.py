"""The panel's live updates: the account's events as Server-Sent Events (GET /events/stream,
the session's account only), from the same generator as the API's stream.

A page that changes by itself carries the stream's URL (`data-events`) and its live regions
(`data-live`, with `hx-trigger="event-arrived"`): static/panel.js opens the stream and, when
an event arrives, has each region fetch itself again (its fragment route answers 204 while
it shows the same), so nothing is asked while nothing happens. The URL resumes after the
newest event the page was rendered after (`last_event_id`), read before the page's
contents: an event between the render and the connection is not missed."""

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from sse_starlette import EventSourceResponse

from vpsorg.deps import StateDep
from vpsorg.events import service as events
from vpsorg.events.sse import stream_events
from vpsorg.events.types import EventType
from vpsorg.http.sse import event_source
from vpsorg.inputs import MAX_ID
from vpsorg.web.auth import SignedIn
from vpsorg.web.templating import url

router = APIRouter(include_in_schema=False)

# What the servers list shows changing: a server's arrival, status and departure.
LIST_TYPES = frozenset({EventType.SERVER_CREATED, EventType.SERVER_STATUS_CHANGED, EventType.SERVER_DELETED})


async def events_url(
    request: Request, session: AsyncSession, account_id: int, server_id: int | None = None
) -> str:
    """The stream a page listens to: its server's events (a server's page) or the servers
    list's, after the account's newest event now (call it before reading what the page shows)."""
    params = {"last_event_id": await events.latest_id(session, account_id=account_id)}
    if server_id is not None:
        params["server_id"] = server_id
    return url(request, "/events/stream") + "?" + urlencode(params)


def _resume_after(header: str | None, query: int | None) -> int | None:
    """EventSource's Last-Event-ID (sent when it reconnects) before the page's own."""
    if header is not None and header.isascii() and header.isdigit() and int(header) <= 2**63 - 1:
        return int(header)
    return query


@router.get("/events/stream")
async def stream(
    state: StateDep,
    viewer: SignedIn,
    server_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    last_event_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> EventSourceResponse:
    """The session's account's events: about one server, or those the servers list shows."""
    rows = stream_events(
        state.events_hub,
        state.read_sessions,
        account_id=viewer.account_id,
        last_id=_resume_after(last_event_id_header, last_event_id),
        types=None if server_id is not None else LIST_TYPES,
        server_id=server_id,
    )
    return event_source(rows, heartbeat=state.settings.event_heartbeat_seconds)
