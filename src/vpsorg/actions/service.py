"""Action rows: written by the API with the state change, claimed and finished by the worker."""

from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from vpsorg.actions.models import Action
from vpsorg.db import utcnow
from vpsorg.errors import NotFound
from vpsorg.pagination import PageParams
from vpsorg.servers.states import ActionStatus, ActionType

OPEN = (ActionStatus.QUEUED, ActionStatus.RUNNING)


async def enqueue(
    session: AsyncSession, *, account_id: int, server_id: int, type: ActionType, reason: str | None = None
) -> Action:
    action = Action(
        account_id=account_id, server_id=server_id, type=type, status=ActionStatus.QUEUED, reason=reason
    )
    session.add(action)
    await session.flush()
    return action


async def record(
    session: AsyncSession,
    *,
    account_id: int,
    server_id: int,
    type: ActionType,
    status: ActionStatus,
    reason: str,
    error: str | None = None,
) -> Action:
    """An action that is already over when written (reconcile's corrections)."""
    now = utcnow()
    action = Action(
        account_id=account_id,
        server_id=server_id,
        type=type,
        status=status,
        reason=reason,
        error=error,
        started_at=now,
        finished_at=now,
    )
    session.add(action)
    await session.flush()
    return action


async def cancel_queued(session: AsyncSession, *, server_id: int, why: str) -> None:
    await session.execute(
        update(Action)
        .where(Action.server_id == server_id, Action.status == ActionStatus.QUEUED)
        .values(status=ActionStatus.ERROR, error=why, finished_at=utcnow())
    )


async def has_open(session: AsyncSession, *, server_id: int, after: int = 0) -> bool:
    """Whether the server has a queued or running action (with an id above `after`)."""
    q = (
        select(Action.id)
        .where(Action.server_id == server_id, Action.status.in_(OPEN), Action.id > after)
        .limit(1)
    )
    return await session.scalar(q) is not None


async def list_for_server(
    session: AsyncSession, *, server_id: int, page: PageParams
) -> tuple[int, list[Action]]:
    where = Action.server_id == server_id
    count = await session.scalar(select(func.count()).select_from(Action).where(where)) or 0
    rows = await session.scalars(
        select(Action).where(where).order_by(Action.id).offset(page.offset).limit(page.page_size)
    )
    return count, list(rows)


async def get_action(session: AsyncSession, *, account_id: int | None, action_id: int) -> Action:
    """The action, if it is the account's (any account's for None: operators)."""
    action = await session.get(Action, action_id)
    if action is None or (account_id is not None and action.account_id != account_id):
        raise NotFound(f"Action {action_id} not found")
    return action


def _claimable(now: datetime):  # type: ignore[no-untyped-def]
    """Queued actions, and running ones whose lease ran out, that are first in their server's line."""
    earlier = aliased(Action)
    return and_(
        or_(
            Action.status == ActionStatus.QUEUED,
            and_(Action.status == ActionStatus.RUNNING, Action.lease_expires_at < now),
        ),
        ~exists().where(
            earlier.server_id == Action.server_id, earlier.id < Action.id, earlier.status.in_(OPEN)
        ),
    )


async def next_claimable(session: AsyncSession, *, exclude: set[int]) -> int | None:
    """The oldest action the worker could claim now (a cheap read, before the write)."""
    q = select(Action.id).where(_claimable(utcnow())).order_by(Action.id).limit(1)
    if exclude:
        q = q.where(Action.id.not_in(exclude))
    return await session.scalar(q)


async def claim_next(
    session: AsyncSession, *, owner: str, lease_seconds: float, exclude: set[int]
) -> Action | None:
    """Claim the oldest claimable action, in the caller's write transaction.

    On PostgreSQL the candidate row is locked with FOR UPDATE SKIP LOCKED, so concurrent
    workers each take a different action instead of queueing on the same row; on SQLite
    the write transaction (BEGIN IMMEDIATE) already admits one claimer at a time. The
    claim itself is still a compare-and-set (`claim`), so a lost race returns None."""
    q = (
        select(Action.id)
        .where(_claimable(utcnow()))
        .order_by(Action.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=Action)
    )
    if exclude:
        q = q.where(Action.id.not_in(exclude))
    action_id = await session.scalar(q)
    if action_id is None:
        return None
    return await claim(session, action_id=action_id, owner=owner, lease_seconds=lease_seconds)


async def claim(session: AsyncSession, *, action_id: int, owner: str, lease_seconds: float) -> Action | None:
    """Take the action with a lease; None if someone else was faster. Bumps the fence."""
    now = utcnow()
    result = await session.execute(
        update(Action)
        .where(Action.id == action_id, _claimable(now))
        .values(
            status=ActionStatus.RUNNING,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            fence=Action.fence + 1,
            attempts=Action.attempts + 1,
            started_at=func.coalesce(Action.started_at, now),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return await session.scalar(
        select(Action).where(Action.id == action_id).execution_options(populate_existing=True)
    )


def _fenced(action_id: int, fence: int):  # type: ignore[no-untyped-def]
    return and_(Action.id == action_id, Action.fence == fence, Action.status == ActionStatus.RUNNING)


async def renew(session: AsyncSession, *, action_id: int, fence: int, lease_seconds: float) -> bool:
    """Extend our lease; False if the action is no longer ours."""
    result = await session.execute(
        update(Action)
        .where(_fenced(action_id, fence))
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def finish(session: AsyncSession, *, action_id: int, fence: int, error: str | None = None) -> bool:
    """Record the outcome; False (and nothing written) if our claim is stale."""
    result = await session.execute(
        update(Action)
        .where(_fenced(action_id, fence))
        .values(
            status=ActionStatus.ERROR if error else ActionStatus.SUCCESS,
            error=error,
            finished_at=utcnow(),
            lease_owner=None,
            lease_expires_at=None,
        )
    )
    return result.rowcount == 1  # type: ignore[attr-defined]
