"""What the server page's operation forms show beyond the server itself (the images and keys
a rebuild may choose, ...): reads only, each through the service the API's route uses, so
that the page and its operation routes (web.server_rebuild, ...) share them without importing
one another."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.catalog import service as catalog
from vpsorg.pagination import MAX_PAGE_SIZE, PageParams
from vpsorg.servers import rebuild as rebuilds
from vpsorg.servers import resize
from vpsorg.servers.states import ActionType, ServerStatus, can_request
from vpsorg.snapshots import service as snapshots
from vpsorg.snapshots.models import SnapshotStatus
from vpsorg.ssh_keys import service as ssh_keys


async def rebuild_choices(
    session: AsyncSession, *, account_id: int, server: dict[str, Any]
) -> dict[str, Any]:
    """The images a rebuild may install, the account's available snapshots it may restore
    (the first 200, as the API pages them), the account's keys and which of them the server has
    now (the form's default), and whether its status allows a rebuild."""
    oses = await catalog.list_operating_systems(session)
    _, keys = await ssh_keys.list_keys(
        session, account_id=account_id, page=PageParams(page=1, page_size=MAX_PAGE_SIZE)
    )
    current = await rebuilds.installed_key_ids(session, account_id=account_id, server_id=server["id"])
    _, taken = await snapshots.list_snapshots(
        session, account_id=account_id, page=PageParams(page=1, page_size=MAX_PAGE_SIZE)
    )
    return {
        "rebuild_snapshots": [s for s in taken if s.status == SnapshotStatus.AVAILABLE],
        "rebuild_oses": oses,
        "rebuild_keys": keys,
        "rebuild_current_keys": [str(k) for k in current],
        "rebuild_allowed": can_request(ActionType.REBUILD, ServerStatus(server["status"])),
    }


async def resize_choices(session: AsyncSession, *, account_id: int, server: dict[str, Any]) -> dict[str, Any]:
    """The plans the server may be resized to with their monthly differences, and why it
    may not be resized now (None: it may)."""
    choices = await resize.plan_choices(session, account_id=account_id, server_id=server["id"])
    status = ServerStatus(server["status"])
    why_not = None
    if not can_request(ActionType.RESIZE, status):
        why_not = f"A server is resized while it is stopped; this one is {status}. Stop it first."
    return {"resize_plans": choices, "resize_refused": why_not}


async def server_snapshots(session: AsyncSession, *, account_id: int, server_id: int) -> dict[str, Any]:
    """The server's snapshots and backups (the first 200, as GET /api/v1/snapshots/?server_id=
    pages them), newest first, and whether one is being taken (the live region shows it turn available)."""
    count, rows = await snapshots.list_snapshots(
        session, account_id=account_id, page=PageParams(page=1, page_size=MAX_PAGE_SIZE), server_id=server_id
    )
    return {
        "snapshots": list(reversed(rows)),
        "snapshots_count": count,
        "snapshots_busy": any(s.status == SnapshotStatus.CREATING for s in rows),
    }


async def snapshot_price(session: AsyncSession, *, account_id: int, server: dict[str, Any]) -> dict[str, Any]:
    """The price of a GB of snapshot storage a month, and whether a snapshot may be taken now."""
    return {
        "snapshot_gb_month": await catalog.price(session, name=catalog.SNAPSHOT_GB_MONTH),
        "snapshot_allowed": can_request(ActionType.SNAPSHOT, ServerStatus(server["status"])),
    }


# Each operation form's reads, in the page's order.
PARTS = (rebuild_choices, resize_choices, snapshot_price)
# Those the live region swaps in too, as the server's status changes (a stopped server's
# resize form becomes usable without a reload).
LIVE_PARTS = (resize_choices,)
