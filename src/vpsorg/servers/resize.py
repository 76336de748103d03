"""Resize: a stopped server gets another plan's vCPUs, memory and disk.

The request (`request_resize`) checks the status (stopped only), the plan (another one, whose
disk is at least the server's: a disk only grows), the credit (one month of the price
difference, as a create checks a month of its plan) and the room on the server's host (the
difference between the plans, taken there at once; never a migration), then gives the
server the new plan, sets `resizing` and queues a `resize` action that keeps the plan it
leaves. The plan changes at request time so that the host's counters, the machine's spec
the worker reads and a delete meanwhile (whose teardown gives back the plan's room) all
agree on one plan at every moment.

The prices do not change at request time but when the worker has resized the machine
(`apply_outcome`): billing charges every hour that started until then at the old prices,
carries what the month cost so far and charges the later hours at the new prices
(vpsorg.billing.prices). A resize that never ran costs nothing more. A failed one gives
the old plan back, and the host's room, and leaves the server stopped with the error.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.actions import service as actions
from vpsorg.actions.models import Action
from vpsorg.billing import prices
from vpsorg.billing import service as billing
from vpsorg.catalog.models import Plan
from vpsorg.db import utcnow
from vpsorg.errors import CapacityExhausted, InvalidState, NotFound, ValidationFailed
from vpsorg.hosts import service as hosts
from vpsorg.servers import service as servers
from vpsorg.servers.models import Server
from vpsorg.servers.states import ActionType, ServerStatus, can_request

BILLING_COLUMNS = [
    "price_hourly",
    "price_monthly",
    "billed_until",
    "billing_month",
    "month_hours",
    "month_backup_hours",
    "month_carried",
]


async def _new_plan(session: AsyncSession, server: Server, plan_id: int) -> tuple[Plan, Plan]:
    """The plan asked for, if the server may take it, and the server's own."""
    new = await session.get(Plan, plan_id)
    if new is None or not new.available:  # as a create answers an unknown plan
        raise ValidationFailed.field("plan_id", f"no plan with id {plan_id}")
    old = await session.get(Plan, server.plan_id)
    assert old is not None
    if new.id == old.id:
        raise ValidationFailed.field("plan_id", f"server {server.id} has plan {plan_id} ({old.name}) already")
    if new.storage < old.storage:
        raise ValidationFailed.field(
            "plan_id",
            f"a disk only grows: plan {plan_id} ({new.name}) has {new.storage} GB, "
            f"the server has {old.storage} GB",
        )
    return new, old


def _check_credit(account: Any, server: Server, old: Plan, new: Plan) -> None:
    """One month of the difference must be available (nothing is asked of a cheaper plan)."""
    backups = server.backups_enabled
    more = prices.monthly_price(new.price_monthly, backups=backups) - prices.monthly_price(
        server.price_monthly, backups=backups
    )
    if more > 0:
        billing.check_credit(
            account,
            committed=billing.committed(account),
            count=account.live_servers,
            monthly=more,
            what=f"the resize from {old.name} to {new.name}",
        )


async def request_resize(
    session: AsyncSession, *, account_id: int, server_id: int, plan_id: int
) -> tuple[Server, Action]:
    """Check, take the host's room, give the server the plan and queue the resize."""
    # The account row first, then the server's: billing's lock order (charge_account).
    account = await session.run_sync(lambda s: billing.lock_counted(s.connection(), account_id))
    server = await servers.get_for_update(session, account_id=account_id, server_id=server_id)
    status = ServerStatus(server.status)
    if not can_request(ActionType.RESIZE, status):
        raise InvalidState(
            f"Cannot resize a server that is {status} (stop it first)",
            details={"status": status, "action": ActionType.RESIZE},
        )
    new, old = await _new_plan(session, server, plan_id)
    _check_credit(account, server, old, new)
    if server.host_id is not None:
        more = hosts.difference(hosts.need_of(new), hosts.need_of(old))
        if not await hosts.grow(session, host_id=server.host_id, more=more):
            # Never a host's name to a customer; never a silent migration either.
            raise CapacityExhausted(
                f"The server's host has no room for plan {new.id} ({new.name}); "
                "try a smaller plan or try again later",
                details={"plan_id": new.id},
            )
    server.plan_id = new.id
    server.status = ServerStatus.RESIZING
    server.updated_at = utcnow()
    action = await actions.enqueue(
        session, account_id=account_id, server_id=server.id, type=ActionType.RESIZE
    )
    action.from_plan_id = old.id
    await session.flush()
    return server, action


async def apply_outcome(
    session: AsyncSession,
    *,
    action_id: int,
    server: Server,
    error: str | None,
    superseded: bool,
    now: datetime,
) -> None:
    """The worker's half: on success the server is stopped on its new plan, billed at its
    prices from its next hour on; on failure it has its old plan (and room) back, stopped,
    with the error. A later action (a delete) decides the status instead."""
    action = await session.get(Action, action_id)
    assert action is not None and action.from_plan_id is not None
    if error is None:
        plan = await session.get(Plan, server.plan_id)
        assert plan is not None
        if server.deleted_at is None:
            with session.no_autoflush:  # billing's lock order: the account before the server
                await billing.reprice(
                    session,
                    server_id=server.id,
                    hourly=plan.price_hourly,
                    monthly=plan.price_monthly,
                    now=now,
                )
            session.expire(server, BILLING_COLUMNS)  # written by billing, with Core
        server.error = None
    else:
        await _undo(session, server, action.from_plan_id)
        server.error = error
    server.updated_at = now
    if server.deleted_at is None and not superseded:
        server.status = ServerStatus.STOPPED


async def _undo(session: AsyncSession, server: Server, old_plan_id: int) -> None:
    """The old plan back, and the host's room the resize took."""
    old = await session.get(Plan, old_plan_id)
    new = await session.get(Plan, server.plan_id)
    assert old is not None and new is not None
    if server.host_id is not None:
        less = hosts.difference(hosts.need_of(new), hosts.need_of(old))
        await hosts.shrink(session, host_id=server.host_id, less=less)
    server.plan_id = old.id


@dataclass(frozen=True)
class PlanChoice:
    """A plan the server may be resized to, and what it would change of its month."""

    plan: Plan
    monthly_difference: Decimal  # the new plan's month minus the server's, backups included


async def plan_choices(session: AsyncSession, *, account_id: int, server_id: int) -> list[PlanChoice]:
    """The available plans the server may take (another plan, a disk at least as large as
    its own), each with the monthly price difference the resize's credit check counts."""
    server = await session.scalar(
        select(Server).where(
            Server.id == server_id, Server.account_id == account_id, Server.deleted_at.is_(None)
        )
    )
    if server is None:
        raise NotFound(f"Server {server_id} not found")
    old = await session.get(Plan, server.plan_id)
    assert old is not None
    backups = server.backups_enabled
    now = prices.monthly_price(server.price_monthly, backups=backups)
    plans = await session.scalars(
        select(Plan)
        .where(Plan.available, Plan.id != old.id, Plan.storage >= old.storage)
        .order_by(Plan.price_monthly, Plan.id)
    )
    return [
        PlanChoice(plan=p, monthly_difference=prices.monthly_price(p.price_monthly, backups=backups) - now)
        for p in plans
    ]
