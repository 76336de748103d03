"""Bring the database in line with the hypervisor, the authority on power state.

Only servers in a stable status with no open action, unchanged since the hypervisor was
asked, are corrected; each correction writes a `sync` action saying why. A machine that no
server owns is logged, never destroyed.
"""

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vpsorg import metrics
from vpsorg.actions import service as actions
from vpsorg.db import utcnow
from vpsorg.drivers.base import Driver
from vpsorg.servers.models import Server
from vpsorg.servers.states import EXPECTED_POWER, ActionStatus, ActionType, PowerState, ServerStatus

log = logging.getLogger("vpsorg.reconcile")

# What reconcile makes of a stable server whose machine is in an unexpected power state.
CORRECTION = {
    (ServerStatus.ACTIVE, PowerState.SHUTOFF): ServerStatus.STOPPED,
    (ServerStatus.STOPPED, PowerState.RUNNING): ServerStatus.ACTIVE,
}


async def run(sessions: async_sessionmaker[AsyncSession], driver: Driver) -> int:
    """One pass; returns how many servers were corrected."""
    asked_at = utcnow()
    machines = {m.server_id: m.power_state for m in await driver.list_machines()}
    async with sessions() as session:
        rows = (
            await session.execute(
                select(Server.id, Server.status, Server.power_state).where(
                    Server.deleted_at.is_(None), Server.provisioned_at.is_not(None)
                )
            )
        ).all()
        known = set(await session.scalars(select(Server.id).where(Server.ipv4_address.is_not(None))))
    orphans = sorted(set(machines) - known)
    for orphan in orphans:
        log.warning("machine for server %s exists on the hypervisor but no live server owns it", orphan)
    metrics.ORPHAN_MACHINES.set(len(orphans))
    fixed = 0
    for sid, status, power in rows:
        actual = machines.get(sid, PowerState.MISSING)
        expected = EXPECTED_POWER.get(ServerStatus(status))
        if expected is None or actual == expected:
            if power != actual and expected is not None:
                await _set_power_state(sessions, sid, actual)
            continue
        if await _correct(sessions, sid, ServerStatus(status), actual, asked_at):
            fixed += 1
            metrics.CORRECTIONS.inc()
    return fixed


async def _set_power_state(sessions: async_sessionmaker[AsyncSession], sid: int, actual: PowerState) -> None:
    async with sessions.begin() as session:
        server = await session.get(Server, sid)
        if server is not None:
            server.power_state = actual


async def _correct(
    sessions: async_sessionmaker[AsyncSession],
    sid: int,
    seen: ServerStatus,
    actual: PowerState,
    asked_at: object,
) -> bool:
    async with sessions.begin() as session:
        server = await session.get(Server, sid)
        if (
            server is None
            or server.deleted_at is not None
            or server.status != seen
            or server.updated_at > asked_at  # type: ignore[operator]
            or await actions.has_open(session, server_id=sid)
        ):
            return False  # changed meanwhile; the next pass will look again
        target = CORRECTION.get((seen, actual))
        if actual == PowerState.MISSING:
            target = ServerStatus.ERROR
            reason = error = "the machine vanished from the hypervisor"
        elif target is None:
            server.power_state = actual
            return False  # e.g. a suspended server found running: noted, left to an operator
        else:
            reason, error = f"the hypervisor reports the machine {actual}", None
        log.warning("server %s: %s; status %s -> %s", sid, reason, seen, target)
        server.status = target
        server.power_state = actual
        server.error = error
        server.updated_at = utcnow()
        await actions.record(
            session,
            account_id=server.account_id,
            server_id=sid,
            type=ActionType.SYNC,
            status=ActionStatus.ERROR if error else ActionStatus.SUCCESS,
            reason=reason,
            error=error,
        )
        return True
