"""What operators do through /api/v1/admin/ (and the operator CLI): suspend and unsuspend any
server; see the fleet (hosts, every account's servers), add, change, enable, disable, drain
and remove hosts, migrate servers. Every change is recorded in the audit log in its own
transaction (vpsorg.admin.audit); `actor_id` is the operator's account, None for the
operator CLI. Accounts: vpsorg.admin.accounts."""

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.accounts.models import Account
from vpsorg.actions.models import Action
from vpsorg.admin import audit
from vpsorg.admin.audit import AuditAction
from vpsorg.billing.service import CURRENCY
from vpsorg.catalog.models import Location, Plan
from vpsorg.db import utcnow
from vpsorg.errors import InvalidState, NotFound, ValidationFailed
from vpsorg.hosts import service as hosts
from vpsorg.hosts.models import Host
from vpsorg.pagination import PageParams
from vpsorg.servers import migration, suspension
from vpsorg.servers.models import Server
from vpsorg.servers.states import ServerStatus


async def _server(session: AsyncSession, server_id: int) -> Server:
    server = await session.scalar(
        select(Server).where(Server.id == server_id, Server.deleted_at.is_(None)).with_for_update()
    )
    if server is None:
        raise NotFound(f"Server {server_id} not found")
    return server


async def suspend_server(
    session: AsyncSession, *, server_id: int, reason: str, actor_id: int | None
) -> tuple[Server, Action | None]:
    """Suspend one server; it stays suspended until an operator unsuspends it, whatever the
    account's balance or suspension do. A server suspended by billing or with its account
    becomes the operator's."""
    server = await _server(session, server_id)
    if not suspension.can_suspend(server) and server.status != ServerStatus.SUSPENDED:
        raise InvalidState(
            f"Cannot suspend a server that is {server.status}", details={"status": server.status}
        )
    action = await suspension.suspend(session, server, by=suspension.BY_ADMIN, reason=f"suspended: {reason}")
    await _record_server(session, AuditAction.SERVER_SUSPEND, server, action, actor_id, reason=reason)
    return server, action


async def unsuspend_server(
    session: AsyncSession, *, server_id: int, reason: str, actor_id: int | None
) -> tuple[Server, Action]:
    """Lift a suspension; refused while the account's balance is not above zero (billing
    would suspend it again at once) or the account is suspended (unsuspend the account)."""
    server = await _server(session, server_id)
    if server.status != ServerStatus.SUSPENDED:
        raise InvalidState(
            f"Server {server_id} is {server.status}, not suspended", details={"status": server.status}
        )
    account = (
        await session.execute(
            select(Account.balance, Account.suspended_at).where(Account.id == server.account_id)
        )
    ).one()
    if account.suspended_at is not None:
        raise InvalidState(
            f"The server's account {server.account_id} is suspended; unsuspend the account",
            details={"status": server.status, "account_id": server.account_id},
        )
    if account.balance <= 0:
        raise InvalidState(
            f"The account's balance is {account.balance:.2f} {CURRENCY}; credit it above zero first",
            details={"status": server.status, "balance": f"{account.balance:.2f}", "currency": CURRENCY},
        )
    action = await suspension.lift(session, server, reason=f"suspension lifted: {reason}")
    await _record_server(session, AuditAction.SERVER_UNSUSPEND, server, action, actor_id, reason=reason)
    return server, action


async def _record_server(
    session: AsyncSession,
    what: AuditAction,
    server: Server,
    action: Action | None,
    actor_id: int | None,
    **details: Any,
) -> None:
    await audit.record(
        session,
        actor_id=actor_id,
        action=what,
        target_id=server.id,
        details={"account_id": server.account_id, "action_id": action.id if action else None, **details},
    )


# -- the fleet: hosts, any account's servers, migrations ---------------------------------


def host_view(host: Host, location: str, *, now: datetime, down_after: float) -> dict[str, Any]:
    """A host as operators see it (the API's HostOut, the CLI's table)."""
    return {
        "id": host.id,
        "name": host.name,
        "location": location,
        "driver": host.driver,
        "uri": host.uri,
        "storage": host.storage,
        "network": host.network,
        "bridge": host.bridge,
        "state": host.state,
        "down": hosts.shown_state(host, now=now, down_after=down_after) == "down",
        "heartbeat_at": host.heartbeat_at,
        "vcpus": host.vcpus,
        "memory_mib": host.memory_mib,
        "disk_gb": host.disk_gb,
        "cpu_overcommit": host.cpu_overcommit,
        "memory_overcommit": host.memory_overcommit,
        "disk_overcommit": host.disk_overcommit,
        "used_vcpus": host.used_vcpus,
        "used_memory_mib": host.used_memory_mib,
        "used_disk_gb": host.used_disk_gb,
        "servers": host.servers,
        "created_at": host.created_at,
    }


async def list_hosts(
    session: AsyncSession, *, page: PageParams | None, down_after: float, location: str | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """The hosts in id order (a page of them, or all for None), with their count; only those
    of `location` (a code) when given, a ValidationFailed if no location has that code."""
    where: list[Any] = []
    if location is not None:
        location_id = await session.scalar(select(Location.id).where(Location.code == location))
        if location_id is None:
            raise ValidationFailed.field("location", f"no location {location!r}")
        where.append(Host.location_id == location_id)
    count = await session.scalar(select(func.count()).select_from(Host).where(*where)) or 0
    q = (
        select(Host, Location.code)
        .join(Location, Location.id == Host.location_id)
        .where(*where)
        .order_by(Host.id)
    )
    if page is not None:
        q = q.offset(page.offset).limit(page.page_size)
    now = utcnow()
    rows = (await session.execute(q)).all()
    return count, [host_view(h, code, now=now, down_after=down_after) for h, code in rows]


async def host_detail(session: AsyncSession, *, host_id: int, down_after: float) -> dict[str, Any]:
    row = (
        await session.execute(
            select(Host, Location.code)
            .join(Location, Location.id == Host.location_id)
            .where(Host.id == host_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"Host {host_id} not found")
    return host_view(row[0], row[1], now=utcnow(), down_after=down_after)


async def set_host_state(
    session: AsyncSession, *, host_id: int, state: hosts.HostState, down_after: float, actor_id: int | None
) -> dict[str, Any]:
    """Enable or disable a host (a disabled one takes no new servers; its servers stay)."""
    host = await _locked_host(session, host_id)
    old = host.state
    await hosts.set_state(session, host_id=host_id, state=state)
    what = AuditAction.HOST_ENABLE if state == hosts.HostState.ENABLED else AuditAction.HOST_DISABLE
    await _record_host(session, what, host, actor_id, old=old, new=state.value)
    return await host_detail(session, host_id=host_id, down_after=down_after)


async def drain_host(
    session: AsyncSession, *, host_id: int, policy: hosts.Policy, down_after: float, actor_id: int | None
) -> tuple[dict[str, Any], migration.Drain]:
    """migration.drain_host, and the host as it is after it."""
    drained = await migration.drain_host(session, host_id=host_id, policy=policy)
    await _record_host(
        session,
        AuditAction.HOST_DRAIN,
        drained.host,
        actor_id,
        queued=[server.id for server, _ in drained.queued],
        failed=[server.id for server, _ in drained.failed],
    )
    return await host_detail(session, host_id=host_id, down_after=down_after), drained


async def add_host(session: AsyncSession, new: hosts.NewHost, *, actor_id: int | None) -> Host:
    host = await hosts.add_host(session, new)
    await _record_host(session, AuditAction.HOST_ADD, host, actor_id, **dataclasses.asdict(new))
    return host


async def update_host(
    session: AsyncSession, *, host_id: int, changes: dict[str, Any], actor_id: int | None
) -> Host:
    """hosts.update_host; the entry has each field's old and new value."""
    host = await _locked_host(session, host_id)
    old = {field: getattr(host, field) for field in changes}
    host = await hosts.update_host(session, host_id=host_id, changes=changes)
    diff = {field: {"old": old[field], "new": value} for field, value in changes.items()}
    await _record_host(session, AuditAction.HOST_UPDATE, host, actor_id, **diff)
    return host


async def remove_host(session: AsyncSession, *, host_id: int, actor_id: int | None) -> None:
    host = await _locked_host(session, host_id)
    name = host.name
    await hosts.remove_host(session, host_id=host_id)
    await audit.record(
        session, actor_id=actor_id, action=AuditAction.HOST_REMOVE, target_id=host_id, details={"name": name}
    )


async def _locked_host(session: AsyncSession, host_id: int) -> Host:
    """The host's row, locked and read afresh: what an entry's old values are read from."""
    host = await session.scalar(
        select(Host).where(Host.id == host_id).with_for_update().execution_options(populate_existing=True)
    )
    if host is None:
        raise NotFound(f"Host {host_id} not found")
    return host


async def _record_host(
    session: AsyncSession, what: AuditAction, host: Host, actor_id: int | None, **details: Any
) -> None:
    await audit.record(
        session, actor_id=actor_id, action=what, target_id=host.id, details={"name": host.name, **details}
    )


_hosts = Host.__table__.c
_servers = Server.__table__.c
_plans = Plan.__table__.c
_locations = Location.__table__.c
SERVER_COLUMNS = (
    _servers.id,
    _servers.account_id,
    _servers.name,
    _servers.hostname,
    _servers.status,
    _servers.power_state,
    _servers.ipv4_address,
    _servers.ipv6_address,
    _servers.provisioned_at,
    _servers.error,
    _servers.created_at,
    _servers.updated_at,
    _servers.labels,
    _locations.code.label("location"),
    _hosts.name.label("host"),
    _plans.id.label("plan_id"),
    _plans.name.label("plan_name"),
    _plans.vcpus,
    _plans.memory,
    _plans.storage,
)
_SERVER_JOIN = (
    Server.__table__.join(Plan.__table__, _plans.id == _servers.plan_id)
    .join(Location.__table__, _locations.id == _servers.location_id)
    .outerjoin(Host.__table__, _hosts.id == _servers.host_id)
)


def server_view(row: Any) -> dict[str, Any]:
    """Any account's server as operators see it: with its account and host."""
    return {
        "id": row.id,
        "account_id": row.account_id,
        "name": row.name,
        "hostname": row.hostname,
        "status": row.status,
        "power_state": row.power_state,
        "host": row.host,
        "location": row.location,
        "ip_address": row.ipv4_address,
        "ipv6_address": row.ipv6_address,
        "plan": {
            "id": row.plan_id,
            "name": row.plan_name,
            "vcpus": row.vcpus,
            "memory": row.memory,
            "storage": row.storage,
        },
        "error": row.error,
        "labels": row.labels,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


@dataclass(frozen=True)
class ServerFilter:
    account_id: int | None = None
    host: str | None = None
    status: ServerStatus | None = None
    location: str | None = None


async def list_servers(
    session: AsyncSession, *, filters: ServerFilter, page: PageParams | None
) -> tuple[int, list[dict[str, Any]]]:
    """Every account's live servers in id order, filtered (a page of them, or all for None);
    an account, host or location that does not exist is a ValidationFailed naming the filter."""
    where: list[Any] = [_servers.deleted_at.is_(None)]
    if filters.account_id is not None:
        if await session.get(Account, filters.account_id) is None:
            raise ValidationFailed.field("account", f"no account {filters.account_id}")
        where.append(_servers.account_id == filters.account_id)
    if filters.host is not None:
        host_id = await session.scalar(select(Host.id).where(Host.name == filters.host))
        if host_id is None:
            raise ValidationFailed.field("host", f"no host named {filters.host!r}")
        where.append(_servers.host_id == host_id)
    if filters.status is not None:
        where.append(_servers.status == filters.status.value)
    if filters.location is not None:
        location_id = await session.scalar(select(Location.id).where(Location.code == filters.location))
        if location_id is None:
            raise ValidationFailed.field("location", f"no location {filters.location!r}")
        where.append(_servers.location_id == location_id)
    count = await session.scalar(select(func.count()).select_from(Server.__table__).where(*where)) or 0
    q = select(*SERVER_COLUMNS).select_from(_SERVER_JOIN).where(*where).order_by(_servers.id)
    if page is not None:
        q = q.offset(page.offset).limit(page.page_size)
    return count, [server_view(r) for r in (await session.execute(q)).all()]


RECENT_ACTIONS = 10


async def server_detail(session: AsyncSession, *, server_id: int) -> dict[str, Any]:
    """Any account's live server, with its host and its latest actions (newest first, with
    their errors)."""
    row = (
        await session.execute(
            select(*SERVER_COLUMNS)
            .select_from(_SERVER_JOIN)
            .where(_servers.id == server_id, _servers.deleted_at.is_(None))
        )
    ).first()
    if row is None:
        raise NotFound(f"Server {server_id} not found")
    recent = await session.scalars(
        select(Action).where(Action.server_id == server_id).order_by(Action.id.desc()).limit(RECENT_ACTIONS)
    )
    return server_view(row) | {"actions": list(recent)}


async def migrate_server(
    session: AsyncSession, *, server_id: int, to: str | None, policy: hosts.Policy, actor_id: int | None
) -> tuple[Server, Action, Host]:
    """migration.migrate_server, by an operator."""
    server, action, target = await migration.migrate_server(
        session, server_id=server_id, to=to, policy=policy
    )
    await _record_server(
        session,
        AuditAction.SERVER_MIGRATE,
        server,
        action,
        actor_id,
        from_host_id=action.source_host_id,
        to_host=target.name,
        to_host_id=target.id,
    )
    return server, action, target
