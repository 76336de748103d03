"""Servers: the lifecycle rules customers meet. Never talks to a driver; the worker does."""

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.accounts import limits
from vpsorg.accounts import service as accounts
from vpsorg.accounts.models import Account, ApiToken
from vpsorg.accounts.service import TokenUse
from vpsorg.actions import service as actions
from vpsorg.actions.models import Action
from vpsorg.billing import prices
from vpsorg.billing import service as billing
from vpsorg.catalog import service as catalog
from vpsorg.catalog.models import Location, OperatingSystem, Plan
from vpsorg.db import utcnow
from vpsorg.errors import AccountSuspended, CapacityExhausted, InvalidState, NotFound, ValidationFailed
from vpsorg.hosts import service as hosts
from vpsorg.hotreads import Reads, first, rows, through_engine
from vpsorg.ipam import service as ipam
from vpsorg.pagination import KeysetParams, keyset_statement, keyset_window
from vpsorg.servers import labels, migration
from vpsorg.servers.models import Server, ServerUsage
from vpsorg.servers.schemas import ServerCreate, ServerPatch, ServerReplace
from vpsorg.servers.states import TRANSITIONS, ActionStatus, ActionType, ServerStatus, can_request
from vpsorg.snapshots import service as snapshots
from vpsorg.ssh_keys.models import SshKey

ADDRESS_ATTEMPTS = 8

# The reads below are Core statements over the tables' columns (flat rows, no entities) run
# on the session's connection: cheaper than the ORM's execution layer, and the statements
# every request runs are built once.
_servers = Server.__table__.c
_plans = Plan.__table__.c
_oses = OperatingSystem.__table__.c
_locations = Location.__table__.c
_usage = ServerUsage.__table__.c

# Columns of the list representation.
SUMMARY_COLUMNS = (
    _servers.id,
    _servers.name,
    _servers.hostname,
    _servers.status,
    _servers.ipv4_address,
    _servers.provisioned_at,
    _servers.created_at,
    _servers.updated_at,
    _servers.labels,
    _locations.code.label("location"),
    _plans.id.label("plan_id"),
    _plans.name.label("plan_name"),
    _plans.vcpus,
    _plans.memory,
    _plans.storage,
    _oses.id.label("os_id"),
    _oses.name.label("os_name"),
    _oses.slug.label("os_slug"),
)
DETAIL_COLUMNS = SUMMARY_COLUMNS + (
    _servers.ipv6_address,
    _servers.backups_enabled,
    _servers.error,
    _plans.bandwidth,
    _usage.cpu_percent,
    _usage.memory_used,
    _usage.disk_used,
    _usage.bandwidth_used,
    _usage.sampled_at,
)


def _live(account_id: int) -> Any:
    return (Server.account_id == account_id) & Server.deleted_at.is_(None)


# A server with its plan, OS and location (every representation shows them).
_SERVER_JOIN = (
    Server.__table__.join(Plan.__table__, _plans.id == _servers.plan_id)
    .join(OperatingSystem.__table__, _oses.id == _servers.os_id)
    .join(Location.__table__, _locations.id == _servers.location_id)
)
# ... and its last usage sample (the detail shows it).
_DETAIL_JOIN = _SERVER_JOIN.outerjoin(ServerUsage.__table__, _usage.server_id == _servers.id)


def _joined(stmt: Any) -> Any:
    return stmt.select_from(_SERVER_JOIN)


def _live_rows(account_id: Any) -> Any:
    return (_servers.account_id == account_id) & _servers.deleted_at.is_(None)


_LIVE_COUNT = select(Account.__table__.c.live_servers).where(
    Account.__table__.c.id == bindparam("account_id")
)
_DETAIL_QUERY = (
    select(*DETAIL_COLUMNS)
    .select_from(_DETAIL_JOIN)
    .where(_servers.id == bindparam("server_id"), _live_rows(bindparam("account_id")))
)
# ... with the prices the server keeps (the panel shows what backups add); the API's detail
# does not show them, so its statement does not read them.
_PRICED_DETAIL_QUERY = _DETAIL_QUERY.add_columns(_servers.price_hourly, _servers.price_monthly)


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
        "os": {"id": row.os_id, "name": row.os_name, "slug": row.os_slug},
        "labels": row.labels,
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


# Past this offset a page by number walks more index entries than a read on the event loop
# should (SQLite, see vpsorg.hotreads): then it runs in the engine's thread. ~1 ms here.
LOOP_OFFSET_LIMIT = 10_000
_live_param = _live_rows(bindparam("account_id"))
_status_param = _servers.status == bindparam("status")
_location_param = _servers.location_id == (
    select(_locations.id).where(_locations.code == bindparam("location")).scalar_subquery()
)
# A name search: a case-insensitive substring (LIKE with the pattern's own % and _ escaped).
_name_param = func.lower(_servers.name).like(bindparam("name"), escape="\\")
_counted = select(func.count().label("n")).select_from(Server.__table__)


def _filters(by_status: bool, by_location: bool, by_name: bool) -> list[Any]:
    where = [_live_param]
    if by_status:
        where.append(_status_param)
    if by_location:
        where.append(_location_param)
    if by_name:
        where.append(_name_param)
    return where


@functools.cache
def _filtered_count(by_status: bool, by_location: bool, by_name: bool) -> Any:
    return _counted.where(*_filters(by_status, by_location, by_name))


# An unfiltered page carries the account's count in each row: one statement, one snapshot.
_TOTAL = _LIVE_COUNT.scalar_subquery().label("total")


@functools.cache
def _page_statement(by_status: bool, by_location: bool, shape: str, limit: int, by_name: bool = False) -> Any:
    filtered = by_status or by_location or by_name
    columns = SUMMARY_COLUMNS if filtered else (*SUMMARY_COLUMNS, _TOTAL)
    where = _filters(by_status, by_location, by_name)
    return keyset_statement(columns, _SERVER_JOIN, _servers.id, where, shape, limit)


def name_pattern(name: str) -> str:
    """The LIKE pattern of a name search: the text anywhere in the name, any case."""
    escaped = name.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_servers(
    reads: Reads,
    *,
    account_id: int,
    status: ServerStatus | None,
    location: str | None,
    page: KeysetParams,
    name: str | None = None,
    label_selector: str | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """The count and the page's rows, one more than the page at most (see http.pagination.keyset_paged).

    The page walks the partial index (account_id, id) WHERE deleted_at IS NULL (by cursor: an
    index range at any depth). Unfiltered, the count is the account's live_servers (kept by
    triggers), read with the page; a filter's count counts the rows it matches. `name`
    keeps the servers whose name holds it, in any case (the panel's search). Every
    statement is built once, but a label selector's (vpsorg.servers.labels: its terms are
    the statement's shape)."""
    params: dict[str, Any] = {"account_id": account_id}
    if status is not None:
        params["status"] = status.value
    if location is not None:
        params["location"] = location
    if name:
        params["name"] = name_pattern(name)
    filters = (status is not None, location is not None, bool(name))
    shape, limit, window = keyset_window(page)
    if label_selector is not None:
        terms = labels.parse_selector(label_selector)
        return await _list_selected(reads, params | window, [*_filters(*filters)], terms, shape, limit)
    if any(filters):  # counts the account's matching rows: not on the loop
        count = (await rows(reads, _filtered_count(*filters), params, on_loop=False))[0].n
        statement = _page_statement(filters[0], filters[1], shape, limit, filters[2])
        found = await rows(reads, statement, params | window, on_loop=False)
        return count, [summary(r) for r in found]
    on_loop = window.get("offset", 0) <= LOOP_OFFSET_LIMIT
    found = await rows(reads, _page_statement(False, False, shape, limit), params | window, on_loop=on_loop)
    if found:
        count = found[0].total
    else:  # past the end: the count alone
        account = await first(reads, _LIVE_COUNT, params)
        count = account.live_servers if account is not None else 0
    return count, [summary(r) for r in found]


async def _list_selected(
    reads: Reads,
    params: dict[str, Any],
    where: list[Any],
    terms: tuple[labels.Term, ...],
    shape: str,
    limit: int,
) -> tuple[int, list[dict[str, Any]]]:
    """list_servers with a label selector: its statements through the engine, which compiles
    and caches each shape of selector (see vpsorg.hotreads.through_engine)."""
    where += labels.clauses(_servers.labels, terms)
    count = (await through_engine(reads, _counted.where(*where), params))[0].n
    statement = keyset_statement(SUMMARY_COLUMNS, _SERVER_JOIN, _servers.id, where, shape, limit)
    found = await through_engine(reads, statement, params)
    return count, [summary(r) for r in found]


_tokens = ApiToken.__table__.c
_DETAIL_BY_TOKEN = (
    select(*accounts.TOKEN_COLUMNS, *DETAIL_COLUMNS)
    .select_from(
        ApiToken.__table__.outerjoin(
            _DETAIL_JOIN, (_servers.id == bindparam("server_id")) & _live_rows(_tokens.account_id)
        )
    )
    .where(_tokens.token_hash == bindparam("token_hash"))
)


Admit = Callable[[TokenUse | None], Awaitable[Any]]


async def get_detail_by_token(reads: Reads, *, token: str, server_id: int, admit: Admit) -> dict[str, Any]:
    """get_detail for the bearer of a token, in one round trip: the token's row and, if the
    server is one of its account's, the server's. admit decides on the token (it raises to
    refuse it: unknown, expired, rate-limited) before the server is looked at."""
    token_hash = accounts.hash_token(token)
    row = await first(reads, _DETAIL_BY_TOKEN, {"token_hash": token_hash, "server_id": server_id})
    await admit(accounts.token_use(row, token_hash))
    if row.id is None:  # admitted: the token's row is there
        raise NotFound(f"Server {server_id} not found")
    return detail(row)


async def get_detail(
    reads: Reads, *, account_id: int, server_id: int, with_prices: bool = False
) -> dict[str, Any]:
    """The server as the API's detail shows it; with_prices adds its own "price_hourly" and
    "price_monthly" (the plan's prices when it was created, which it keeps)."""
    query = _PRICED_DETAIL_QUERY if with_prices else _DETAIL_QUERY
    row = await first(reads, query, {"server_id": server_id, "account_id": account_id})
    if row is None:
        raise NotFound(f"Server {server_id} not found")
    out = detail(row)
    if with_prices:
        out["price_hourly"] = row.price_hourly
        out["price_monthly"] = row.price_monthly
    return out


async def get_for_update(session: AsyncSession, *, account_id: int, server_id: int) -> Server:
    """The account's live server, locked for the change about to be made; NotFound otherwise."""
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
    policy: hosts.Policy = hosts.Policy.SPREAD,
) -> tuple[Server, Action]:
    """order_server, with the new server and its action as entities (for callers that go on
    working with them in the session)."""
    order = await order_server(session, account_id=account_id, data=data, defaults=defaults, policy=policy)
    server = await session.get(Server, order.server_id)
    action = await session.get(Action, order.action_id)
    assert server is not None and action is not None
    return server, action


@dataclass(frozen=True)
class Order:
    """A server created: its id, its create action's id, the server as get_detail shows it,
    and what it costs (billing.prices: a month at most and an hour, backups included)."""

    server_id: int
    action_id: int
    detail: dict[str, Any]
    monthly_price: Decimal
    hourly_price: Decimal


@dataclass(frozen=True)
class Quote:
    """What a create would make: its prices and its location's code (a dry run's answer)."""

    monthly_price: Decimal
    hourly_price: Decimal
    location: str


async def quote_server(
    session: AsyncSession,
    *,
    account_id: int,
    data: ServerCreate,
    defaults: limits.Defaults = limits.Defaults(),  # noqa: B008 (frozen: never mutated)
    policy: hosts.Policy = hosts.Policy.SPREAD,
) -> Quote:
    """A dry run of order_server: the very create, in a savepoint rolled back whatever happens,
    so every check is the create's own (none repeated here to drift) and it raises what the
    create would. Nothing it wrote survives the rollback: the server, its action, the
    addresses and host room it took. (On PostgreSQL the server's id is taken from its
    sequence and not given back: a gap in the ids, nothing more.)"""
    savepoint = await session.begin_nested()
    try:
        order = await order_server(
            session, account_id=account_id, data=data, defaults=defaults, policy=policy
        )
    finally:
        await savepoint.rollback()
    return Quote(order.monthly_price, order.hourly_price, order.detail["location"])


_ssh_keys = SshKey.__table__.c
_SSH_KEY = select(_ssh_keys.public_key).where(
    _ssh_keys.id == bindparam("key_id"), _ssh_keys.account_id == bindparam("account_id")
)
_SSH_KEYS = select(_ssh_keys.id, _ssh_keys.public_key).where(
    _ssh_keys.id.in_(bindparam("key_ids", expanding=True)), _ssh_keys.account_id == bindparam("account_id")
)


def _public_keys(conn: Any, account_id: int, data: ServerCreate) -> list[str]:
    """The public keys of the order's ssh_key_id and ssh_key_ids (the account's own), in
    order; an id the account has no key with is refused, naming the field it came from."""
    ids = data.key_ids()
    if len(ids) == 1:  # the common case: one key, a statement built once
        key = conn.execute(_SSH_KEY, {"key_id": ids[0], "account_id": account_id}).scalar()
        found = {} if key is None else {ids[0]: key}
    else:
        found = dict(conn.execute(_SSH_KEYS, {"key_ids": ids, "account_id": account_id}).all()) if ids else {}
    for key_id in ids:
        if key_id not in found:
            field = "ssh_key_id" if key_id == data.ssh_key_id else "ssh_key_ids"
            raise ValidationFailed.field(field, f"no SSH key with id {key_id}")
    return [found[key_id] for key_id in ids]


def _orderable(
    conn: Any, account_id: int, data: ServerCreate
) -> tuple[catalog.PlanRow, catalog.OsRow, catalog.LocationRow, int | None]:
    """The order's plan, OS and location (catalog.orderable), and the host to place it on if
    it can (None: any); from a snapshot, the snapshot's OS and its image's host, the
    snapshot checked to be the account's, available and no larger than the plan's disk."""
    if data.snapshot_id is None:
        assert data.os_id is not None  # exactly one of the two (ServerCreate)
        plan, os_, location = catalog.orderable(
            conn, plan_id=data.plan_id, os_id=data.os_id, location=data.location
        )
        return plan, os_, location, None
    source = snapshots.restorable_sync(conn, account_id=account_id, snapshot_id=data.snapshot_id)
    try:
        plan, os_, location = catalog.orderable(
            conn, plan_id=data.plan_id, os_id=source.os_id, location=data.location
        )
    except ValidationFailed as e:
        if e.details["fields"][0]["name"] != "os_id":
            raise
        raise ValidationFailed.field(
            "snapshot_id", f"the operating system of snapshot {data.snapshot_id} is no longer offered"
        ) from None
    snapshots.check_fits(data.snapshot_id, source.size_gb, plan.storage)
    return plan, os_, location, source.host_id


_actions = Action.__table__.c
_ENQUEUE = insert(Action.metadata.tables["actions"]).returning(_actions.id)


@functools.cache
def _insert_server(dialect: str) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id, in the dialect's words (values as parameters)."""
    insert_ = sqlite_insert if dialect == "sqlite" else postgresql_insert
    return insert_(Server.metadata.tables["servers"]).on_conflict_do_nothing().returning(_servers.id)


async def order_server(
    session: AsyncSession,
    *,
    account_id: int,
    data: ServerCreate,
    defaults: limits.Defaults = limits.Defaults(),  # noqa: B008 (frozen: never mutated)
    policy: hosts.Policy = hosts.Policy.SPREAD,
) -> Order:
    """Create a server: check the order, that the account is not suspended, its quota and
    credit, reserve addresses, insert it and queue its create action, in the session's
    transaction.

    Every statement is a Core statement built once, run on the session's connection in one
    call into SQLAlchemy's sync layer (session.run_sync): a create costs the process about a
    third less CPU than through the ORM, statement by statement (see README, "Tuning")."""
    return await session.run_sync(_order, account_id, data, defaults, policy)


def _order(
    sync_session: Any, account_id: int, data: ServerCreate, defaults: limits.Defaults, policy: hosts.Policy
) -> Order:
    conn = sync_session.connection()
    plan, os_, location, image_host = _orderable(conn, account_id, data)
    public_keys = _public_keys(conn, account_id, data)
    # The quota and the credit are checked with the account row locked until the transaction
    # ends (see vpsorg.accounts.limits): concurrent creates of an account are counted one
    # after another. The row carries the account's live servers and their month (kept by
    # triggers): one statement serves both checks, however many servers the account has.
    account = billing.lock_counted(conn, account_id)
    if account.suspended_at is not None:
        raise AccountSuspended(
            f"The account is suspended: {account.suspended_reason}; it can create nothing until "
            "an operator lifts the suspension",
            details={
                "suspended_at": account.suspended_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "reason": account.suspended_reason,
            },
        )
    count = account.live_servers
    limits.check_room(account, resource=limits.Resource.SERVERS, used=count, defaults=defaults)
    monthly = prices.monthly_price(plan.price_monthly, backups=data.backups_enabled)
    hourly = prices.hourly_price(plan.price_hourly, backups=data.backups_enabled)
    billing.check_credit(
        account,
        committed=billing.committed(account),
        count=count,
        monthly=monthly,
        what=plan.name + (" with backups" if data.backups_enabled else ""),
    )
    now = utcnow()
    values = {
        "account_id": account_id,
        "name": data.name,
        "hostname": data.hostname or data.name.lower(),
        "status": ServerStatus.PROVISIONING.value,
        "plan_id": plan.id,
        "os_id": os_.id,
        "source_snapshot_id": data.snapshot_id,
        "location_id": location.id,
        # The first key's id and text; with several, every key's, in the order given (see
        # Server.ssh_public_keys, as a rebuild writes them).
        "ssh_key_id": data.key_ids()[0] if public_keys else None,
        "ssh_public_key": public_keys[0] if public_keys else None,
        "ssh_public_keys": list(public_keys) if len(public_keys) > 1 else None,
        "backups_enabled": data.backups_enabled,
        "labels": data.labels,
        "user_data": data.user_data,
        "price_hourly": plan.price_hourly,
        "price_monthly": plan.price_monthly,
        "created_at": now,
        "updated_at": now,
    }
    # The unique constraints on the address columns decide who gets an address. Creates in
    # one location take turns on its row (ipam.take locks it; SQLite's write lock already
    # does), so they do not all pick the same lowest free address; should another
    # transaction still hold ours (an overlapping pool of another location, say), the
    # insert does nothing (ON CONFLICT DO NOTHING: the address columns and the id are the
    # table's only unique keys) and we pick again: the next free address.
    insert_server = _insert_server(conn.dialect.name)
    host_id = None
    for _ in range(ADDRESS_ATTEMPTS):
        ipv4, ipv6 = ipam.take(conn, location=location)
        if host_id is None:
            # A host of the location with room for the plan, its room taken in this
            # transaction; placed under the location's row lock that ipam.take holds, so the
            # creates of a location never queue on a host's row, only migrations might.
            host_id = hosts.place_on(
                conn, location=location, need=hosts.need_of(plan), policy=policy, prefer=image_host
            )
        addresses = {"ipv4_address": ipv4, "ipv6_address": ipv6, "host_id": host_id}
        server_id = conn.execute(insert_server, values | addresses).scalar()
        if server_id is not None:
            break
    else:
        raise CapacityExhausted(
            f"Could not reserve an address in location {location.code!r} after "
            f"{ADDRESS_ATTEMPTS} tries (many servers are being created there); try again",
            details={"location": location.code},
        )
    action_id = conn.execute(
        _ENQUEUE,
        {
            "account_id": account_id,
            "server_id": server_id,
            "type": ActionType.CREATE.value,
            "status": ActionStatus.QUEUED.value,
            "reason": None,
        },
    ).scalar_one()
    row = SimpleNamespace(
        id=server_id,
        name=values["name"],
        hostname=values["hostname"],
        status=values["status"],
        ipv4_address=ipv4,
        ipv6_address=ipv6,
        provisioned_at=None,
        created_at=now,
        updated_at=now,
        backups_enabled=data.backups_enabled,
        labels=data.labels,
        error=None,
        location=location.code,
        plan_id=plan.id,
        plan_name=plan.name,
        vcpus=plan.vcpus,
        memory=plan.memory,
        storage=plan.storage,
        bandwidth=plan.bandwidth,
        os_id=os_.id,
        os_name=os_.name,
        os_slug=os_.slug,
        # a new server has not been sampled yet
        cpu_percent=None,
        memory_used=None,
        disk_used=None,
        bandwidth_used=None,
        sampled_at=None,
    )
    return Order(server_id, action_id, detail(row), monthly, hourly)


async def update_server(
    session: AsyncSession, *, account_id: int, server_id: int, data: ServerReplace | ServerPatch
) -> None:
    changes = data.model_dump(exclude_unset=True)
    if changes.get("backups_enabled"):
        await _require_backup_credit(session, account_id=account_id, server_id=server_id)
    server = await get_for_update(session, account_id=account_id, server_id=server_id)
    for field, value in changes.items():
        setattr(server, field, value)
    server.updated_at = utcnow()
    await session.flush()


async def _require_backup_credit(session: AsyncSession, *, account_id: int, server_id: int) -> None:
    """Turning backups on adds their surcharge (20% of the month) to what the account is
    committed to: 402 when its available credit does not cover it, as a create's check.
    The account row is locked before the server's, in the order billing locks them."""
    row = (
        await session.execute(
            select(Server.name, Server.backups_enabled, Server.price_monthly).where(
                Server.id == server_id, _live(account_id)
            )
        )
    ).first()
    if row is None:
        raise NotFound(f"Server {server_id} not found")
    if row.backups_enabled:
        return  # on already: nothing more to commit to
    await billing.require_credit(
        session,
        account_id=account_id,
        monthly=prices.backup_cap(row.price_monthly),
        what=f"backups for {row.name}",
    )


async def delete_server(session: AsyncSession, *, account_id: int, server_id: int) -> Action:
    """Hide the server at once and queue the teardown; queued work on it is cancelled."""
    server = await get_for_update(session, account_id=account_id, server_id=server_id)
    server.deleted_at = server.updated_at = utcnow()
    cancelled = await actions.cancel_queued(
        session, server_id=server.id, why="cancelled: the server was deleted"
    )
    await migration.release_cancelled(session, cancelled)
    await snapshots.fail_cancelled(session, cancelled)
    return await actions.enqueue(session, account_id=account_id, server_id=server.id, type=ActionType.DELETE)


async def request_power(
    session: AsyncSession, *, account_id: int, server_id: int, type: ActionType
) -> tuple[Server, Action]:
    """Start, stop or reboot: check the state table, set the transitional status, queue."""
    server = await get_for_update(session, account_id=account_id, server_id=server_id)
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
