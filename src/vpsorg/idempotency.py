"""Idempotency-Key: a POST sent twice with the same key acts once.

The first request with a key runs and stores its response (status, body, Location) in the
same transaction as what it changed, so the two commit or vanish together. A later request
with that key (same account, same body) gets the stored response again, marked
`Idempotency-Replayed: true`; with another body it is refused (422
`idempotency_key_reused`). Two requests racing with one key: the unique (account, key)
lets one commit; the other rolls back everything it did and answers 409
`idempotency_key_in_use` (retry it to get the stored response). Keys are kept for 24 hours
(the worker purges older ones). Follows draft-ietf-httpapi-idempotency-key-header.

This module is the stored keys, free of HTTP (the worker purges them); the header and
running a request once are vpsorg.http.idempotency's.
"""

from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from vpsorg.db import Base, UTCDateTime, utcnow
from vpsorg.errors import AppError

KEEP = timedelta(hours=24)


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("account_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class KeyReused(AppError):
    """The Idempotency-Key was used before with a different request."""

    status_code = 422
    code = "idempotency_key_reused"


class KeyInUse(AppError):
    """A request with this Idempotency-Key is being processed; retry shortly."""

    status_code = 409
    code = "idempotency_key_in_use"


async def purge(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Forget keys older than 24 hours (the worker's)."""
    async with sessions.begin() as session:
        result = await session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - KEEP)
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
