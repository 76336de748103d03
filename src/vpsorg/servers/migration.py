"""Migration: an operator moves a server to another host of its location; a drain moves every
server off a host.

A migration is a `migrate` action, queued in the transaction that checks the server's
status, chooses the target host and reserves the server's room there (`hosts.place`, or
`hosts.reserve` for a host the operator named), and sets the status `migrating`. The action
keeps the host it leaves, the host it goes to and the status to return to; the worker moves
the machine (a cold migration: stopped, its disk copied, defined on the target, started
again if it was running) and `lifecycle` applies the outcome: on success the server is on
the target and the source's room is given back, on failure the target's reservation is
given back and the server is where it was, in the status it had.

Migrations off one host run one at a time (`actions.service._first_off_host`): a drain
queues them all at once, and each waits for the one before. Customers see the action and the
status; never a host's name (no message written here names one).
"""

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.actions import service as actions
from vpsorg.actions.models import Action
from vpsorg.catalog.models import Location, Plan
from vpsorg.db import utcnow
from vpsorg.errors import CapacityExhausted, InvalidState, NotFound, ValidationFailed
from vpsorg.hosts import service as hosts
from vpsorg.hosts.models import Host
from vpsorg.servers.models import Server
from vpsorg.servers.states import MIGRATABLE, ActionStatus, ActionType, ServerStatus

BY_OPERATOR = "moved to another host by an operator"
BY_DRAIN = "moved to another host: its host is being emptied for maintenance"


@dataclass
class Drain:
    """What a drain did: the host, the migrations queued, and the servers left on it with
    the reason (a failed migration recorded for each that found no room)."""

    host: Host
    queued: list[tuple[Server, Action]] = field(default_factory=list)
    failed: list[tuple[Server, str]] = field(default_factory=list)


async def _locked_server(session: AsyncSession, server_id: int) -> Server:
    server = await session.scalar(
        select(Server).where(Server.id == server_id, Server.deleted_at.is_(None)).with_for_update()
    )
    if server is None:
        raise NotFound(f"Server {server_id} not found")
    return server


async def _target(session: AsyncSession, server: Server, name: str) -> Host:
    """The host an operator named, if a server may move there (its room not checked yet)."""
    target = await session.scalar(select(Host).where(Host.name == name))
    if target is None:
        raise ValidationFailed.field("host", f"no host named {name!r}")
    if target.id == server.host_id:
        raise ValidationFailed.field("host", f"server {server.id} is on host {name!r} already")
    if target.location_id != server.location_id:
        raise ValidationFailed.field("host", f"host {name!r} is in another location than server {server.id}")
    if target.state != hosts.HostState.ENABLED:
        raise ValidationFailed.field("host", f"host {name!r} is {target.state}, not enabled")
    return target


async def _queue(
    session: AsyncSession,
    server: Server,
    *,
    to: str | None,
    policy: hosts.Policy,
    reason: str,
) -> tuple[Action, Host]:
    """Check, choose, reserve and queue (the server's row locked by the caller)."""
    status = ServerStatus(server.status)
    if status not in MIGRATABLE:
        raise InvalidState(
            f"Cannot migrate a server that is {status} (only active, stopped or suspended ones)",
            details={"status": status, "action": ActionType.MIGRATE},
        )
    if server.host_id is None:
        raise InvalidState(f"Server {server.id} is on no host", details={"status": status})
    plan = await session.get(Plan, server.plan_id)
    assert plan is not None
    need = hosts.need_of(plan)
    if to is not None:
        target = await _target(session, server, to)
        await hosts.reserve(session, host=target, need=need)
    else:
        location = await session.get(Location, server.location_id)
        assert location is not None
        try:
            target_id = await hosts.place(
                session, location=location, need=need, policy=policy, exclude=server.host_id
            )
        except CapacityExhausted:
            raise CapacityExhausted(
                f"No other host in location {location.code!r} has room for this server's plan",
                details={"location": location.code},
            ) from None
        found = await session.get(Host, target_id)
        assert found is not None
        target = found
    server.status = ServerStatus.MIGRATING
    server.updated_at = utcnow()
    action = await actions.enqueue(
        session,
        account_id=server.account_id,
        server_id=server.id,
        type=ActionType.MIGRATE,
        reason=reason,
        source_host_id=server.host_id,
        target_host_id=target.id,
        resume_status=status,
    )
    return action, target


async def migrate_server(
    session: AsyncSession,
    *,
    server_id: int,
    to: str | None = None,
    policy: hosts.Policy = hosts.Policy.SPREAD,
    reason: str = BY_OPERATOR,
) -> tuple[Server, Action, Host]:
    """Queue the server's migration to host `to` (same location, enabled, not its own, with
    room), else to the host placement chooses; the server, the action and the target.

    InvalidState unless the server is active, stopped or suspended; ValidationFailed for a
    host it cannot go to; CapacityExhausted (503) when there is no room: then nothing
    changed (the caller's transaction rolls back)."""
    server = await _locked_server(session, server_id)
    action, target = await _queue(session, server, to=to, policy=policy, reason=reason)
    return server, action, target


async def drain_host(
    session: AsyncSession, *, host_id: int, policy: hosts.Policy = hosts.Policy.SPREAD
) -> Drain:
    """Set the host draining (no new servers) and queue a migration off it for every server
    on it (placement chooses each target); servers migrating already are left to their
    migration. A server with no room elsewhere gets a failed `migrate` action saying so, and
    stays where it is, running as it was; so does one in a status that cannot move now
    (provisioning, error, ...), without an action. The host becomes disabled once no server
    is left on it (at once, when it holds none)."""
    host = await hosts.set_state(session, host_id=host_id, state=hosts.HostState.DRAINING)
    done = Drain(host)
    on_host = await session.scalars(
        select(Server)
        .where(Server.host_id == host.id, Server.deleted_at.is_(None))
        .order_by(Server.id)
        .with_for_update()
    )
    for server in list(on_host):
        status = ServerStatus(server.status)
        if status == ServerStatus.MIGRATING:
            continue
        if status not in MIGRATABLE:
            done.failed.append((server, f"cannot migrate a server that is {status}; drain again later"))
            continue
        try:
            action, _ = await _queue(session, server, to=None, policy=policy, reason=BY_DRAIN)
        except CapacityExhausted as exc:
            await actions.record(
                session,
                account_id=server.account_id,
                server_id=server.id,
                type=ActionType.MIGRATE,
                status=ActionStatus.ERROR,
                reason=BY_DRAIN,
                error=exc.message,
            )
            done.failed.append((server, exc.message))
            continue
        done.queued.append((server, action))
    await hosts.settle_drained(session, [host.id])
    await session.refresh(host)
    return done


async def release_cancelled(session: AsyncSession, cancelled: list[Action]) -> None:
    """Give back the room that cancelled (never run) migrations reserved on their targets."""
    for action in cancelled:
        if action.type != ActionType.MIGRATE or action.target_host_id is None:
            continue
        server = await session.get(Server, action.server_id)
        assert server is not None
        plan = await session.get(Plan, server.plan_id)
        assert plan is not None
        await hosts.release(session, host_id=action.target_host_id, need=hosts.need_of(plan))
