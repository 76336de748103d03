"""Idempotency-Key over HTTP: the header, and a POST run once per key (see vpsorg.idempotency)."""

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Header, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.db import utcnow
from vpsorg.errors import ValidationFailed, errors
from vpsorg.idempotency import KEEP, IdempotencyRecord, KeyInUse, KeyReused

HEADER = "Idempotency-Key"
KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as the draft's examples

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


# An invalid key is a 400 like any invalid header; documented here since a route's own 422
# (a reused key) keeps FastAPI from adding its validation entry (which we answer as 400).
RESPONSES = errors(ValidationFailed, KeyReused, KeyInUse)
