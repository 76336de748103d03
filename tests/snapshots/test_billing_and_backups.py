"""Snapshot charges and daily backups on a simulated clock (vpsorg.clock), in process: the API
in a thread, a worker driven step by step, the jobs called as the worker's timers would,
on the database under test (SQLite, or PostgreSQL with VPSORG_TEST_DATABASE_URL)."""

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import Live, prepare_database, serve_in_thread, test_settings
from vpsorg import clock
from vpsorg.billing import jobs as billing_jobs
from vpsorg.billing.models import LedgerEntry
from vpsorg.catalog import service as catalog
from vpsorg.catalog.schemas import CatalogIn
from vpsorg.db import make_engine, make_sessionmaker
from vpsorg.drivers.simulator import SimSnapshot, SimulatorDriver
from vpsorg.snapshots import jobs
from vpsorg.snapshots.models import Snapshot
from vpsorg.worker.service import Worker

HOUR = timedelta(hours=1)
PER_GB_MONTH = Decimal("50")  # far above the default, so that single hours cost cents


def cents(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass
class World:
    live: Live
    clock_file: Path

    def at(self, when: datetime) -> None:
        clock.set_offset(str(self.clock_file), (when - datetime.now(UTC)).total_seconds())


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    clock_file = tmp_path / "clock"
    clock.set_offset(str(clock_file), 0)
    monkeypatch.setenv(clock.ENV, str(clock_file))
    settings = test_settings(tmp_path / "vpsorg.db")
    prepare_database(settings)
    with serve_in_thread(settings, run_worker=False) as live:
        live.db(lambda s: catalog.load_catalog(s, catalog=CatalogIn(snapshot_price_gb_month=PER_GB_MONTH)))
        yield World(live, clock_file)


async def _with_worker(live: Live, body: Any) -> Any:
    engine = make_engine(live.settings)
    try:
        sessions = make_sessionmaker(engine)
        driver = SimulatorDriver(sessions, time_scale=0)
        return await body(sessions, Worker(live.settings, sessions, driver))
    finally:
        await engine.dispose()


def month_totals(entries: list[LedgerEntry]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for e in entries:
        assert e.period_start is not None
        out[e.period_start.strftime("%Y-%m")] += -e.amount
    return dict(out)


def test_a_snapshot_is_charged_hourly_exactly_capped_per_month_until_deleted(world: World) -> None:
    start = datetime(2027, 2, 27, 10, 0, tzinfo=UTC)  # a piece of February, all of March, April
    world.at(start)
    customer = world.live.account()

    async def body(sessions: Any, worker: Worker) -> None:
        server = customer.create_server(plan_id=3)
        await worker.run_until_idle()
        r = customer.http.post(f"/api/v1/servers/{server['id']}/snapshots/", json={"name": "s"})
        assert r.status_code == 202, r.text
        await worker.run_until_idle()
        snap = customer.http.get(f"/api/v1/snapshots/{r.json()['snapshot']['id']}/").json()
        assert snap["status"] == "available"
        size = snap["size_gb"]
        assert Decimal(snap["price_monthly"]) == cents(size * PER_GB_MONTH)
        row = customer.live.db(lambda s: s.get(Snapshot, snap["id"]))
        hourly, monthly, t0 = row.price_hourly, row.price_monthly, row.billed_until
        assert hourly == (monthly / 730).quantize(Decimal("0.000001"))

        world.at(start + timedelta(days=12, minutes=30))  # charged part way, then the rest
        await billing_jobs.charge_due(sessions)
        deleted_at = start + timedelta(days=37, minutes=50)
        world.at(deleted_at)
        await billing_jobs.charge_due(sessions)
        assert customer.http.delete(f"/api/v1/snapshots/{snap['id']}/").status_code == 204
        world.at(deleted_at + timedelta(days=3))  # deleted: nothing more
        await billing_jobs.charge_due(sessions)

        entries = customer.live.db(
            lambda s: s.scalars(
                select(LedgerEntry).where(LedgerEntry.snapshot_id == snap["id"]).order_by(LedgerEntry.id)
            )
        ).all()
        gone = customer.live.db(lambda s: s.get(Snapshot, snap["id"])).deleted_at
        hours: dict[str, int] = defaultdict(int)
        t = t0
        while t < gone:  # every hour that started before the deletion
            hours[t.strftime("%Y-%m")] += 1
            t += HOUR
        expected = {m: min(cents(n * hourly), monthly) for m, n in hours.items()}
        assert expected["2027-03"] == monthly  # March's 744 hours reach the month's cap
        assert expected["2027-02"] < monthly
        assert month_totals(entries) == {m: v for m, v in expected.items() if v}
        assert all(e.server_id is None and e.amount < 0 for e in entries)
        assert max(e.period_end for e in entries) <= gone + HOUR

    asyncio.run(_with_worker(world.live, body))


def test_ten_days_of_backups_keep_seven_and_the_surcharge_only_while_enabled(world: World) -> None:
    start = datetime(2027, 3, 1, 0, 0, tzinfo=UTC)
    world.at(start)
    customer = world.live.account()
    keep = world.live.settings.backup_retention
    assert keep == 7

    async def tick(sessions: Any, worker: Worker, when: datetime) -> None:
        world.at(when)
        await jobs.take_backups(sessions)
        await worker.run_until_idle()
        await jobs.prune_backups(sessions, keep=keep)
        await jobs.purge(sessions, worker.driver_for)
        await billing_jobs.charge_due(sessions)

    async def body(sessions: Any, worker: Worker) -> None:
        server = customer.create_server(plan_id=3, backups_enabled=True)
        sid = server["id"]
        await worker.run_until_idle()
        t = start
        while t < start + timedelta(days=10):
            t += timedelta(hours=2)
            await tick(sessions, worker, t)
        listed = customer.http.get("/api/v1/snapshots/", params={"server_id": sid, "kind": "backup"}).json()
        backups = listed["results"]
        assert listed["count"] == keep and len(backups) == keep
        assert all(b["status"] == "available" and b["kind"] == "backup" for b in backups)
        days = [b["created_at"][:10] for b in backups]
        assert len(set(days)) == keep  # one a day: the newest seven days
        last = datetime.fromisoformat(backups[-1]["created_at"]).date()
        assert days == [str(last - timedelta(days=keep - 1 - i)) for i in range(keep)]
        rows = customer.live.db(lambda s: s.scalars(select(Snapshot).where(Snapshot.server_id == sid))).all()
        assert len(rows) in (10, 11)  # one a day for ten days (and perhaps the first right away)
        old = [r for r in rows if r.deleted_at is not None]
        assert len(old) == len(rows) - keep and all(r.removed_at is not None for r in old)
        images = customer.live.db(
            lambda s: s.scalars(select(SimSnapshot.snapshot_id).where(SimSnapshot.server_id == sid))
        ).all()
        assert sorted(images) == [b["id"] for b in backups]  # the pruned ones' images are gone

        r = customer.http.patch(f"/api/v1/servers/{sid}/", json={"backups_enabled": False})
        assert r.status_code == 200, r.text
        off_at = t
        while t < off_at + timedelta(days=2):
            t += timedelta(hours=2)
            await tick(sessions, worker, t)
        after = customer.http.get("/api/v1/snapshots/", params={"server_id": sid}).json()
        assert [b["id"] for b in after["results"]] == [b["id"] for b in backups]  # none taken since

        charges = customer.live.db(
            lambda s: s.scalars(
                select(LedgerEntry).where(LedgerEntry.server_id == sid).order_by(LedgerEntry.id)
            )
        ).all()
        while_on = [c for c in charges if c.period_start < off_at]
        while_off = [c for c in charges if c.period_start >= off_at]
        assert sum(c.hours for c in while_on) == 240 and all(c.backup_hours == c.hours for c in while_on)
        assert sum(c.hours for c in while_off) == 48 and all(c.backup_hours == 0 for c in while_off)

    asyncio.run(_with_worker(world.live, body))


def test_queued_snapshots_a_server_delete_cancels_and_one_deleted_while_being_taken(world: World) -> None:
    """With the worker held back: a snapshot queued when its server is deleted ends in error
    (never taken, never charged); one deleted while still being taken is taken, then its
    image removed by the purge, and it is never charged."""
    customer = world.live.account()

    async def body(sessions: Any, worker: Worker) -> None:
        one, two = customer.create_server(), customer.create_server(name="web-2")
        await worker.run_until_idle()
        queued = customer.http.post(f"/api/v1/servers/{one['id']}/snapshots/", json={"name": "q"}).json()
        assert customer.http.delete(f"/api/v1/servers/{one['id']}/").status_code == 204
        got = customer.http.get(f"/api/v1/snapshots/{queued['snapshot']['id']}/").json()
        assert got["status"] == "error" and "server was deleted" in got["error"]

        doomed = customer.http.post(f"/api/v1/servers/{two['id']}/snapshots/", json={"name": "d"}).json()
        sid = doomed["snapshot"]["id"]
        assert customer.http.delete(f"/api/v1/snapshots/{sid}/").status_code == 204
        assert await jobs.purge(sessions, worker.driver_for) == 0  # still being taken: not yet
        await worker.run_until_idle()
        assert customer.live.db(lambda s: s.get(SimSnapshot, sid)) is not None  # taken
        assert await jobs.purge(sessions, worker.driver_for) == 1
        assert customer.live.db(lambda s: s.get(SimSnapshot, sid)) is None
        world.at(datetime.now(UTC) + timedelta(days=2))
        await billing_jobs.charge_due(sessions)
        charged = customer.live.db(
            lambda s: s.scalars(select(LedgerEntry).where(LedgerEntry.snapshot_id.is_not(None)))
        ).all()
        assert charged == []

    asyncio.run(_with_worker(world.live, body))
