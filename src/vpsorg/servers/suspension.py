"""Suspension: the provider powers a server off and the customer cannot power it on.

Billing suspends every server of an account whose balance falls to zero or below, and lifts
those suspensions when a credit brings the balance above zero; an operator can suspend and
unsuspend one server, or a whole account (vpsorg.admin). Suspending sets the status at once
and queues a `suspend` action (the worker powers the machine off); lifting returns the
server to the power state it was in or headed for, through a `start` or `stop` action.

A suspended server has one owner (`servers.suspension`), who alone lifts it: an operator's
suspension of the server (`admin`) outranks an operator's suspension of its account
(`account`), which outranks billing's (`billing`). Suspending a server that is suspended
already hands it to the higher of the two. When an account's suspension ends, its servers
go back to billing while the balance is at or below zero (a top-up then lifts them), and
are lifted otherwise: so a server is suspended by billing exactly while billing would
suspend it.
"""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.actions import service as actions
from vpsorg.actions.models import Action
from vpsorg.db import utcnow
from vpsorg.servers.models import Server
from vpsorg.servers.states import TRANSITIONS, ActionType, ServerStatus

BY_BILLING = "billing"
BY_ACCOUNT = "account"
BY_ADMIN = "admin"
# Who outranks whom (see the module docstring).
RANK = {BY_BILLING: 0, BY_ACCOUNT: 1, BY_ADMIN: 2}

# The status a suspended server returns to: where it was, or where it was going.
RESUME_TO = {
    ServerStatus.PROVISIONING: ServerStatus.ACTIVE,
    ServerStatus.ACTIVE: ServerStatus.ACTIVE,
    ServerStatus.STARTING: ServerStatus.ACTIVE,
    ServerStatus.REBOOTING: ServerStatus.ACTIVE,
    ServerStatus.REBUILDING: ServerStatus.ACTIVE,
    ServerStatus.STOPPING: ServerStatus.STOPPED,
    ServerStatus.STOPPED: ServerStatus.STOPPED,
}


def can_suspend(server: Server) -> bool:
    """Servers in `error` have no known machine to power off; they are left alone."""
    return server.deleted_at is None and ServerStatus(server.status) in RESUME_TO


async def suspend(session: AsyncSession, server: Server, *, by: str, reason: str) -> Action | None:
    """Suspend a server (its row locked by the caller). A server already suspended only
    changes hands, to the higher owner (an operator's suspension outlives a top-up); None then."""
    if server.status == ServerStatus.SUSPENDED:
        if RANK[by] > RANK.get(server.suspension or BY_BILLING, 0):
            server.suspension = by
        return None
    server.resume_status = RESUME_TO[ServerStatus(server.status)]
    server.suspension = by
    server.status = ServerStatus.SUSPENDED
    server.updated_at = utcnow()
    return await actions.enqueue(
        session, account_id=server.account_id, server_id=server.id, type=ActionType.SUSPEND, reason=reason
    )


async def lift(session: AsyncSession, server: Server, *, reason: str) -> Action:
    """Back to the power state it had: a `start` or a `stop` action (the latter makes sure
    the machine is off, and costs nothing when it already is)."""
    target = ServerStatus(server.resume_status or ServerStatus.STOPPED)
    kind = ActionType.START if target == ServerStatus.ACTIVE else ActionType.STOP
    during = TRANSITIONS[kind].during
    assert during is not None
    server.status = during
    server.suspension = server.resume_status = None
    server.updated_at = utcnow()
    return await actions.enqueue(
        session, account_id=server.account_id, server_id=server.id, type=kind, reason=reason
    )


async def suspend_account(
    session: AsyncSession, *, account_id: int, reason: str, by: str = BY_BILLING
) -> list[Action]:
    """Suspend every server of the account that can be and is not suspended by `by` or a
    higher owner yet (those suspended by a lower one change hands); the actions queued."""
    lower = [owner for owner, rank in RANK.items() if rank < RANK[by]]
    servers = await session.scalars(
        select(Server)
        .where(
            Server.account_id == account_id,
            Server.deleted_at.is_(None),
            Server.status.in_(list(RESUME_TO))
            | ((Server.status == ServerStatus.SUSPENDED) & Server.suspension.in_(lower)),
        )
        .order_by(Server.id)
        .with_for_update()
    )
    queued = []
    for server in servers:
        action = await suspend(session, server, by=by, reason=reason)
        if action is not None:
            queued.append(action)
    return queued


async def _suspended_by(session: AsyncSession, account_id: int, by: str) -> list[Server]:
    servers = await session.scalars(
        select(Server)
        .where(
            Server.account_id == account_id,
            Server.deleted_at.is_(None),
            Server.status == ServerStatus.SUSPENDED,
            Server.suspension == by,
        )
        .order_by(Server.id)
        .with_for_update()
    )
    return list(servers)


async def lift_account(session: AsyncSession, *, account_id: int, reason: str) -> int:
    """Lift the billing suspensions of the account's servers (no operator's); how many."""
    servers = await _suspended_by(session, account_id, BY_BILLING)
    for server in servers:
        await lift(session, server, reason=reason)
    return len(servers)


async def end_account_suspension(
    session: AsyncSession, *, account_id: int, paid: bool, reason: str
) -> list[Action]:
    """The account's suspension is over: the servers it suspended are lifted if the balance
    is above zero (`paid`), else handed to billing, which lifts them at the next credit that
    brings it above zero. An operator's suspension of a single server stays. The actions
    queued."""
    servers = await _suspended_by(session, account_id, BY_ACCOUNT)
    if not paid:
        for server in servers:
            server.suspension = BY_BILLING
        await session.flush()
        return []
    return [await lift(session, server, reason=reason) for server in servers]
