"""Servers: the lifecycle rules customers meet. Never talks to a driver; the worker does."""

from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.accounts import limits
from vpsorg.actions import service as actions
from vpsorg.actions.models import Action
from vpsorg.billing import prices
from vpsorg.billing import service as billing
from vpsorg.catalog import service as catalog
from vpsorg.catalog.models import Location, OperatingSystem, Plan
from vpsorg.db import utcnow
from vpsorg.errors import CapacityExhausted, InvalidState, NotFound, ValidationFailed
from vpsorg.ipam import service as ipam
from vpsorg.pagination import PageParams
from vpsorg.servers.models import Server, ServerUsage
from vpsorg.servers.schemas import ServerCreate, ServerPatch, ServerReplace
from vpsorg.servers.states import TRANSITIONS, ActionType, ServerStatus, can_request
from vpsorg.ssh_keys import service as ssh_keys

ADDRESS_ATTEMPTS = 8

# Columns of the list representation, selected flat: cheaper than loading entities.
SUMMARY_COLUMNS = (
    Server.id,
    Server.name,
    Server.hostname,
    Server.status,
    Server.ipv4_address,
    Server.provisioned_at,
    Server.created_at,
    Server.updated_at,
    Location.code.label("location"),
    Plan.id.label("plan_id"),
    Plan.name.label("plan_name"),
    Plan.vcpus,
    Plan.memory,
    Plan.storage,
    OperatingSystem.id.label("os_id"),
    OperatingSystem.name.label("os_name"),
)
DETAIL_COLUMNS = SUMMARY_COLUMNS + (
    Server.ipv6_address,
    Server.backups_enabled,
    Server.error,
    Plan.bandwidth,
    ServerUsage.cpu_percent,
    ServerUsage.memory_used,
    ServerUsage.disk_used,
    ServerUsage.bandwidth_used,
    ServerUsage.sampled_at,
)

# The server's own columns among DETAIL_COLUMNS (created_detail reads them off the entity).
SERVER_FIELDS = tuple(c.key for c in DETAIL_COLUMNS if getattr(c, "class_", None) is Server)


def _live(account_id: int) -> Any:
    return (Server.account_id == account_id) & Server.deleted_at.is_(None)


def _joined(stmt: Any) -> Any:
    return (
        stmt.join(Plan, Plan.id == Server.plan_id)
        .join(OperatingSystem, OperatingSystem.id == Server.os_id)
        .join(Location, Location.id == Server.location_id)
    )


def summary(row: Any) -> dict[str, Any]:
    """The seed's list representation of one selected row."""
    shown = row.provisioned_at is not None
    return {
        "id": row.id,
        "name": row.name,
        "hostname": row.hostname,
        "status": row.status,
        "ip_address": row.ipv4_address if shown else None,
        "location": row.location,
        "plan": {
            "id": row.plan_id,
            "name": row.plan_name,
            "vcpus": row.vcpus,
            "memory": row.memory,
            "storage": row.storage,
        },
        "os": {"id": row.os_id, "name": row.os_name},
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def detail(row: Any) -> dict[str, Any]:
    out = summary(row)
    out["ipv6_address"] = row.ipv6_address if row.provisioned_at is not None else None
    out["plan"]["bandwidth"] = row.bandwidth
    out["backups_enabled"] = row.backups_enabled
    out["error"] = row.error
    sampled = row.sampled_at is not None
    out["resource_usage"] = {
        "cpu_percent": row.cpu_percent if sampled else 0.0,
        "memory_used": row.memory_used if sampled else 0,
        "disk_used": row.disk_used if sampled else 0,
        "bandwidth_used": row.bandwidth_used if sampled else 0,
        "sampled_at": row.sampled_at,
    }
    return out


async def list_servers(
    session: AsyncSession,
    *,
    account_id: int,
    status: ServerStatus | None,
    location: str | None,
    page: PageParams,
) -> tuple[int, list[dict[str, Any]]]:
    where = [_live(account_id)]
    if status is not None:
        where.append(Server.status == status)
    if location is not None:
        where.append(
            Server.location_id == select(Location.id).where(Location.code == location).scalar_subquery()
        )
    count = await session.scalar(select(func.count()).select_from(Server).where(*where)) or 0
    rows = await session.execute(
        _joined(select(*SUMMARY_COLUMNS))
        .where(*where)
        .order_by(Server.id)
        .offset(page.offset)
        .limit(page.page_size)
    )
    return count, [summary(r) for r in rows]


async def get_detail(session: AsyncSession, *, account_id: int, server_id: int) -> dict[str, Any]:
    row = (
        await session.execute(
            _joined(select(*DETAIL_COLUMNS))
            .outerjoin(ServerUsage, ServerUsage.server_id == Server.id)
            .where(Server.id == server_id, _live(account_id))
        )
    ).first()
    if row is None:
        raise NotFound(f"Server {server_id} not found")
    return detail(row)


async def _get_for_update(session: AsyncSession, *, account_id: int, server_id: int) -> Server:
    server = await session.scalar(
        select(Server).where(Server.id == server_id, _live(account_id)).with_for_update()
    )
    if server is None:
        raise NotFound(f"Server {server_id} not found")
    return server


async def create_server(
    session: AsyncSession,
    *,
    account_id: int,
    data: ServerCreate,
    defaults: limits.Defaults = limits.Defaults(),  # noqa: B008 (frozen: never mutated)
) -> tuple[Server, Action]:
    server, action, _ = await order_server(session, account_id=account_id, data=data, defaults=defaults)
    return server, action


async def order_server(
    session: AsyncSession,
    *,
    account_id: int,
    data: ServerCreate,
    defaults: limits.Defaults = limits.Defaults(),  # noqa: B008 (frozen: never mutated)
) -> tuple[Server, Action, dict[str, Any]]:
    """create_server, and the new server as get_detail shows it (built from the rows the
    create read: no query)."""
    plan, os_, location = await catalog.orderable(
        session, plan_id=data.plan_id, os_id=data.os_id, location=data.location
    )
    public_key = None
    if data.ssh_key_id is not None:
        try:
            key = await ssh_keys.get_key(session, account_id=account_id, key_id=data.ssh_key_id)
        except NotFound:
            raise ValidationFailed.field("ssh_key_id", f"no SSH key with id {data.ssh_key_id}") from None
        public_key = key.public_key
    # The quota and the credit are checked with the account row locked until the transaction
    # ends (see vpsorg.accounts.limits): concurrent creates of an account are counted one
    # after another. One lock and one read of its servers serve both checks.
    account = await billing.lock_account(session, account_id)
    committed, count = await billing.commitment(session, account_id=account_id)
    limits.check_room(account, resource=limits.Resource.SERVERS, used=count, defaults=defaults)
    monthly = prices.monthly_price(plan.price_monthly, backups=data.backups_enabled)
    billing.check_credit(
        account,
        committed=committed,
        count=count,
        monthly=monthly,
        what=plan.name + (" with backups" if data.backups_enabled else ""),
    )
    now = utcnow()
    values = {
        "account_id": account_id,
        "name": data.name,
        "hostname": data.hostname or data.name.lower(),
        "status": ServerStatus.PROVISIONING,
        "plan_id": plan.id,
        "os_id": data.os_id,
        "location_id": location.id,
        "ssh_key_id": data.ssh_key_id,
        "ssh_public_key": public_key,
        "backups_enabled": data.backups_enabled,
        "price_hourly": plan.price_hourly,
        "price_monthly": plan.price_monthly,
        "created_at": now,
        "updated_at": now,
    }
    # The unique constraints on the address columns decide who gets an address. Creates in
    # one location take turns on its row (ipam.allocate locks it; SQLite's write lock
    # already does), so they do not all pick the same lowest free address; should another
    # transaction still hold ours (an overlapping pool of another location, say), the
    # insert does nothing (ON CONFLICT DO NOTHING: the address columns and the id are the
    # table's only unique keys) and we pick again: the next free address.
    insert = _insert_ignoring_conflicts(session)
    for _ in range(ADDRESS_ATTEMPTS):
        ipv4, ipv6 = await ipam.allocate(session, location=location)
        server = await session.scalar(
            insert(Server)
            .values(values | {"ipv4_address": ipv4, "ipv6_address": ipv6})
            .on_conflict_do_nothing()
            .returning(Server)
        )
        if server is not None:
            break
    else:
        raise CapacityExhausted(
            f"Could not reserve an address in location {location.code!r} after "
            f"{ADDRESS_ATTEMPTS} tries (many servers are being created there); try again",
            details={"location": location.code},
        )
    action = await actions.enqueue(
        session, account_id=account_id, server_id=server.id, type=ActionType.CREATE
    )
    return server, action, _created_detail(server, plan, os_, location)


def _insert_ignoring_conflicts(session: AsyncSession) -> Any:
    """The dialect's INSERT, which has ON CONFLICT DO NOTHING (both PostgreSQL and SQLite)."""
    return sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert


def _created_detail(server: Server, plan: Plan, os_: OperatingSystem, location: Location) -> dict[str, Any]:
    """get_detail's representation of a server just created, from the rows its order read."""
    row = SimpleNamespace(
        **{name: getattr(server, name) for name in SERVER_FIELDS},
        location=location.code,
        plan_id=plan.id,
        plan_name=plan.name,
        vcpus=plan.vcpus,
        memory=plan.memory,
        storage=plan.storage,
        bandwidth=plan.bandwidth,
        os_id=os_.id,
        os_name=os_.name,
        # a new server has not been sampled yet
        cpu_percent=None,
        memory_used=None,
        disk_used=None,
        bandwidth_used=None,
        sampled_at=None,
    )
    return detail(row)


async def update_server(
    session: AsyncSession, *, account_id: int, server_id: int, data: ServerReplace | ServerPatch
) -> None:
    server = await _get_for_update(session, account_id=account_id, server_id=server_id)
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(server, field, value)
    server.updated_at = utcnow()
    await session.flush()


async def delete_server(session: AsyncSession, *, account_id: int, server_id: int) -> Action:
    """Hide the server at once and queue the teardown; queued work on it is cancelled."""
    server = await _get_for_update(session, account_id=account_id, server_id=server_id)
    server.deleted_at = server.updated_at = utcnow()
    await actions.cancel_queued(session, server_id=server.id, why="cancelled: the server was deleted")
    return await actions.enqueue(session, account_id=account_id, server_id=server.id, type=ActionType.DELETE)


async def request_power(
    session: AsyncSession, *, account_id: int, server_id: int, type: ActionType
) -> tuple[Server, Action]:
    """Start, stop or reboot: check the state table, set the transitional status, queue."""
    server = await _get_for_update(session, account_id=account_id, server_id=server_id)
    status = ServerStatus(server.status)
    if not can_request(type, status):
        raise InvalidState(
            f"Cannot {type} a server that is {status}",
            details={"status": status, "action": type},
        )
    transition = TRANSITIONS[type]
    assert transition.during is not None
    server.status = transition.during
    server.updated_at = utcnow()
    action = await actions.enqueue(session, account_id=account_id, server_id=server.id, type=type)
    return server, action


async def ensure_visible(session: AsyncSession, *, account_id: int, server_id: int) -> None:
    if await session.scalar(select(Server.id).where(Server.id == server_id, _live(account_id))) is None:
        raise NotFound(f"Server {server_id} not found")
