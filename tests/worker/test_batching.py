"""Batched claims, outcomes and heartbeats keep every guarantee of one at a time: fair turns
between accounts, one server's actions in order, fencing per action; a finished action wakes
the claim loop instead of waiting for the next poll."""

import asyncio
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import count_commits, prepare_database, test_settings
from vpsorg.accounts import service as accounts
from vpsorg.actions import service as actions
from vpsorg.actions.models import Action
from vpsorg.db import make_engine, make_sessionmaker, utcnow
from vpsorg.drivers.base import Usage
from vpsorg.drivers.simulator import SimCall, SimulatorDriver
from vpsorg.servers import service as servers
from vpsorg.servers.lifecycle import usage_row
from vpsorg.servers.models import Server, ServerUsage
from vpsorg.servers.schemas import ServerCreate
from vpsorg.servers.states import ActionType
from vpsorg.worker.service import Worker

ORDER = ServerCreate(name="batch", plan_id=1, os_id=5, location="us-west")


async def _creates(sessions: async_sessionmaker[AsyncSession], email: str, count: int) -> list[int]:
    ids = []
    async with sessions.begin() as s:
        account = await accounts.create_account(s, email=email, credit=Decimal(10000))
        for _ in range(count):
            _, create = await servers.create_server(s, account_id=account.id, data=ORDER)
            ids.append(create.id)
    return ids


async def _claim_batch(
    sessions: async_sessionmaker[AsyncSession], limit: int, owner: str = "w"
) -> list[Action]:
    async with sessions.begin() as s:
        claimed, _more = await actions.claim_batch(
            s, owner=owner, lease_seconds=60, exclude=set(), limit=limit
        )
    return claimed


def test_a_batched_claim_takes_the_order_of_claims_one_by_one(tmp_path: Path) -> None:
    """The same queue as test_fair_queue's one-by-one claims, claimed in one transaction."""
    settings = test_settings(tmp_path / "batch-turns.db")
    prepare_database(settings)

    async def main() -> None:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        a = await _creates(sessions, "a@example.com", 6)
        b = await _creates(sessions, "b@example.com", 1)
        c = await _creates(sessions, "c@example.com", 2)
        first = await _claim_batch(sessions, 4)
        rest = await _claim_batch(sessions, 10)
        # fewest running first, ties to the oldest; the first batch ends mid-round
        assert [x.id for x in first] == [a[0], b[0], c[0], a[1]]
        assert [x.id for x in rest] == [c[1], *a[2:]]
        assert all(x.status == "running" and x.fence == 1 and x.lease_owner == "w" for x in first + rest)
        assert await _claim_batch(sessions, 10) == []
        await engine.dispose()

    asyncio.run(main())


def test_a_batched_claim_keeps_one_servers_actions_in_order(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "batch-fifo.db")
    prepare_database(settings)

    async def main() -> None:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        async with sessions.begin() as s:
            b = await accounts.create_account(s, email="b@example.com", credit=Decimal(10000))
            server, create = await servers.create_server(s, account_id=b.id, data=ORDER)
            stop = await actions.enqueue(s, account_id=b.id, server_id=server.id, type=ActionType.STOP)
            start = await actions.enqueue(s, account_id=b.id, server_id=server.id, type=ActionType.START)
        other = await _creates(sessions, "o@example.com", 2)
        # the stop and the start wait behind the create of their server, however many slots
        assert [x.id for x in await _claim_batch(sessions, 10)] == [create.id, other[0], other[1]]
        async with sessions.begin() as s:
            assert await actions.finish(s, action_id=create.id, fence=1)
        assert [x.id for x in await _claim_batch(sessions, 10)] == [stop.id]
        async with sessions.begin() as s:
            assert await actions.finish(s, action_id=stop.id, fence=1)
        assert [x.id for x in await _claim_batch(sessions, 10)] == [start.id]
        await engine.dispose()

    asyncio.run(main())


def test_outcomes_recorded_together_each_fenced_the_stale_one_alone_discarded(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "batch-fence.db")
    prepare_database(settings)

    async def main() -> None:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        worker = Worker(settings, sessions, SimulatorDriver(sessions, time_scale=0))
        await _creates(sessions, "a@example.com", 1)
        await _creates(sessions, "b@example.com", 1)
        await _creates(sessions, "c@example.com", 1)
        async with sessions.begin() as s:
            claimed, _ = await actions.claim_batch(
                s, owner=worker.owner, lease_seconds=0.05, exclude=set(), limit=3
            )
        assert len(claimed) == 3
        for action in claimed:
            await worker.driver.create(await worker.spec(action.server_id))
        stale = claimed[1]
        await asyncio.sleep(0.1)  # our leases ran out; another worker re-claims one of them
        async with sessions.begin() as s:
            reclaimed = await actions.claim(s, action_id=stale.id, owner="other", lease_seconds=60)
            assert reclaimed is not None and reclaimed.fence == 2
        commits = count_commits(engine)
        await asyncio.gather(*(worker.record(action, None) for action in claimed))
        assert commits[0] == 1  # the three outcomes in one transaction
        async with sessions() as s:
            rows = {
                a.id: a for a in await s.scalars(select(Action).where(Action.id.in_([a.id for a in claimed])))
            }
            status = dict((await s.execute(select(Server.id, Server.status))).all())
        for action in claimed:
            if action is stale:  # untouched: still the other worker's, its server still waiting
                assert rows[action.id].status == "running" and rows[action.id].lease_owner == "other"
                assert rows[action.id].fence == 2 and status[action.server_id] == "provisioning"
            else:
                assert rows[action.id].status == "success" and status[action.server_id] == "active"
        await engine.dispose()

    asyncio.run(main())


def test_one_statement_renews_every_lease_still_ours(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "batch-renew.db")
    prepare_database(settings)

    async def main() -> None:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        await _creates(sessions, "a@example.com", 1)
        await _creates(sessions, "b@example.com", 1)
        async with sessions.begin() as s:
            mine, _ = await actions.claim_batch(s, owner="w", lease_seconds=0.05, exclude=set(), limit=2)
        await asyncio.sleep(0.1)
        async with sessions.begin() as s:
            assert await actions.claim(s, action_id=mine[0].id, owner="other", lease_seconds=60)
        async with sessions.begin() as s:
            leases = {a.id: a.fence for a in mine}
            assert await actions.renew_many(s, leases=leases, lease_seconds=60) == {mine[1].id}
        async with sessions() as s:
            lost, kept = (await s.get(Action, mine[0].id)), (await s.get(Action, mine[1].id))
            assert lost is not None and lost.lease_owner == "other" and lost.fence == 2
            assert kept is not None and kept.lease_owner == "w" and kept.fence == 1
        await engine.dispose()

    asyncio.run(main())


def test_a_finished_action_wakes_the_claim_loop(tmp_path: Path) -> None:
    """With one slot and a poll of an hour, a queue of three drains only if each finished
    action wakes the loop to claim the next."""
    settings = test_settings(tmp_path / "wake.db", worker_concurrency=1, worker_poll_seconds=3600.0)
    prepare_database(settings)

    async def main() -> None:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        worker = Worker(settings, sessions, SimulatorDriver(sessions, time_scale=0))
        ids = await _creates(sessions, "a@example.com", 3)
        assert await worker.claim_and_start()
        worker._wake.clear()
        await asyncio.gather(*worker._running.values())
        assert worker._wake.is_set() and not worker._running  # the slot is free, the loop told

        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        try:
            # a bound for a failing run, not a timing: without the wake it would take 2 hours
            await asyncio.wait_for(_until_done(sessions, ids), timeout=120)
        finally:
            stop.set()
            await running
        async with sessions() as s:
            calls = list(await s.scalars(select(SimCall.op)))
        assert calls == ["create"] * 3
        await engine.dispose()

    asyncio.run(main())


async def _until_done(sessions: async_sessionmaker[AsyncSession], ids: list[int]) -> None:
    while True:
        async with sessions() as s:
            done = list(
                await s.scalars(select(Action.id).where(Action.id.in_(ids), Action.status == "success"))
            )
        if len(done) == len(ids):
            return
        await asyncio.sleep(0.02)


def test_an_outcome_and_a_usage_sample_written_at_once_both_land(tmp_path: Path) -> None:
    """A sampling pass writes a server's first usage sample while a batch of outcomes is being
    recorded: the outcome's own sample is written over it, not a second row (which broke the
    unique key on PostgreSQL, failing the batch: each outcome then took a transaction alone)."""
    settings = test_settings(tmp_path / "usage-race.db")
    prepare_database(settings)

    async def main() -> None:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        worker = Worker(settings, sessions, SimulatorDriver(sessions, time_scale=0))
        (create_id,) = await _creates(sessions, "race@example.com", 1)
        (claimed,) = await _claim_batch(sessions, 1, owner=worker.owner)
        await worker.driver.create(await worker.spec(claimed.server_id))
        usage = await worker.driver.usage(claimed.server_id)
        assert usage is not None
        sampled = Usage(cpu_percent=99.0, memory_used=1, disk_used=1, bandwidth_used=0)
        # on PostgreSQL the pass's transaction holds its new row uncommitted while the outcome is
        # written; SQLite has one writer at a time, so there the pass's sample is committed first
        concurrent = engine.dialect.name == "postgresql"
        async with sessions.begin() as sampling:
            await sampling.execute(insert(ServerUsage), [usage_row(claimed.server_id, sampled, utcnow())])
            if concurrent:
                recording = asyncio.create_task(worker.record(claimed, None, usage))
                await asyncio.sleep(0.5)
                assert not recording.done()  # waiting for the pass's row
        assert await (recording if concurrent else worker.record(claimed, None, usage))
        async with sessions() as s:
            rows = list(
                await s.scalars(select(ServerUsage).where(ServerUsage.server_id == claimed.server_id))
            )
            action = await s.get(Action, create_id)
        assert action is not None and action.status == "success"
        assert [r.cpu_percent for r in rows] == [usage.cpu_percent]
        await engine.dispose()

    asyncio.run(main())
