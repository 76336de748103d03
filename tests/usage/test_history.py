"""Usage history in the database: written by the worker beside the latest sample, rolled up
into exact 5-minute and hourly means, expired after each tier's retention, and gone with a
deleted server; the roll-up run again, or after a crash, makes the same buckets. On the
database under test (SQLite, or PostgreSQL with VPSORG_TEST_DATABASE_URL)."""

import asyncio
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import prepare_database, test_settings, vpsorg_env
from tests.databases import on_postgresql
from vpsorg import failpoints
from vpsorg.accounts import service as accounts
from vpsorg.config import Settings
from vpsorg.db import make_engine, make_sessionmaker
from vpsorg.drivers.simulator import SimulatorDriver
from vpsorg.servers import service as servers
from vpsorg.servers.models import ServerUsage
from vpsorg.servers.schemas import ServerCreate
from vpsorg.usage import jobs, tiers
from vpsorg.usage import service as usage
from vpsorg.usage.models import UsageHistory
from vpsorg.worker.service import Worker

ORDER = ServerCreate(name="hist", plan_id=1, os_id=5, location="us-west")
T0 = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)  # the start of an hour
E0 = tiers.epoch(T0)
MINUTE = 60
Row = tuple[int, int, int, int, float, float, float, float]


def run(settings: Settings, main: Callable[[async_sessionmaker[AsyncSession]], Any]) -> Any:
    """main(sessions) on an engine of its own."""

    async def go() -> Any:
        engine = make_engine(settings)
        try:
            return await main(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    return asyncio.run(go())


async def new_servers(sessions: async_sessionmaker[AsyncSession], count: int) -> list[int]:
    async with sessions.begin() as s:
        account = await accounts.create_account(s, email=f"h{count}@example.com", credit=Decimal(100000))
        return [
            (await servers.create_server(s, account_id=account.id, data=ORDER))[0].id for _ in range(count)
        ]


async def dump(sessions: async_sessionmaker[AsyncSession]) -> list[Row]:
    h = UsageHistory.__table__.c
    async with sessions() as s:
        rows = await s.execute(select(UsageHistory.__table__).order_by(h.server_id, h.tier, h.time))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def sample(server_id: int, at: int, i: int) -> dict[str, Any]:
    """The i-th known sample, at epoch second `at`: uneven values, a growing bandwidth counter."""
    return {
        "server_id": server_id,
        "cpu_percent": (i * 37 % 101) / 4,
        "memory_used": 1000 + i * 13 % 512,
        "disk_used": 20 + i // 200,
        "bandwidth_used": i // 30,
        "sampled_at": datetime.fromtimestamp(at, UTC),
    }


def known_samples(server_id: int, hours: int = 2) -> list[dict[str, Any]]:
    """Every 10 s from T0 for `hours`, less every 13th (so buckets hold unequal counts)."""
    return [sample(server_id, E0 + 10 * i, i) for i in range(hours * 360) if i % 13 != 5]


def expected(samples: list[dict[str, Any]], step: int) -> dict[int, tuple[int, float, float, float, float]]:
    """Bucket start -> (samples, mean cpu, mean memory, mean disk, max bandwidth), from the raw
    samples directly (never from the 5-minute means)."""
    buckets: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for s in samples:
        buckets[tiers.epoch(s["sampled_at"]) // step * step].append(s)
    return {
        start: (
            len(b),
            sum(s["cpu_percent"] for s in b) / len(b),
            sum(s["memory_used"] for s in b) / len(b),
            sum(s["disk_used"] for s in b) / len(b),
            max(s["bandwidth_used"] for s in b),
        )
        for start, b in buckets.items()
    }


def tier_rows(
    rows: list[Row], server_id: int, tier: int
) -> dict[int, tuple[int, float, float, float, float]]:
    return {r[2]: (r[3], *r[4:]) for r in rows if r[0] == server_id and r[1] == tier}


def assert_buckets(got: dict[int, Any], want: dict[int, Any]) -> None:
    assert sorted(got) == sorted(want)
    for start, (n, *values) in want.items():
        assert got[start][0] == n, start
        assert got[start][1:] == pytest.approx(values, rel=1e-12), start


def store(settings: Settings, samples: list[dict[str, Any]]) -> None:
    async def main(sessions: async_sessionmaker[AsyncSession]) -> None:
        for start in range(0, len(samples), 1000):
            async with sessions.begin() as s:
                await usage.store_samples(s, samples[start : start + 1000])

    run(settings, main)


def roll_up(settings: Settings, at: int) -> list[Row]:
    async def main(sessions: async_sessionmaker[AsyncSession]) -> list[Row]:
        await jobs.roll_up(sessions, now=datetime.fromtimestamp(at, UTC))
        return await dump(sessions)

    return list(run(settings, main))


def test_the_worker_writes_each_sample_into_the_history_in_one_statement_per_chunk(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "worker.db")
    prepare_database(settings)

    async def main() -> None:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        ids = await new_servers(sessions, 20)
        worker = Worker(settings, sessions, SimulatorDriver(sessions, time_scale=0))
        await worker.run_until_idle()  # provisioned: each create's outcome wrote a first sample
        inserts: list[str] = []

        def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if statement.lstrip().upper().startswith("INSERT INTO USAGE_HISTORY"):
                inserts.append(statement)

        event.listen(engine.sync_engine, "before_cursor_execute", seen)
        for _ in range(3):
            await asyncio.sleep(1.05)  # a raw row per second at most: samples a second apart
            await worker.sample_usage()
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
        assert len(inserts) == 3  # one statement per pass over 20 servers
        rows = await dump(sessions)
        async with sessions() as s:
            latest = {u.server_id: u for u in await s.scalars(select(ServerUsage))}
        for sid in ids:
            raw = [r for r in rows if r[0] == sid and r[1] == 0]
            assert len(raw) == 4 and all(r[3] == 1 for r in raw)  # the create's and three passes'
            newest, now = raw[-1], latest[sid]
            assert newest[2] == tiers.epoch(now.sampled_at)
            assert newest[4:] == (now.cpu_percent, now.memory_used, now.disk_used, now.bandwidth_used)
        # Rolled up once their bucket is over: every raw sample counted once, into its bucket.
        later = tiers.epoch(datetime.now(UTC)) + 10 * MINUTE
        await jobs.roll_up(sessions, now=datetime.fromtimestamp(later, UTC))
        rolled = await dump(sessions)
        for sid in ids:
            raw = [r for r in rows if r[0] == sid and r[1] == 0]
            want: dict[int, list[Row]] = defaultdict(list)
            for r in raw:
                want[r[2] // 300 * 300].append(r)
            got = tier_rows(rolled, sid, 300)
            assert {b: n for b, (n, *_) in got.items()} == {b: len(rs) for b, rs in want.items()}
            for b, rs in want.items():
                assert got[b][1] == pytest.approx(sum(r[4] for r in rs) / len(rs), rel=1e-12)
        await engine.dispose()

    asyncio.run(main())


def test_roll_up_makes_exact_means_of_complete_buckets_and_expires_each_tier(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "exact.db")
    prepare_database(settings)
    sid, other = run(settings, lambda sessions: new_servers(sessions, 2))
    samples = known_samples(sid)
    store(settings, samples + known_samples(other)[:100])
    grace = tiers.GRACE_SECONDS

    # The first bucket is over at T0+5m, but rolled up only a grace period later.
    assert [r for r in roll_up(settings, E0 + 5 * MINUTE + grace - 1) if r[1] != 0] == []
    rows = roll_up(settings, E0 + 5 * MINUTE + grace)
    assert_buckets(tier_rows(rows, sid, 300), {E0: expected(samples, 300)[E0]})
    assert tier_rows(rows, sid, 3600) == {}

    # Two hours later: 24 five-minute buckets and both hours, each hour the mean of its raw
    # samples (not of its 5-minute means: the buckets hold unequal counts).
    at = E0 + 2 * 3600 + grace
    rows = roll_up(settings, at)
    assert_buckets(tier_rows(rows, sid, 300), expected(samples, 300))
    assert_buckets(tier_rows(rows, sid, 3600), expected(samples, 3600))
    assert_buckets(tier_rows(rows, other, 300), expected(known_samples(other)[:100], 300))
    # Raw samples are kept an hour.
    assert sorted(tier_rows(rows, sid, 0)) == sorted(
        t for t in (tiers.epoch(s["sampled_at"]) for s in samples) if t >= at - 3600
    )

    # Run again, and again later within the same buckets: nothing changes, nothing counted twice.
    assert roll_up(settings, at) == rows
    assert roll_up(settings, at + 4 * MINUTE) == [
        r for r in rows if r[1] != 0 or r[2] >= at + 4 * MINUTE - 3600
    ]

    # 5-minute means are kept 7 days, hourly ones 90.
    rows = roll_up(settings, E0 + 7 * 86400 + 30 * MINUTE)
    assert sorted(tier_rows(rows, sid, 300)) == [E0 + 30 * MINUTE + 300 * k for k in range(18)]
    assert sorted(tier_rows(rows, sid, 3600)) == [E0, E0 + 3600] and tier_rows(rows, sid, 0) == {}
    rows = roll_up(settings, E0 + 90 * 86400 + 3600)
    assert [r[2] for r in rows] == [E0 + 3600]


def test_a_sample_after_a_gap_starts_new_buckets_and_old_ones_are_not_made_again(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "gap.db")
    prepare_database(settings)
    (sid,) = run(settings, lambda sessions: new_servers(sessions, 1))
    first = known_samples(sid, hours=1)
    store(settings, first)
    rows = roll_up(settings, E0 + 3600 + tiers.GRACE_SECONDS)
    # Three hours of nothing (the worker down), then samples again.
    later = [sample(sid, E0 + 4 * 3600 + 10 * i, i) for i in range(60)]
    store(settings, later)
    after = roll_up(settings, E0 + 5 * 3600 + tiers.GRACE_SECONDS)
    assert_buckets(tier_rows(after, sid, 300), {**expected(first, 300), **expected(later, 300)})
    assert_buckets(tier_rows(after, sid, 3600), {**expected(first, 3600), **expected(later, 3600)})
    assert tier_rows(after, sid, 3600)[E0] == tier_rows(rows, sid, 3600)[E0]


CRASHING_ROLL_UP = """
import asyncio, sys
from datetime import UTC, datetime
from vpsorg.config import Settings
from vpsorg.db import make_engine, make_sessionmaker
from vpsorg.usage import jobs

async def main():
    engine = make_engine(Settings())
    await jobs.roll_up(make_sessionmaker(engine), now=datetime.fromtimestamp(int(sys.argv[1]), UTC))

asyncio.run(main())
"""


def test_a_roll_up_killed_before_its_commit_leaves_nothing_and_the_next_makes_the_same_buckets(
    tmp_path: Path,
) -> None:
    settings = test_settings(tmp_path / "crash.db")
    prepare_database(settings)
    (sid,) = run(settings, lambda sessions: new_servers(sessions, 1))
    samples = known_samples(sid)
    store(settings, samples)
    at = E0 + 2 * 3600 + tiers.GRACE_SECONDS
    before = run(settings, dump)
    env = vpsorg_env(settings) | {failpoints.ENV: "usage.before_commit"}
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_ROLL_UP, str(at)], env=env, capture_output=True, text=True, timeout=60
    )
    assert crashed.returncode == 70, crashed.stderr  # died at the failpoint, all of it written
    assert run(settings, dump) == before  # ... and none of it committed
    rows = roll_up(settings, at)
    assert_buckets(tier_rows(rows, sid, 300), expected(samples, 300))
    assert_buckets(tier_rows(rows, sid, 3600), expected(samples, 3600))


def test_a_deleted_servers_history_goes_with_its_machine(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "deleted.db")
    prepare_database(settings)

    async def main(sessions: async_sessionmaker[AsyncSession]) -> None:
        gone, kept = await new_servers(sessions, 2)
        worker = Worker(settings, sessions, SimulatorDriver(sessions, time_scale=0))
        await worker.run_until_idle()
        await worker.sample_usage()
        async with sessions.begin() as s:
            await usage.store_samples(s, [sample(gone, E0, 0), sample(kept, E0, 0)])
        await jobs.roll_up(sessions, now=T0 + timedelta(minutes=6))  # some of each tier
        async with sessions.begin() as s:
            account_id = (
                await s.execute(text("SELECT account_id FROM servers WHERE id = :id"), {"id": gone})
            ).scalar_one()
            await servers.delete_server(s, account_id=account_id, server_id=gone)
        # Deleted but not torn down yet: a stray sample of it is not rolled up.
        async with sessions.begin() as s:
            await usage.store_samples(s, [sample(gone, E0 + 3600, 1), sample(kept, E0 + 3600, 1)])
        await jobs.roll_up(sessions, now=T0 + timedelta(minutes=66))
        assert tier_rows(await dump(sessions), gone, 300).keys() == {E0}
        assert tier_rows(await dump(sessions), kept, 300).keys() == {E0, E0 + 3600}
        await worker.run_until_idle()  # the teardown
        rows = await dump(sessions)
        assert [r for r in rows if r[0] == gone] == []
        assert {r[1] for r in rows if r[0] == kept} == {0, 300, 3600}

    run(settings, main)


@pytest.mark.skipif(
    not on_postgresql(), reason="PostgreSQL's advisory lock (SQLite's passes queue on its write lock)"
)
def test_a_roll_up_leaves_the_pass_to_the_worker_that_holds_the_lock(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "lock.db")
    prepare_database(settings)
    (sid,) = run(settings, lambda sessions: new_servers(sessions, 1))
    store(settings, known_samples(sid, hours=1))

    async def main(sessions: async_sessionmaker[AsyncSession]) -> None:
        at = T0 + timedelta(hours=2)
        async with sessions.begin() as holder:
            await holder.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": jobs.LOCK_KEY})
            assert await jobs.roll_up(sessions, now=at) == {}
        assert (await jobs.roll_up(sessions, now=at))["rolled into 5m"] == 12

    run(settings, main)


def test_the_worker_rolls_the_history_up_on_its_timer(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "timer.db", usage_rollup_interval_seconds=0.05)
    prepare_database(settings)

    async def main(sessions: async_sessionmaker[AsyncSession]) -> None:
        (sid,) = await new_servers(sessions, 1)
        half_an_hour_ago = tiers.epoch(datetime.now(UTC)) - 30 * MINUTE
        async with sessions.begin() as s:
            await usage.store_samples(s, [sample(sid, half_an_hour_ago + 10 * i, i) for i in range(60)])
        stop = asyncio.Event()
        task = asyncio.create_task(
            Worker(settings, sessions, SimulatorDriver(sessions, time_scale=0)).run(stop)
        )
        try:
            for _ in range(200):
                if tier_rows(await dump(sessions), sid, 300):
                    break
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await task
        assert sum(n for n, *_ in tier_rows(await dump(sessions), sid, 300).values()) == 60

    run(settings, main)
