"""Suspension: the provider powers a server off and the customer cannot power it on.

Billing suspends every server of an account whose balance falls to zero or below, and lifts
those suspensions when a credit brings the balance above zero; an operator can suspend and
unsuspend one server (vpsorg.admin). Suspending sets the status at once and queues a
`suspend` action (the worker powers the machine off); lifting returns the server to the
power state it was in or headed for, through a `start` or `stop` action.
"""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.actions import service as actions
from vpsorg.actions.models import Action
from vpsorg.db import utcnow
from vpsorg.servers.models import Server
from vpsorg.servers.states import TRANSITIONS, ActionType, ServerStatus

BY_BILLING = "billing"
BY_ADMIN = "admin"

# The status a suspended server returns to: where it was, or where it was going.
RESUME_TO = {
    ServerStatus.PROVISIONING: ServerStatus.ACTIVE,
    ServerStatus.ACTIVE: ServerStatus.ACTIVE,
    ServerStatus.STARTING: ServerStatus.ACTIVE,
    ServerStatus.REBOOTING: ServerStatus.ACTIVE,
    ServerStatus.STOPPING: ServerStatus.STOPPED,
    ServerStatus.STOPPED: ServerStatus.STOPPED,
}


def can_suspend(server: Server) -> bool:
    """Servers in `error` have no known machine to power off; they are left alone."""
    return server.deleted_at is None and ServerStatus(server.status) in RESUME_TO


async def suspend(session: AsyncSession, server: Server, *, by: str, reason: str) -> Action | None:
    """Suspend a server (its row locked by the caller). A server already suspended only
    changes hands (an operator's suspension outlives a top-up); None then."""
    if server.status == ServerStatus.SUSPENDED:
        if by == BY_ADMIN:
            server.suspension = BY_ADMIN
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


async def suspend_account(session: AsyncSession, *, account_id: int, reason: str) -> int:
    """Suspend every server of the account that is not suspended yet; how many were."""
    servers = await session.scalars(
        select(Server)
        .where(
            Server.account_id == account_id,
            Server.deleted_at.is_(None),
            Server.status.in_(list(RESUME_TO)),
        )
        .order_by(Server.id)
        .with_for_update()
    )
    done = 0
    for server in servers:
        if await suspend(session, server, by=BY_BILLING, reason=reason) is not None:
            done += 1
    return done


async def lift_account(session: AsyncSession, *, account_id: int, reason: str) -> int:
    """Lift the billing suspensions of the account's servers (not an operator's)."""
    servers = await session.scalars(
        select(Server)
        .where(
            Server.account_id == account_id,
            Server.deleted_at.is_(None),
            Server.status == ServerStatus.SUSPENDED,
            Server.suspension == BY_BILLING,
        )
        .order_by(Server.id)
        .with_for_update()
    )
    done = 0
    for server in servers:
        await lift(session, server, reason=reason)
        done += 1
    return done
