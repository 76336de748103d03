"""Reading events: the list, the rows after a given id (streams, webhooks), and the purge.

Selected as columns, not entities: streams read them on every wake-up."""

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.events.models import Event
from vpsorg.pagination import PageParams

BATCH = 500  # rows read at a time when catching up


@dataclass(frozen=True)
class EventRow:
    id: int
    account_id: int
    type: str
    object_type: str
    object_id: int
    server_id: int | None
    data: dict[str, Any]
    created_at: datetime

    def public(self) -> dict[str, Any]:
        """The event as the API, the stream and webhooks show it."""
        return {
            "id": self.id,
            "type": self.type,
            "object": {"type": self.object_type, "id": self.object_id},
            "server_id": self.server_id,
            "data": self.data,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
        }

    @functools.cached_property
    def encoded(self) -> str:
        """public() as compact JSON, made once: the hub hands one row to every stream of its
        account, and a webhook's delivery body is the same text."""
        return json.dumps(self.public(), separators=(",", ":"))


COLUMNS = (
    Event.id,
    Event.account_id,
    Event.type,
    Event.object_type,
    Event.object_id,
    Event.server_id,
    Event.data,
    Event.created_at,
)


def _rows(result: Any) -> list[EventRow]:
    return [EventRow(*row) for row in result]


async def list_events(
    session: AsyncSession,
    *,
    account_id: int,
    page: PageParams,
    type: str | None = None,
    server_id: int | None = None,
) -> tuple[int, list[EventRow]]:
    """The account's events, newest first, optionally of one type or about one server."""
    where = [Event.account_id == account_id]
    if type is not None:
        where.append(Event.type == type)
    if server_id is not None:
        where.append(Event.server_id == server_id)
    count = await session.scalar(select(func.count()).select_from(Event).where(*where)) or 0
    q = select(*COLUMNS).where(*where).order_by(Event.id.desc()).offset(page.offset).limit(page.page_size)
    return count, _rows(await session.execute(q))


async def after(
    session: AsyncSession, *, last_id: int, account_id: int | None = None, limit: int = BATCH
) -> list[EventRow]:
    """Events with an id above last_id, oldest first: the account's, or everyone's (the hub)."""
    q = select(*COLUMNS).where(Event.id > last_id)
    if account_id is not None:
        q = q.where(Event.account_id == account_id)
    return _rows(await session.execute(q.order_by(Event.id).limit(limit)))


async def latest_id(session: AsyncSession, *, account_id: int | None = None) -> int:
    """The newest event's id (the account's, or anyone's); 0 when there is none."""
    q = select(func.max(Event.id))
    if account_id is not None:
        q = q.where(Event.account_id == account_id)
    return await session.scalar(q) or 0


async def purge(session: AsyncSession, *, before: datetime) -> int:
    """Remove the events older than `before` (VPSORG_EVENT_RETENTION_DAYS); how many."""
    result: Any = await session.execute(delete(Event).where(Event.created_at < before))
    return int(result.rowcount or 0)
