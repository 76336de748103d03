"""Request dependencies: the database session and the authenticated account."""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from vpsorg import ratelimit
from vpsorg.accounts import limits
from vpsorg.accounts import service as accounts
from vpsorg.accounts.service import Scope
from vpsorg.config import Settings
from vpsorg.db import session_scope
from vpsorg.errors import Forbidden, Unauthorized
from vpsorg.events.hub import Hub
from vpsorg.hosts import service as hosts
from vpsorg.hotreads import HotReads, Reads

log = logging.getLogger("vpsorg.deps")

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    write_sessions: async_sessionmaker[AsyncSession]
    read_sessions: async_sessionmaker[AsyncSession]
    limiter: ratelimit.Limiter
    hot_reads: HotReads  # vpsorg.hotreads
    # The panel's logins per email and per address (VPSORG_LOGIN_RATE_LIMIT), in limiter's storage.
    login_limiter: ratelimit.Limiter
    # New events for this process's streams (vpsorg.events.hub).
    events_hub: Hub


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.vpsorg
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent."""
    state = get_state(request)
    if request.method in READ_METHODS:
        async for session in session_scope(state.read_sessions):
            yield session
        return
    async for session in session_scope(state.write_sessions):
        yield session
    # A write may have queued an action: an in-process worker need not wait for its next poll.
    worker = getattr(request.app.state, "worker", None)
    if worker is not None and not getattr(request.state, "queued_nothing", False):
        worker.wake()


def queued_nothing(request: Request) -> None:
    """The request is a write that queues no action whatever it does (a create's dry run):
    get_session does not wake the worker after it."""
    request.state.queued_nothing = True


Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_reads(request: Request) -> Reads:
    """Where the hot path's reads run (vpsorg.hotreads): no session, no transaction."""
    return get_state(request).hot_reads


HotPath = Annotated[Reads, Depends(get_reads)]


async def get_default_limits(request: Request) -> limits.Defaults:
    """The quotas of accounts without their own (VPSORG_DEFAULT_*_LIMIT)."""
    return limits.Defaults.from_settings(get_state(request).settings)


DefaultLimits = Annotated[limits.Defaults, Depends(get_default_limits)]


async def get_placement(request: Request) -> hosts.Policy:
    """Where creates are placed among a location's hosts (VPSORG_PLACEMENT)."""
    return hosts.Policy(get_state(request).settings.placement)


Placement = Annotated[hosts.Policy, Depends(get_placement)]

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="BearerToken",
    description="An API token: `Authorization: Bearer <token>`. Create one with `vpsorg tokens create`.",
)


async def _record_use(state: AppState, token_id: int) -> None:
    """last_used_at, in a short transaction of its own after the response has been sent
    (the request's own transaction has committed by then, so on SQLite it takes the write
    lock only for this, and only when the stored value is stale). Best effort."""
    try:
        async with state.write_sessions.begin() as session:
            await accounts.touch_token(session, token_id=token_id)
    except Exception as exc:  # informational only: never worth a failed request or a log storm
        log.warning("could not record the use of token %s: %s", token_id, exc)


async def get_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """The request's bearer token (401 without one)."""
    if credentials is None:
        raise Unauthorized("Missing API token: send 'Authorization: Bearer <token>'")
    return credentials.credentials


Token = Annotated[str, Depends(get_token)]
Admit = Callable[[accounts.TokenUse | None], Awaitable[tuple[int, Scope]]]


async def get_admit(request: Request, background: BackgroundTasks) -> Admit:
    """What lets a looked-up token in, or refuses it: see get_caller.

    A route whose one query also looks the token up (servers' GET detail) calls it with what
    its query found; every other route gets it done by get_caller."""

    async def admit(found: accounts.TokenUse | None) -> tuple[int, Scope]:
        if found is None:
            raise Unauthorized("Invalid or expired API token")
        key = ratelimit.key_for(token_hash=found.token_hash, account_id=found.account_id)
        await ratelimit.check(request, get_state(request).limiter, key)
        if found.touch:
            background.add_task(_record_use, get_state(request), found.token_id)
        if found.scope == Scope.READ and request.method not in READ_METHODS:
            raise Forbidden(
                f"This token is read-only: {request.method} needs a token with the write scope",
                details={"scope": found.scope, "required": Scope.WRITE},
            )
        return found.account_id, found.scope

    return admit


Admission = Annotated[Admit, Depends(get_admit)]


async def get_caller(reads: HotPath, token: Token, admit: Admission) -> tuple[int, Scope]:
    """The token's account and scope; a read token is refused (403) on any write.

    The token is looked up on every request (one indexed query), so a revoked or expired
    token is refused at once by every process. Every authenticated request counts against the
    token's rate limit (429 past it), and its response carries the RateLimit headers
    (vpsorg.ratelimit)."""
    return await admit(await accounts.authenticate(reads, token=token))


Caller = Annotated[tuple[int, Scope], Depends(get_caller)]


async def get_account_id(caller: Caller) -> int:
    return caller[0]


AccountId = Annotated[int, Depends(get_account_id)]


async def get_admin_id(caller: Caller) -> int:
    """The operator's account id; any token without the admin scope is refused (403)."""
    if caller[1] != Scope.ADMIN:
        raise Forbidden(
            "The admin API needs a token with the admin scope",
            details={"scope": caller[1], "required": "admin"},
        )
    return caller[0]


AdminId = Annotated[int, Depends(get_admin_id)]


async def get_host_down_seconds(request: Request) -> float:
    """How long a host's worker may be silent before the host shows down (VPSORG_HOST_DOWN_SECONDS)."""
    return get_state(request).settings.host_down_seconds


HostDownSeconds = Annotated[float, Depends(get_host_down_seconds)]
