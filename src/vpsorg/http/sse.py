"""Events as a Server-Sent Events response: the API's stream and the panel's."""

from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent

from vpsorg.events.service import EventRow


def event_source(rows: AsyncIterator[EventRow], *, heartbeat: float) -> EventSourceResponse:
    """`id:` the event's id, `data:` its JSON (EventRow.encoded), a comment every `heartbeat` s."""

    async def messages() -> AsyncIterator[ServerSentEvent]:
        async for row in rows:
            yield ServerSentEvent(data=row.encoded, id=str(row.id))

    return EventSourceResponse(messages(), ping=heartbeat, headers={"Cache-Control": "no-store"})
