"""One stream's events: its backlog from the table, then live ones from the hub.

Used by the API's stream (vpsorg.events.router) and the panel's. The caller gives the id
to resume after (the last one its client saw; None: only events from now on)."""

from collections.abc import AsyncIterator, Collection

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vpsorg.events import service
from vpsorg.events.hub import Hub
from vpsorg.events.service import EventRow


async def stream_events(
    hub: Hub,
    sessions: async_sessionmaker[AsyncSession],
    *,
    account_id: int,
    last_id: int | None,
    types: Collection[str] | None = None,
    server_id: int | None = None,
) -> AsyncIterator[EventRow]:
    """The account's events after `last_id` in order, each once, without end."""

    def wanted(row: EventRow) -> bool:
        return (types is None or row.type in types) and (server_id is None or row.server_id == server_id)

    with hub.subscribe(account_id) as inbox:  # before the backlog is read: see events.hub
        if last_id is None:
            async with sessions() as session:
                last_id = await service.latest_id(session, account_id=account_id)
        while True:
            while True:  # from the table: the backlog, or what came while we fell behind
                async with sessions() as session:
                    rows = await service.after(session, last_id=last_id, account_id=account_id)
                for row in rows:
                    last_id = row.id
                    if wanted(row):
                        yield row
                if len(rows) < service.BATCH:
                    break
            while not inbox.lagged:  # live, from the hub
                await inbox.wait()
                if inbox.lagged:
                    break
                for row in inbox.take():
                    if row.id > last_id:
                        last_id = row.id
                        if wanted(row):
                            yield row
            inbox.take()  # fell behind: forget the inbox, read the table again
