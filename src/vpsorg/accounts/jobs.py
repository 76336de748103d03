"""Accounts' periodic job: forget the panel's expired login sessions."""

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vpsorg import clock
from vpsorg.accounts.models import LoginSession


async def purge_login_sessions(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Delete the sessions past their expiry (they no longer log anyone in); how many went."""
    async with sessions.begin() as session:
        result = await session.execute(delete(LoginSession).where(LoginSession.expires_at <= clock.now()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
