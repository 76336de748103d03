"""Events' periodic job: forget events older than the retention (VPSORG_EVENT_RETENTION_DAYS)."""

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vpsorg import clock
from vpsorg.events import service as events

# How often the worker purges: a day's retention is the finest one can set, so once an hour
# keeps every event at most an hour past it.
PURGE_INTERVAL_SECONDS = 3600.0


async def purge_old(sessions: async_sessionmaker[AsyncSession], *, retention_days: int) -> int:
    """Delete the events created more than `retention_days` ago; how many went."""
    async with sessions.begin() as session:
        return await events.purge(session, before=clock.now() - timedelta(days=retention_days))
