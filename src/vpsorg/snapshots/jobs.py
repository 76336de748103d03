"""The worker's periodic snapshot jobs: daily backups, their retention, and removing the
images of deleted snapshots. Each is safe to run anywhere, any number of times, at once."""

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vpsorg.db import utcnow
from vpsorg.drivers.base import Driver, DriverError
from vpsorg.servers.models import Server
from vpsorg.servers.states import ServerStatus
from vpsorg.snapshots import service as snapshots
from vpsorg.snapshots.models import Snapshot, SnapshotKind, SnapshotStatus

log = logging.getLogger("vpsorg.snapshots")

DAY = 86400
SPREAD = 7919  # a prime: consecutive server ids land far apart in the day
BACKUP_FROM = (ServerStatus.ACTIVE, ServerStatus.STOPPED)
PURGE_BATCH = 100


def backup_slot(server_id: int, now: datetime) -> datetime:
    """The latest time at or before `now` of the server's daily backup: every day at
    (server_id * 7919) mod 86400 seconds after midnight UTC, so a fleet's backups spread
    over the day instead of all starting at midnight."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    slot = midnight + timedelta(seconds=(server_id * SPREAD) % DAY)
    return slot if slot <= now else slot - timedelta(days=1)


async def take_backups(sessions: async_sessionmaker[AsyncSession], *, now: datetime | None = None) -> int:
    """Queue a backup of every server with backups on whose daily slot has passed with no
    backup taken since; how many were queued. A server neither active nor stopped (being
    provisioned, suspended, in error) is skipped until it is."""
    now = now or utcnow()
    async with sessions() as session:
        ids = list(
            await session.scalars(
                select(Server.id).where(
                    Server.backups_enabled,
                    Server.deleted_at.is_(None),
                    Server.provisioned_at.is_not(None),
                    Server.status.in_(BACKUP_FROM),
                )
            )
        )
    queued = 0
    for server_id in ids:
        async with sessions.begin() as session:
            queued += await _backup_if_due(session, server_id, now)
    return queued


async def _backup_if_due(session: AsyncSession, server_id: int, now: datetime) -> int:
    """Under the server's row lock, so two workers never both queue the same day's backup."""
    server = await session.scalar(select(Server).where(Server.id == server_id).with_for_update())
    if (
        server is None
        or not server.backups_enabled
        or server.deleted_at is not None
        or server.status not in BACKUP_FROM
    ):
        return 0
    slot = backup_slot(server_id, now)
    taken = await session.scalar(
        select(Snapshot.id)
        .where(
            Snapshot.server_id == server_id,
            Snapshot.kind == SnapshotKind.BACKUP,
            Snapshot.created_at >= slot,
        )
        .limit(1)
    )
    if taken is not None:
        return 0
    await snapshots.queue(session, server, name=f"backup-{slot:%Y%m%d-%H%M}", kind=SnapshotKind.BACKUP)
    return 1


async def prune_backups(sessions: async_sessionmaker[AsyncSession], *, keep: int) -> int:
    """Delete each server's backups beyond its newest `keep` available ones (and any failed
    or available one older than those); how many. Their images go with the purge."""
    async with sessions() as session:
        rows = (
            await session.execute(
                select(Snapshot.id, Snapshot.server_id, Snapshot.status)
                .where(
                    Snapshot.kind == SnapshotKind.BACKUP,
                    Snapshot.deleted_at.is_(None),
                    Snapshot.status != SnapshotStatus.CREATING,
                )
                .order_by(Snapshot.server_id, Snapshot.id.desc())
            )
        ).all()
    kept: dict[int, int] = {}
    old: list[int] = []
    for snapshot_id, server_id, status in rows:
        if kept.get(server_id, 0) >= keep:
            old.append(snapshot_id)
        elif status == SnapshotStatus.AVAILABLE:
            kept[server_id] = kept.get(server_id, 0) + 1
    if old:
        async with sessions.begin() as session:
            await session.execute(
                update(Snapshot)
                .where(Snapshot.id.in_(old), Snapshot.deleted_at.is_(None))
                .values(deleted_at=utcnow())
            )
    return len(old)


async def purge(
    sessions: async_sessionmaker[AsyncSession],
    driver_for: Callable[[int | None], Awaitable[Driver]],
    *,
    hosts: Sequence[int] | None = None,
) -> int:
    """Ask the driver to remove the images of deleted snapshots (of `hosts`' only, if given;
    not those still being taken: once taken), then note them removed; how many. A crash
    between the two asks again next time, which the driver's idempotent delete allows."""
    async with sessions() as session:
        q = (
            select(Snapshot.id, Snapshot.host_id)
            .where(
                Snapshot.deleted_at.is_not(None),
                Snapshot.removed_at.is_(None),
                Snapshot.status != SnapshotStatus.CREATING,
            )
            .order_by(Snapshot.id)
            .limit(PURGE_BATCH)
        )
        if hosts is not None:
            q = q.where(Snapshot.host_id.in_(hosts))
        rows = (await session.execute(q)).all()
    removed = 0
    for snapshot_id, host_id in rows:
        try:
            driver = await driver_for(host_id)
            await driver.delete_snapshot(snapshot_id)
        except DriverError as exc:
            log.warning("snapshot %s: removing its image failed: %s", snapshot_id, exc)
            continue
        async with sessions.begin() as session:
            await session.execute(
                update(Snapshot)
                .where(Snapshot.id == snapshot_id, Snapshot.removed_at.is_(None))
                .values(removed_at=utcnow())
            )
        removed += 1
    return removed


async def run_all(
    sessions: async_sessionmaker[AsyncSession],
    driver_for: Callable[[int | None], Awaitable[Driver]],
    *,
    keep: int,
    hosts: Sequence[int] | None = None,
) -> None:
    """One pass of the three (the worker's timer)."""
    await take_backups(sessions)
    await prune_backups(sessions, keep=keep)
    await purge(sessions, driver_for, hosts=hosts)
