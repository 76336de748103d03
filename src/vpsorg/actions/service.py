"""Action rows: written by the API with the state change, claimed and finished by the worker."""

import functools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.sqltypes import NullType

from vpsorg.accounts.models import Account
from vpsorg.actions.models import Action
from vpsorg.db import UTCDateTime, utcnow
from vpsorg.errors import NotFound
from vpsorg.pagination import PageParams
from vpsorg.servers.models import Server
from vpsorg.servers.states import ActionStatus, ActionType

OPEN = (ActionStatus.QUEUED, ActionStatus.RUNNING)
# 'queued' written into the SQL, not bound: the partial index on queued actions is usable
# only where the planner sees the very condition it is defined with
QUEUED = literal(ActionStatus.QUEUED.value, literal_execute=True)
CANDIDATES = 32  # a claim considers the first this many accounts in the fair order
# The claim queries are built once (functools.cache) and take the time and the actions to
# leave out as parameters: building the fair order's recursive walk again at every claim
# cost about a tenth of the worker's CPU. `params` gives the values.
NOW: Any = bindparam("now", type_=UTCDateTime())
EXCLUDE: Any = bindparam("exclude", expanding=True)
# The hosts a worker serves (`vpsorg worker --host`): only their servers' actions are its.
HOSTS: Any = bindparam("hosts", expanding=True)


def params(now: datetime, exclude: set[int], hosts: list[int] | None = None) -> dict[str, Any]:
    """The values of NOW, EXCLUDE (and HOSTS) for `fair_order`, `_ranked` and `_next_claimable`."""
    return {"now": now, "exclude": sorted(exclude)} | ({"hosts": hosts} if hosts is not None else {})


def _on_hosts(action: Any, by_host: bool) -> Any:
    """With `by_host`: the action's server is on one of HOSTS (its host now: a server moved
    by a migration takes its later actions along)."""
    if not by_host:
        return true()
    return exists().where(Server.id == action.server_id, Server.host_id.in_(HOSTS))


class _walk_queued(FunctionElement[Any]):
    """`status = 'queued'` for the walk over ix_actions_queued_account_id. SQLite's planner,
    without statistics, would rather take ix_actions_status_id (an equality on its first
    column) and sort the whole queue at every step of the walk; told that the condition
    holds for most rows it looks at (likelihood), it walks the partial index instead, which
    the condition still implies. PostgreSQL's planner needs no such hint."""

    type = NullType()  # not Boolean: SQLite would get `... = 1`, which implies no partial index
    inherit_cache = True
    name = "walk_queued"


def _is_queued(element: _walk_queued) -> Any:
    (status,) = element.clauses
    return status == QUEUED


@compiles(_walk_queued)
def _walk_queued_default(element: _walk_queued, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(_is_queued(element), **kw))


@compiles(_walk_queued, "sqlite")
def _walk_queued_sqlite(element: _walk_queued, compiler: Any, **kw: Any) -> str:
    return f"likelihood({compiler.process(_is_queued(element), **kw)}, 0.9)"


async def enqueue(
    session: AsyncSession,
    *,
    account_id: int,
    server_id: int,
    type: ActionType,
    reason: str | None = None,
    source_host_id: int | None = None,
    target_host_id: int | None = None,
    resume_status: str | None = None,
) -> Action:
    """Queue an action (a migration with its hosts and the status to return to)."""
    action = Action(
        account_id=account_id,
        server_id=server_id,
        type=type,
        status=ActionStatus.QUEUED,
        reason=reason,
        source_host_id=source_host_id,
        target_host_id=target_host_id,
        resume_status=resume_status,
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


async def cancel_queued(session: AsyncSession, *, server_id: int, why: str) -> list[Action]:
    """Fail the server's queued actions with `why`; those cancelled (a migration among them
    holds room on its target host, which the caller gives back)."""
    result = await session.scalars(
        update(Action)
        .where(Action.server_id == server_id, Action.status == ActionStatus.QUEUED)
        .values(status=ActionStatus.ERROR, error=why, finished_at=utcnow())
        .returning(Action)
        .execution_options(synchronize_session=False)
    )
    return list(result)


async def has_open(session: AsyncSession, *, server_id: int, after: int = 0) -> bool:
    """Whether the server has a queued or running action (with an id above `after`)."""
    q = (
        select(Action.id)
        .where(Action.server_id == server_id, Action.status.in_(OPEN), Action.id > after)
        .limit(1)
    )
    return await session.scalar(q) is not None


async def list_for_server(
    session: AsyncSession, *, server_id: int, page: PageParams, newest_first: bool = False
) -> tuple[int, list[Action]]:
    """The server's actions, oldest first (the API's order) or newest first (the panel's log)."""
    where = Action.server_id == server_id
    count = await session.scalar(select(func.count()).select_from(Action).where(where)) or 0
    order = Action.id.desc() if newest_first else Action.id
    rows = await session.scalars(
        select(Action).where(where).order_by(order).offset(page.offset).limit(page.page_size)
    )
    return count, list(rows)


async def recent_failures(session: AsyncSession, *, limit: int) -> list[dict[str, Any]]:
    """Any account's latest actions that ended in error, newest first (by id: the index on
    status and id), with their server's name (and whether it is deleted since) and their account's
    email: the operators' overview."""
    q = (
        select(
            Action.id,
            Action.type,
            Action.error,
            Action.created_at,
            Action.finished_at,
            Action.server_id,
            Server.name.label("server_name"),
            Server.deleted_at.label("server_deleted_at"),
            Action.account_id,
            Account.email.label("account_email"),
        )
        .join(Server, Server.id == Action.server_id)
        .join(Account, Account.id == Action.account_id)
        .where(Action.status == ActionStatus.ERROR)
        .order_by(Action.id.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in await session.execute(q)]


async def get_action(session: AsyncSession, *, account_id: int | None, action_id: int) -> Action:
    """The action, if it is the account's (any account's for None: operators)."""
    action = await session.get(Action, action_id)
    if action is None or (account_id is not None and action.account_id != account_id):
        raise NotFound(f"Action {action_id} not found")
    return action


def _claimable(now: datetime):  # type: ignore[no-untyped-def]
    """Queued actions, and running ones whose lease ran out, that are first in their server's
    line (and, a migration, first in its source host's)."""
    earlier = aliased(Action)
    return and_(
        or_(
            Action.status == ActionStatus.QUEUED,
            and_(Action.status == ActionStatus.RUNNING, Action.lease_expires_at < now),
        ),
        ~exists().where(
            earlier.server_id == Action.server_id, earlier.id < Action.id, earlier.status.in_(OPEN)
        ),
        _first_off_host(Action),
    )


@functools.cache
def _next_claimable(by_host: bool = False):  # type: ignore[no-untyped-def]
    """The oldest queued action first in its server's line, and the oldest running one whose
    lease ran out, each found on its own (an index walk on (status, id) each: one condition
    with OR walked every finished action in id order, 18 ms on PostgreSQL late in a drain);
    the older of the two."""

    def oldest(*where: Any) -> Any:
        q = select(Action.id).where(
            *where, _first_in_line(Action), _not_in(Action), _on_hosts(Action, by_host)
        )
        return select(q.order_by(Action.id).limit(1).scalar_subquery().label("id"))

    both = union_all(
        oldest(Action.status == QUEUED),
        oldest(Action.status == ActionStatus.RUNNING, Action.lease_expires_at < NOW),
    ).subquery("oldest")
    return select(func.min(both.c.id))


async def next_claimable(
    session: AsyncSession, *, exclude: set[int], hosts: list[int] | None = None
) -> int | None:
    """The oldest action the worker could claim now (of servers on `hosts`, if given), if
    any (a cheap read before the write: whether to claim at all; `claim_next` decides which)."""
    return await session.scalar(_next_claimable(hosts is not None), params(utcnow(), exclude, hosts))


def _not_in(action: Any) -> Any:
    """Not one of EXCLUDE (an empty list excludes none)."""
    return action.id.not_in(EXCLUDE)


def _first_in_line(action: Any):  # type: ignore[no-untyped-def]
    """No earlier open action of its server: one server's actions run in order; and a
    migration waits for the earlier ones off its host (`_first_off_host`)."""
    earlier = aliased(Action)
    return and_(
        ~exists().where(
            earlier.server_id == action.server_id, earlier.id < action.id, earlier.status.in_(OPEN)
        ),
        _first_off_host(action),
    )


def _first_off_host(action: Any) -> Any:
    """Not a migration, or no earlier migration off the same host is open: a host's servers
    move one at a time (a drain queues them all; each waits for the one before). Only
    migrations have a source host; the condition is an index probe on
    ix_actions_source_host_id for them and nothing for the others."""
    earlier = aliased(Action)
    return or_(
        action.source_host_id.is_(None),
        ~exists().where(
            earlier.source_host_id == action.source_host_id,
            earlier.id < action.id,
            earlier.status.in_(OPEN),
        ),
    )


def _candidates(by_host: bool = False):  # type: ignore[no-untyped-def]
    """Per account with queued actions, its oldest claimable one, with the number of actions
    the account has running (live leases); and every running action whose lease ran out.

    The accounts are found by a skip scan (a recursive walk of ix_actions_queued_account_id,
    one index probe per account), so the cost grows with the number of accounts waiting,
    not with the length of their queues."""
    step = aliased(Action)
    accounts = select(
        select(step.account_id)
        .where(_walk_queued(step.status))
        .order_by(step.account_id, step.id)  # the partial index's order: no other index has it
        .limit(1)
        .scalar_subquery()
        .label("account_id")
    ).cte("waiting_accounts", recursive=True)
    after = aliased(Action)
    accounts = accounts.union_all(
        select(
            select(after.account_id)
            .where(_walk_queued(after.status), after.account_id > accounts.c.account_id)
            .order_by(after.account_id, after.id)
            .limit(1)
            .scalar_subquery()
        ).where(accounts.c.account_id.is_not(None))
    )
    head = aliased(Action)
    head_id = (
        select(head.id)
        .where(
            head.status == QUEUED,
            head.account_id == accounts.c.account_id,
            _first_in_line(head),
            _not_in(head),
            _on_hosts(head, by_host),
        )
        .order_by(head.id)
        .limit(1)
        .scalar_subquery()
    )
    busy = _running()
    heads = (
        select(
            head_id.label("id"),
            accounts.c.account_id.label("account_id"),
            func.coalesce(busy.c.n, 0).label("busy"),
        )
        .select_from(accounts.outerjoin(busy, busy.c.account_id == accounts.c.account_id))
        .where(accounts.c.account_id.is_not(None))
    )
    lapsed = aliased(Action)
    expired = (
        select(lapsed.id, lapsed.account_id, func.coalesce(busy.c.n, 0))
        .select_from(lapsed)
        .outerjoin(busy, busy.c.account_id == lapsed.account_id)
        .where(
            lapsed.status == ActionStatus.RUNNING,
            lapsed.lease_expires_at < NOW,
            _first_in_line(lapsed),
            _not_in(lapsed),
            _on_hosts(lapsed, by_host),
        )
    )
    return heads.union_all(expired).subquery("candidates")


def _running():  # type: ignore[no-untyped-def]
    """The number of actions running (live leases) per account: one pass over the running
    actions (a few per worker), not one per waiting account."""
    running = aliased(Action)
    return (
        select(running.account_id, func.count().label("n"))
        .where(running.status == ActionStatus.RUNNING, running.lease_expires_at >= NOW)
        .group_by(running.account_id)
        .cte("busy")
    )


@functools.cache
def fair_order():  # type: ignore[no-untyped-def]
    """The candidates (see `_candidates`), best first: fewest running, then oldest; executed
    with `params(now, exclude)`."""
    candidates = _candidates()
    return select(candidates.c.id).order_by(candidates.c.busy, candidates.c.id)


@functools.cache
def _ranked(by_host: bool = False):  # type: ignore[no-untyped-def]
    """`fair_order` with each candidate's account and running count (of servers on HOSTS
    only, `by_host`)."""
    candidates = _candidates(by_host)
    return select(candidates.c.id, candidates.c.account_id, candidates.c.busy).order_by(
        candidates.c.busy, candidates.c.id
    )


async def claim_next(
    session: AsyncSession, *, owner: str, lease_seconds: float, exclude: set[int]
) -> Action | None:
    """Claim the next action, fairly between accounts, in the caller's write transaction.

    The next action is the oldest claimable one of the account with the fewest actions
    running (on all workers; ties: the account whose claimable action is oldest). So an
    account's single action waits for at most the actions already running, not for another
    account's backlog, and an account's own actions run oldest first. An action is claimable
    when it is queued (or running with a lease that ran out) and no earlier action of its
    server is open: one server's actions never overtake each other.

    On PostgreSQL the candidate row is locked with FOR UPDATE SKIP LOCKED, so concurrent
    workers each take a different action instead of queueing on the same row (a worker
    that finds one account's candidate locked takes the next account's); on SQLite the
    write transaction (BEGIN IMMEDIATE) already admits one claimer at a time. The claim
    itself is still a compare-and-set (`claim`), so a lost race returns None."""
    now = utcnow()
    # None: an account whose queued actions all wait behind their servers' open ones
    ids = [aid for aid in await session.scalars(fair_order(), params(now, exclude)) if aid is not None]
    ids = ids[:CANDIDATES]
    if not ids:
        return None
    # Lock the first candidate no other claimer holds; in a statement of its own, so that
    # the plan is primary-key lookups whatever the planner thinks of the walk above.
    q = (
        select(Action.id)
        .where(Action.id.in_(ids), or_(Action.status == ActionStatus.QUEUED, Action.lease_expires_at < now))
        .order_by(case({aid: rank for rank, aid in enumerate(ids)}, value=Action.id))
        .limit(1)
        .with_for_update(skip_locked=True, of=Action)
    )
    action_id = await session.scalar(q)
    if action_id is None:
        return None
    return await claim(session, action_id=action_id, owner=owner, lease_seconds=lease_seconds)


async def claim_batch(
    session: AsyncSession,
    *,
    owner: str,
    lease_seconds: float,
    exclude: set[int],
    limit: int,
    hosts: list[int] | None = None,
) -> tuple[list[Action], bool]:
    """Claim up to `limit` actions in the caller's write transaction, in the order `claim_next`
    called `limit` times would claim them; also whether more were claimable than taken.

    One read of the fair order serves a whole tier: the candidates of the accounts with the
    fewest running (one each: the account's running count grows with its claim, so its next
    action waits for the next tier), oldest first. Those are claimed together, then the
    order is read again, with them running, for the next tier. One server's actions never
    overtake each other: only an action first in its server's line is a candidate, and a
    claimed one is open, so the next of its server waits for it.

    On PostgreSQL a tier's rows are locked with FOR UPDATE SKIP LOCKED: a candidate another
    worker is claiming is left to it, and the next in the fair order takes its place; on
    SQLite the write transaction (BEGIN IMMEDIATE) admits one claimer at a time. Each claim
    is still the compare-and-set of `claim` (lease, fence + 1).

    With `hosts`, only actions of servers on those hosts are claimed (a worker per host)."""
    claimed: list[Action] = []
    skip = set(exclude)
    more = False
    while len(claimed) < limit:
        now = utcnow()
        # None: an account whose queued actions all wait behind their servers' open ones
        ranked = _ranked(hosts is not None)
        rows = [
            r for r in (await session.execute(ranked, params(now, skip, hosts))).all() if r.id is not None
        ]
        rows = rows[:CANDIDATES]
        locked_out = False
        taken: list[int] = []
        while rows and not taken:
            tier: list[int] = []
            accounts: set[int] = set()
            for r in rows:
                if r.busy != rows[0].busy:
                    break
                if r.account_id not in accounts:
                    accounts.add(r.account_id)
                    tier.append(r.id)
            tier = tier[: limit - len(claimed)]
            taken = list(
                await session.scalars(
                    select(Action.id)
                    .where(
                        Action.id.in_(tier),
                        or_(Action.status == ActionStatus.QUEUED, Action.lease_expires_at < now),
                    )
                    .order_by(Action.id)
                    .with_for_update(skip_locked=True, of=Action)
                )
            )
            # the ones another worker holds are its to claim; the rest of the order stands
            locked_out = locked_out or len(taken) < len(tier)
            skip.update(tier)
            rows = [r for r in rows if r.id not in tier]
        more = bool(rows) or locked_out
        if not taken:
            break
        result = await session.execute(
            update(Action)
            .where(Action.id.in_(taken), _claimable(now))
            .values(_claimed(owner, now, lease_seconds))
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            claimed += list(
                await session.scalars(
                    select(Action)
                    .where(
                        Action.id.in_(taken),
                        Action.lease_owner == owner,
                        Action.status == ActionStatus.RUNNING,
                    )
                    .order_by(Action.id)
                    .execution_options(populate_existing=True)
                )
            )
    return claimed, more or len(claimed) >= limit


def _claimed(owner: str, now: datetime, lease_seconds: float) -> dict[str, Any]:
    """What a claim writes: running, leased to `owner`, the fence and attempts bumped."""
    return {
        "status": ActionStatus.RUNNING,
        "lease_owner": owner,
        "lease_expires_at": now + timedelta(seconds=lease_seconds),
        "fence": Action.fence + 1,
        "attempts": Action.attempts + 1,
        "started_at": func.coalesce(Action.started_at, now),
    }


async def claim(session: AsyncSession, *, action_id: int, owner: str, lease_seconds: float) -> Action | None:
    """Take the action with a lease; None if someone else was faster. Bumps the fence."""
    now = utcnow()
    result = await session.execute(
        update(Action)
        .where(Action.id == action_id, _claimable(now))
        .values(_claimed(owner, now, lease_seconds))
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


async def renew_many(session: AsyncSession, *, leases: dict[int, int], lease_seconds: float) -> set[int]:
    """Extend several leases (action id: the fence we claimed it with) in one statement;
    the ids still ours (the others are another claim's now)."""
    if not leases:
        return set()
    result = await session.execute(
        update(Action)
        .where(
            tuple_(Action.id, Action.fence).in_(list(leases.items())), Action.status == ActionStatus.RUNNING
        )
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        .returning(Action.id)
        .execution_options(synchronize_session=False)
    )
    return set(result.scalars())


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


async def finish_many(session: AsyncSession, *, outcomes: dict[tuple[int, int], str | None]) -> set[int]:
    """Record several outcomes ((action id, the fence we claimed it with): error or None for
    success); the ids recorded. The successes are one statement; a stale claim (fence or
    status changed) is left alone, as `finish` leaves it."""
    done: set[int] = set()
    succeeded = [key for key, error in outcomes.items() if error is None]
    if succeeded:
        result = await session.execute(
            update(Action)
            .where(tuple_(Action.id, Action.fence).in_(succeeded), Action.status == ActionStatus.RUNNING)
            .values(
                status=ActionStatus.SUCCESS,
                error=None,
                finished_at=utcnow(),
                lease_owner=None,
                lease_expires_at=None,
            )
            .returning(Action.id)
            .execution_options(synchronize_session=False)
        )
        done.update(result.scalars())
    for (action_id, fence), error in outcomes.items():
        if error is not None and await finish(session, action_id=action_id, fence=fence, error=error):
            done.add(action_id)
    return done
