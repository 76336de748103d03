"""Idempotency-Key: a POST sent twice with the same key acts once.

The first request with a key runs and stores its response (status, body, Location) in the
same transaction as what it changed, so the two commit or vanish together. A later request
with that key (same account, same body) gets the stored response again, marked
`Idempotency-Replayed: true`; with another body it is refused (422
`idempotency_key_reused`). Two requests racing with one key: the unique (account, key)
lets one commit; the other rolls back everything it did and answers 409
`idempotency_key_in_use` (retry it to get the stored response). Keys are kept for 24 hours
(the worker purges older ones). Follows draft-ietf-httpapi-idempotency-key-header.
"""

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Header, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from vpsorg.db import Base, UTCDateTime, utcnow
from vpsorg.errors import AppError, ValidationFailed, errors

HEADER = "Idempotency-Key"
KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as the draft's examples
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


Key = Annotated[
    str | None,
    Header(
        alias=HEADER,
        pattern=r"^[!-~]{1,255}$",
        description="Any unique string (at most 255 visible ASCII characters, a UUID is a good one): "
        "sending the request again with the same key returns the first response instead of acting twice",
    ),
]


async def once(
    request: Request,
    response: Response,
    session: AsyncSession,
    *,
    account_id: int,
    key: str | None,
    status_code: int,
    run: Callable[[], Awaitable[Any]],
) -> Any:
    """Run `run` (which changes things in `session` and returns the response model) at most
    once per key; without a key, simply run it."""
    if key is None:
        return await run()
    if not KEY.fullmatch(key):
        raise ValidationFailed.field(HEADER, "must be 1 to 255 visible ASCII characters")
    fingerprint = _fingerprint(request.method, request.url.path, await request.body())
    stored = await session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.account_id == account_id, IdempotencyRecord.key == key
        )
    )
    if stored is not None and stored.created_at > utcnow() - KEEP:
        if stored.request_hash != fingerprint:
            raise KeyReused(f"Idempotency-Key {key!r} was used for a different request", details={"key": key})
        headers = {"Idempotency-Replayed": "true"} | (
            {"Location": stored.location} if stored.location else {}
        )
        return JSONResponse(json.loads(stored.response_body), status_code=stored.status_code, headers=headers)
    if stored is not None:  # expired, not purged yet: the key is free again
        await session.delete(stored)
        await session.flush()
    result = await run()
    record = IdempotencyRecord(
        account_id=account_id,
        key=key,
        request_hash=fingerprint,
        status_code=status_code,
        response_body=json.dumps(jsonable_encoder(result)),
        location=response.headers.get("location"),
        created_at=utcnow(),
    )
    try:
        async with session.begin_nested():
            session.add(record)
            await session.flush()
    except IntegrityError:
        # Another request with this key committed first; ours must not take effect. Raising
        # rolls the whole request's transaction back.
        raise KeyInUse(
            f"A request with Idempotency-Key {key!r} is being processed; retry to get its response",
            details={"key": key},
        ) from None
    return result


def _fingerprint(method: str, path: str, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")) if body else ""
    except (ValueError, RecursionError):  # never here from a route: FastAPI parsed the body first
        canonical = body.decode("utf-8", "replace")
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


async def purge(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Forget keys older than 24 hours (the worker's)."""
    async with sessions.begin() as session:
        result = await session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - KEEP)
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# An invalid key is a 400 like any invalid header; documented here since a route's own 422
# (a reused key) keeps FastAPI from adding its validation entry (which we answer as 400).
RESPONSES = errors(ValidationFailed, KeyReused, KeyInUse)
