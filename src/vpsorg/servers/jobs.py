"""The servers' periodic job: reconcile, bringing the database in line with the hypervisor.

The hypervisor is the authority on power state. Only servers in a stable status with no open
action, unchanged since the hypervisor was asked, are corrected (`lifecycle.correct`); each
correction writes a `sync` action saying why. A machine that no server owns is logged, never
destroyed.
"""

import logging

from sqlalchemy import select, true
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vpsorg import metrics
from vpsorg.db import utcnow
from vpsorg.drivers.base import Driver
from vpsorg.servers import lifecycle
from vpsorg.servers.models import Server
from vpsorg.servers.states import EXPECTED_POWER, PowerState, ServerStatus

log = logging.getLogger("vpsorg.reconcile")


async def reconcile_host(
    sessions: async_sessionmaker[AsyncSession], driver: Driver, host_id: int | None = None
) -> tuple[int, list[int]]:
    """One pass over one host's hypervisor and the servers placed on it (every server, for
    None); how many servers were corrected, and the machines (server ids) no server owns."""
    asked_at = utcnow()
    machines = {m.server_id: m.power_state for m in await driver.list_machines()}
    on_host = Server.host_id == host_id if host_id is not None else true()
    async with sessions() as session:
        rows = (
            await session.execute(
                select(Server.id, Server.status, Server.power_state).where(
                    Server.deleted_at.is_(None), Server.provisioned_at.is_not(None), on_host
                )
            )
        ).all()
        known = set(await session.scalars(select(Server.id).where(Server.ipv4_address.is_not(None), on_host)))
    orphans = sorted(set(machines) - known)
    for orphan in orphans:
        log.warning("machine for server %s exists on the hypervisor but no live server owns it", orphan)
    fixed = 0
    for sid, status, power in rows:
        actual = machines.get(sid, PowerState.MISSING)
        expected = EXPECTED_POWER.get(ServerStatus(status))
        if expected is None or actual == expected:
            if power != actual and expected is not None:
                async with sessions.begin() as session:
                    await lifecycle.note_power_state(session, server_id=sid, actual=actual)
            continue
        async with sessions.begin() as session:
            corrected = await lifecycle.correct(
                session, server_id=sid, seen=ServerStatus(status), actual=actual, asked_at=asked_at
            )
        if corrected:
            fixed += 1
            metrics.CORRECTIONS.inc()
    return fixed, orphans
