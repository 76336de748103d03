"""Snapshots and backups: copies of a server's disk, the account's, taken by the worker.

Taking one queues a `snapshot` action on the server (its place in the server's line orders
it against a stop or delete asked for meanwhile; the server's status does not change) with
the snapshot row, status `creating`; the worker calls the driver and the outcome makes it
`available` with its size and prices, or `error` (`record_outcome`). Deleting one hides it
at once; the worker's purge (vpsorg.snapshots.jobs) removes the image.
"""

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import ColumnElement, Connection, Row, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.actions import service as actions
from vpsorg.actions.models import Action
from vpsorg.billing import prices
from vpsorg.catalog import service as catalog
from vpsorg.db import utcnow
from vpsorg.errors import InvalidState, NotFound, ValidationFailed
from vpsorg.pagination import PageParams
from vpsorg.servers.models import Server
from vpsorg.servers.states import ActionType, ServerStatus, can_request
from vpsorg.snapshots.models import Snapshot, SnapshotKind, SnapshotStatus

HOURS_PER_MONTH = 730  # a month of snapshot storage, for its hourly price
HOURLY = Decimal("0.000001")


def storage_prices(size_gb: int, per_gb_month: Decimal) -> tuple[Decimal, Decimal]:
    """A snapshot's (hourly, monthly) prices: a month is size times the price per GB-month
    (to the cent); an hour is a 730th of it (to six decimals). Charged as servers are
    (vpsorg.billing.prices.month_total): min(hours * hourly, monthly) a calendar month."""
    monthly = prices.cents(size_gb * per_gb_month)
    return (monthly / HOURS_PER_MONTH).quantize(HOURLY), monthly


async def take(
    session: AsyncSession,
    *,
    account_id: int,
    server_id: int,
    name: str,
    kind: SnapshotKind = SnapshotKind.SNAPSHOT,
) -> tuple[Snapshot, Action]:
    """Queue a snapshot of the server (active or stopped; InvalidState otherwise)."""
    server = await session.scalar(
        select(Server)
        .where(Server.id == server_id, Server.account_id == account_id, Server.deleted_at.is_(None))
        .with_for_update()
    )
    if server is None:
        raise NotFound(f"Server {server_id} not found")
    status = ServerStatus(server.status)
    if not can_request(ActionType.SNAPSHOT, status):
        raise InvalidState(
            f"Cannot take a snapshot of a server that is {status}; it must be active or stopped",
            details={"status": status, "action": ActionType.SNAPSHOT},
        )
    return await queue(session, server, name=name, kind=kind)


async def queue(
    session: AsyncSession, server: Server, *, name: str, kind: SnapshotKind
) -> tuple[Snapshot, Action]:
    """Queue a snapshot of this server (its row locked by the caller, its status checked)."""
    action = await actions.enqueue(
        session,
        account_id=server.account_id,
        server_id=server.id,
        type=ActionType.SNAPSHOT,
        reason="daily backup" if kind == SnapshotKind.BACKUP else None,
    )
    snapshot = Snapshot(
        account_id=server.account_id,
        server_id=server.id,
        host_id=server.host_id,
        action_id=action.id,
        name=name,
        os_id=server.os_id,
        kind=kind,
        status=SnapshotStatus.CREATING,
        created_at=utcnow(),
    )
    session.add(snapshot)
    await session.flush()
    return snapshot, action


def _visible(account_id: int) -> list[ColumnElement[bool]]:
    return [Snapshot.account_id == account_id, Snapshot.deleted_at.is_(None)]


async def list_snapshots(
    session: AsyncSession,
    *,
    account_id: int,
    page: PageParams,
    server_id: int | None = None,
    kind: SnapshotKind | None = None,
) -> tuple[int, list[Snapshot]]:
    """The account's snapshots (not deleted), oldest first, of one server or kind if given."""
    where = _visible(account_id)
    if server_id is not None:
        where.append(Snapshot.server_id == server_id)
    if kind is not None:
        where.append(Snapshot.kind == kind)
    count = await session.scalar(select(func.count()).select_from(Snapshot).where(*where)) or 0
    rows = await session.scalars(
        select(Snapshot).where(*where).order_by(Snapshot.id).offset(page.offset).limit(page.page_size)
    )
    return count, list(rows)


async def get_snapshot(session: AsyncSession, *, account_id: int, snapshot_id: int) -> Snapshot:
    """The account's snapshot; NotFound for another account's, or a deleted one."""
    found = await session.scalar(select(Snapshot).where(Snapshot.id == snapshot_id, *_visible(account_id)))
    if found is None:
        raise NotFound(f"Snapshot {snapshot_id} not found")
    return found


async def delete_snapshot(session: AsyncSession, *, account_id: int, snapshot_id: int) -> None:
    """Hide it and stop charging it now; the worker's purge removes the image (once it is
    taken, if it is still being taken)."""
    snapshot = await get_snapshot(session, account_id=account_id, snapshot_id=snapshot_id)
    snapshot.deleted_at = utcnow()
    await session.flush()


async def record_outcome(
    session: AsyncSession, *, action_id: int, size_gb: int | None, error: str | None, now: datetime
) -> None:
    """The worker's outcome of a `snapshot` action: available, with its size and prices,
    charged from now on; or error, with the driver's message (charged nothing)."""
    snapshot = await session.scalar(select(Snapshot).where(Snapshot.action_id == action_id))
    if snapshot is None:
        return
    if error is not None or size_gb is None:
        snapshot.status = SnapshotStatus.ERROR
        snapshot.error = error or "the driver reported no size"
        return
    per_gb = await catalog.price(session, name=catalog.SNAPSHOT_GB_MONTH)
    snapshot.price_hourly, snapshot.price_monthly = storage_prices(size_gb, per_gb)
    snapshot.status = SnapshotStatus.AVAILABLE
    snapshot.size_gb = size_gb
    snapshot.error = None
    snapshot.billed_until = now


async def fail_cancelled(session: AsyncSession, cancelled: Sequence[Action]) -> None:
    """Snapshots whose actions were cancelled before they ran (their server was deleted)."""
    ids = [a.id for a in cancelled if a.type == ActionType.SNAPSHOT]
    if not ids:
        return
    for snapshot in await session.scalars(select(Snapshot).where(Snapshot.action_id.in_(ids))):
        snapshot.status = SnapshotStatus.ERROR
        snapshot.error = "cancelled: the server was deleted"
    await session.flush()


async def for_action(session: AsyncSession, *, action_id: int) -> int | None:
    """The id of the snapshot a `snapshot` action takes (None: no such snapshot)."""
    return await session.scalar(select(Snapshot.id).where(Snapshot.action_id == action_id))


async def server_names(
    session: AsyncSession, *, account_id: int, ids: set[int]
) -> dict[int, tuple[str, bool]]:
    """The names of the account's servers these snapshots were taken of, and whether each is
    deleted (a snapshot outlives its server)."""
    if not ids:
        return {}
    rows = await session.execute(
        select(Server.id, Server.name, Server.deleted_at).where(
            Server.id.in_(ids), Server.account_id == account_id
        )
    )
    return {row.id: (row.name, row.deleted_at is not None) for row in rows}


# -- restore: a snapshot as the source of a server's disk -------------------------------------

_SOURCE = select(Snapshot.status, Snapshot.size_gb, Snapshot.os_id, Snapshot.host_id).where(
    Snapshot.id == bindparam("snapshot_id"),
    Snapshot.account_id == bindparam("account_id"),
    Snapshot.deleted_at.is_(None),
)


class Source(NamedTuple):
    """What a disk made from a snapshot needs of it: its OS, its size (GB), and the host
    whose driver keeps its image (None: the worker's one driver)."""

    os_id: int
    size_gb: int
    host_id: int | None


def _restorable(snapshot_id: int, found: Row[str, int | None, int | None, int | None] | None) -> Source:
    """A snapshot a disk can be made from: the account's (else NotFound, as everywhere),
    available, with its OS known; errors name snapshot_id."""
    if found is None:
        raise NotFound(f"Snapshot {snapshot_id} not found")
    status, size_gb, os_id, host_id = found
    if status != SnapshotStatus.AVAILABLE or size_gb is None:
        raise ValidationFailed.field(
            "snapshot_id", f"snapshot {snapshot_id} is {status}; only an available snapshot can be restored"
        )
    if os_id is None:
        raise ValidationFailed.field(
            "snapshot_id", f"snapshot {snapshot_id} has no operating system recorded"
        )
    return Source(os_id, size_gb, host_id)


def check_fits(snapshot_id: int, size_gb: int, storage_gb: int) -> None:
    """A snapshot restored onto a disk must be no larger than the disk (the plan's)."""
    if size_gb > storage_gb:
        raise ValidationFailed.field(
            "snapshot_id",
            f"snapshot {snapshot_id} is {size_gb} GB, more than the plan's {storage_gb} GB disk; "
            "choose a plan with a disk of at least its size",
        )


async def restorable(
    session: AsyncSession, *, account_id: int, snapshot_id: int, storage_gb: int, host_id: int | None
) -> int:
    """The OS of the account's snapshot, checked to be restorable onto a disk of `storage_gb`
    GB on host `host_id` (a rebuild from it: the image must be on the server's host)."""
    params = {"snapshot_id": snapshot_id, "account_id": account_id}
    source = _restorable(snapshot_id, (await session.execute(_SOURCE, params)).first())
    check_fits(snapshot_id, source.size_gb, storage_gb)
    if source.host_id is not None and host_id is not None and source.host_id != host_id:
        raise ValidationFailed.field(
            "snapshot_id",
            f"snapshot {snapshot_id} is kept on another host than the server's (it was migrated "
            "since); create a new server from the snapshot instead",
        )
    return source.os_id


def restorable_sync(conn: Connection, *, account_id: int, snapshot_id: int) -> Source:
    """The account's snapshot, checked as `restorable` does but for the size (the caller
    checks it with check_fits once it has the plan) and the host, on a create's
    connection (vpsorg.servers.service.order_server)."""
    params = {"snapshot_id": snapshot_id, "account_id": account_id}
    return _restorable(snapshot_id, conn.execute(_SOURCE, params).first())
