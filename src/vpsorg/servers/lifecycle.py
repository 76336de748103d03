"""A server's state machine after the API: the VM spec, an action's outcome, a reconcile correction.

The API half (what a customer may ask for, the status while it runs) is `servers.states`
and `servers.service`; this is the half the worker and reconcile apply, inside the
transaction they own. Nothing here calls a driver.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.actions import service as actions
from vpsorg.actions.models import Action
from vpsorg.billing import service as billing
from vpsorg.catalog.models import Location, OperatingSystem, Plan
from vpsorg.db import dialect_insert, utcnow
from vpsorg.drivers.base import Usage, VmSpec
from vpsorg.hosts import service as hosts
from vpsorg.ipam import service as ipam
from vpsorg.servers import resize
from vpsorg.servers.models import Server, ServerUsage
from vpsorg.servers.states import (
    POWER_AFTER,
    TRANSITIONS,
    ActionStatus,
    ActionType,
    PowerState,
    ServerStatus,
)
from vpsorg.snapshots import service as snapshots
from vpsorg.usage import service as usage_history

log = logging.getLogger("vpsorg.lifecycle")

# What reconcile makes of a stable server whose machine is in an unexpected power state.
CORRECTION = {
    (ServerStatus.ACTIVE, PowerState.SHUTOFF): ServerStatus.STOPPED,
    (ServerStatus.STOPPED, PowerState.RUNNING): ServerStatus.ACTIVE,
}


@dataclass(frozen=True)
class Migrated:
    """Where a migration left the machine, as the worker found it: on the target (`moved`),
    on the source (not moved), or unknown (None: on neither host, or the hypervisors did
    not say); and its power state there (None: unknown)."""

    target_host_id: int
    resume_status: ServerStatus
    moved: bool | None
    power: PowerState | None


@dataclass(frozen=True)
class Outcome:
    """A finished action whose result is the server's to take (its claim still held)."""

    action_id: int
    server_id: int
    kind: ActionType
    error: str | None
    usage: Usage | None
    migrated: Migrated | None = None  # a migration's
    snapshot_size: int | None = None  # a snapshot's, in GB


async def vm_specs(session: AsyncSession, server_ids: Sequence[int]) -> dict[int, VmSpec]:
    """The machine specs of these servers, read in one query."""
    rows = (
        await session.execute(
            select(Server, Plan, OperatingSystem, Location)
            .join(Plan, Plan.id == Server.plan_id)
            .join(OperatingSystem, OperatingSystem.id == Server.os_id)
            .join(Location, Location.id == Server.location_id)
            .where(Server.id.in_(server_ids))
        )
    ).all()
    return {server.id: _vm_spec(server, plan, os_, loc) for server, plan, os_, loc in rows}


async def hosts_of(session: AsyncSession, server_ids: Sequence[int]) -> dict[int, int | None]:
    """The host each of these servers is on (None: on none), in one query."""
    rows = await session.execute(select(Server.id, Server.host_id).where(Server.id.in_(server_ids)))
    return {sid: host_id for sid, host_id in rows}


def _vm_spec(server: Server, plan: Plan, os_: OperatingSystem, loc: Location) -> VmSpec:
    assert server.ipv4_address and server.ipv6_address
    return VmSpec(
        server_id=server.id,
        name=f"vps-{server.id}",
        hostname=server.hostname,
        vcpus=plan.vcpus,
        memory_mib=plan.memory,
        storage_gb=plan.storage,
        os_image=os_.image,
        ipv4_address=server.ipv4_address,
        ipv4_prefix=ipam.prefix_length(loc.ipv4_pool),
        ipv4_gateway=loc.ipv4_gateway,
        ipv6_address=server.ipv6_address,
        ipv6_prefix=ipam.prefix_length(loc.ipv6_pool),
        ipv6_gateway=loc.ipv6_gateway,
        ssh_public_keys=installed_keys(server),
        os_kernel=os_.kernel,
        os_initrd=os_.initrd,
        os_kernel_args=os_.kernel_args,
        user_data=server.user_data,
        generation=server.rebuilds,
        disk_snapshot=server.source_snapshot_id,
    )


def installed_keys(server: Server) -> tuple[str, ...]:
    """The public keys the machine is (to be) installed with: the list a rebuild gave, else
    the one key of its create."""
    if server.ssh_public_keys is not None:
        return tuple(server.ssh_public_keys)
    return (server.ssh_public_key,) if server.ssh_public_key else ()


async def apply_outcomes(session: AsyncSession, outcomes: Sequence[Outcome], *, now: datetime) -> None:
    """Each server's new state after its action's outcome, and its usage sample; for a batch
    at once (the servers, and the newest open action of each, read in two queries)."""
    if not outcomes:
        return
    ids = [o.server_id for o in outcomes]
    rows = {s.id: s for s in await session.scalars(select(Server).where(Server.id.in_(ids)))}
    newest_open = dict(
        (
            await session.execute(
                select(Action.server_id, func.max(Action.id))
                .where(Action.server_id.in_(ids), Action.status.in_(actions.OPEN))
                .group_by(Action.server_id)
            )
        ).all()
    )
    samples: list[dict[str, object]] = []
    gone: list[int] = []
    for o in outcomes:
        server = rows[o.server_id]
        # A later action already queued (a suspension behind a start, say) set the status it
        # needs; this outcome leaves the status to it.
        superseded = newest_open.get(server.id, 0) > o.action_id
        await _apply(session, o, server, superseded, now)
        if o.error is None and o.kind == ActionType.DELETE:
            gone.append(server.id)
        elif o.error is None and o.usage is not None:
            samples.append(usage_row(server.id, o.usage, now))
    await store_usage(session, samples)
    if gone:  # the machine is gone, and its samples with it, and its room on its host
        await session.execute(delete(ServerUsage).where(ServerUsage.server_id.in_(gone)))
        await usage_history.forget(session, gone)
        await _leave_hosts(session, [rows[sid] for sid in gone])


async def _leave_hosts(session: AsyncSession, servers: Sequence[Server]) -> None:
    """Give back to their hosts what these torn-down servers took (their plans); a draining
    host left empty is disabled."""
    placed = [s for s in servers if s.host_id is not None]
    if not placed:
        return
    plan_ids = {s.plan_id for s in placed}
    plans = {p.id: p for p in await session.scalars(select(Plan).where(Plan.id.in_(plan_ids)))}
    left = []
    for server in placed:
        assert server.host_id is not None
        await hosts.release(session, host_id=server.host_id, need=hosts.need_of(plans[server.plan_id]))
        left.append(server.host_id)
        server.host_id = None
    await session.flush()
    await hosts.settle_drained(session, left)


def _status_after_migration(resume: ServerStatus, power: PowerState | None) -> ServerStatus:
    """The status a server returns to after its migration: the one it had, except that an
    active server whose machine is not running (it did not start again) is stopped."""
    if resume == ServerStatus.ACTIVE and power != PowerState.RUNNING:
        return ServerStatus.STOPPED
    return resume


async def _migrated(session: AsyncSession, o: Outcome, server: Server, superseded: bool) -> None:
    """A migration's outcome: the server on the target (its room there was reserved when the
    migration was queued; the source's is given back), or where it was (the target's
    reservation given back); its status back to the one it had (unless a later action, or
    its deletion, decides it).

    Unknown whereabouts (the worker gave up, or neither host has the machine) leave the
    server on its source host, in error, for an operator to look at."""
    m = o.migrated
    assert m is not None
    plan = await session.get(Plan, server.plan_id)
    assert plan is not None
    need = hosts.need_of(plan)
    if m.moved:
        source = server.host_id
        if source is not None and source != m.target_host_id:
            await hosts.release(session, host_id=source, need=need)
        server.host_id = m.target_host_id
        await session.flush()
        await hosts.settle_drained(session, [source])
    else:
        await hosts.release(session, host_id=m.target_host_id, need=need)
    if m.power is not None:
        server.power_state = m.power
    if server.deleted_at is not None or superseded:
        return
    if m.moved is None:
        server.status = ServerStatus.ERROR
        server.error = o.error
        return
    server.status = _status_after_migration(m.resume_status, m.power)
    server.error = None


async def _apply(session: AsyncSession, o: Outcome, server: Server, superseded: bool, now: datetime) -> None:
    if o.kind == ActionType.SNAPSHOT:  # the snapshot's outcome; the server is as it was
        await snapshots.record_outcome(
            session, action_id=o.action_id, size_gb=o.snapshot_size, error=o.error, now=now
        )
        return
    server.updated_at = now
    if o.kind == ActionType.MIGRATE:
        await _migrated(session, o, server, superseded)
        return
    if o.kind == ActionType.RESIZE:
        if o.error is None:
            server.power_state = POWER_AFTER[o.kind]
        await resize.apply_outcome(
            session, action_id=o.action_id, server=server, error=o.error, superseded=superseded, now=now
        )
        return
    if o.error is not None:
        server.error = o.error
        if server.deleted_at is None and not superseded:
            server.status = ServerStatus.ERROR
        return
    server.power_state = POWER_AFTER[o.kind]
    if o.kind == ActionType.DELETE:
        await ipam.release(session, server=server)  # the machine is gone: addresses reusable
        return
    if server.deleted_at is None and not superseded:
        done = TRANSITIONS[o.kind].on_success
        assert done is not None
        server.status = done
        server.error = None
    if o.kind == ActionType.CREATE:
        server.provisioned_at = now
        billing.start_charging(server, now=now)


def usage_row(server_id: int, usage: Usage, now: datetime) -> dict[str, object]:
    return {
        "server_id": server_id,
        "cpu_percent": usage.cpu_percent,
        "memory_used": usage.memory_used,
        "disk_used": usage.disk_used,
        "bandwidth_used": usage.bandwidth_used,
        "sampled_at": now,
    }


async def store_usage(session: AsyncSession, rows: list[dict[str, object]]) -> None:
    """Keep these usage samples (`usage_row`s) as each server's latest, in one upsert, and
    in its history (vpsorg.usage), in one more.

    An upsert, not a read and an insert: a sampling pass and an outcome may write the same
    server's row at once (a read, then an insert, would then break the unique key)."""
    if rows:
        await session.execute(_upsert_usage(session), rows)
        await usage_history.store_samples(session, rows)


def _upsert_usage(session: AsyncSession) -> Any:
    """INSERT ... ON CONFLICT (server_id) DO UPDATE, in the session's dialect."""
    stmt = dialect_insert(session)(ServerUsage)
    return stmt.on_conflict_do_update(
        index_elements=[ServerUsage.server_id],
        set_={
            c: stmt.excluded[c]
            for c in ("cpu_percent", "memory_used", "disk_used", "bandwidth_used", "sampled_at")
        },
    )


async def note_power_state(session: AsyncSession, *, server_id: int, actual: PowerState) -> None:
    """The hypervisor's power state, where it agrees with the status (nothing to correct)."""
    server = await session.get(Server, server_id)
    if server is not None:
        server.power_state = actual


async def correct(
    session: AsyncSession,
    *,
    server_id: int,
    seen: ServerStatus,
    actual: PowerState,
    asked_at: datetime,
) -> bool:
    """Bring a stable server in line with the power state the hypervisor reported at
    `asked_at`, with a `sync` action saying why; False if it changed meanwhile (the next
    pass looks again) or is left to an operator."""
    server = await session.get(Server, server_id)
    if (
        server is None
        or server.deleted_at is not None
        or server.status != seen
        or server.updated_at > asked_at
        or await actions.has_open(session, server_id=server_id)
    ):
        return False
    target = CORRECTION.get((seen, actual))
    if actual == PowerState.MISSING:
        target = ServerStatus.ERROR
        reason = error = "the machine vanished from the hypervisor"
    elif target is None:
        server.power_state = actual
        return False  # e.g. a suspended server found running: noted, left to an operator
    else:
        reason, error = f"the hypervisor reports the machine {actual}", None
    log.warning("server %s: %s; status %s -> %s", server_id, reason, seen, target)
    server.status = target
    server.power_state = actual
    server.error = error
    server.updated_at = utcnow()
    await actions.record(
        session,
        account_id=server.account_id,
        server_id=server_id,
        type=ActionType.SYNC,
        status=ActionStatus.ERROR if error else ActionStatus.SUCCESS,
        reason=reason,
        error=error,
    )
    return True
