from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from sse_starlette import EventSourceResponse

from vpsorg import inputs
from vpsorg.deps import AccountId, Session, StateDep
from vpsorg.errors import AUTH_RESPONSES, ValidationFailed, errors
from vpsorg.events import service as events
from vpsorg.events.schemas import EventOut
from vpsorg.events.sse import stream_events
from vpsorg.events.types import EventType
from vpsorg.http.pagination import page_params, paged
from vpsorg.http.sse import event_source
from vpsorg.pagination import Page, PageParams

router = APIRouter(
    prefix="/api/v1", tags=["events"], responses=AUTH_RESPONSES, route_class=inputs.LimitedRoute
)

STREAM_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A stream without end: `id:` the event's id, `data:` the event as JSON "
        "(as in the list); a comment line every VPSORG_EVENT_HEARTBEAT_SECONDS (15) keeps it open.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}

ServerFilter = Annotated[
    int | None, Query(ge=1, le=inputs.MAX_ID, description="Only events about this server")
]


def _types(value: str | None) -> frozenset[str] | None:
    if value is None or not value.strip():
        return None
    types = frozenset(t.strip() for t in value.split(",") if t.strip())
    unknown = sorted(types - set(EventType))
    if unknown:
        raise ValidationFailed.field("types", f"unknown event type {', '.join(unknown)}")
    return types


def _last_id(header: str | None, query: int | None) -> int | None:
    if header is None:
        return query
    if not header.isdigit() or len(header) > 10:
        raise ValidationFailed.field("Last-Event-ID", "must be an event id (a whole number)")
    return int(header)


@router.get("/events/", summary="List your events, newest first", responses=errors(ValidationFailed))
async def list_events(
    request: Request,
    session: Session,
    account_id: AccountId,
    page: Annotated[PageParams, Depends(page_params)],
    type: Annotated[EventType | None, Query(description="Only events of this type")] = None,
    server_id: ServerFilter = None,
) -> Page[EventOut]:
    count, rows = await events.list_events(
        session, account_id=account_id, page=page, type=type, server_id=server_id
    )
    return paged(request, page, count, [EventOut.model_validate(row.public()) for row in rows])


@router.get(
    "/events/stream/",
    summary="Your events as they happen (Server-Sent Events)",
    response_class=EventSourceResponse,
    responses=STREAM_RESPONSE | errors(ValidationFailed),
)
async def stream(
    state: StateDep,
    session: Session,
    account_id: AccountId,
    types: Annotated[
        str | None, Query(description="Only these types, comma-separated", max_length=1000)
    ] = None,
    server_id: ServerFilter = None,
    last_event_id_query: Annotated[
        int | None,
        Query(alias="last_event_id", ge=0, le=inputs.MAX_ID, description="Resume after this event id"),
    ] = None,
    last_event_id: Annotated[
        str | None, Header(description="Resume after this event id (what EventSource sends)")
    ] = None,
) -> EventSourceResponse:
    last_id = _last_id(last_event_id, last_event_id_query)
    if last_id is None:
        # "Now" is read here, before the response starts: a client that has the 200 gets
        # every event committed after it (the generator would read it only once the
        # headers are out, after a change the client made on seeing them, perhaps).
        last_id = await events.latest_id(session, account_id=account_id)
    rows = stream_events(
        state.events_hub,
        state.read_sessions,
        account_id=account_id,
        last_id=last_id,
        types=_types(types),
        server_id=server_id,
    )
    return event_source(rows, heartbeat=state.settings.event_heartbeat_seconds)
