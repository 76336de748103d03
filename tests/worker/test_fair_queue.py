"""Fair claims: the worker serves the account with the fewest actions running first (ties: the
oldest action), so one account's backlog does not hold up another account's single action;
one server's actions still run in order."""

import asyncio
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import prepare_database, test_settings
from vpsorg.accounts import service as accounts
from vpsorg.actions import service as actions
from vpsorg.actions.models import Action
from vpsorg.db import make_engine, make_sessionmaker
from vpsorg.drivers.simulator import SimulatorDriver
from vpsorg.servers import service as servers
from vpsorg.servers.schemas import ServerCreate
from vpsorg.servers.states import ActionType
from vpsorg.worker.service import Worker

A_SERVERS = 20  # their creates are actions 1 to 20
ORDER = ServerCreate(name="fair", plan_id=1, os_id=5, location="us-west")


async def _creates(sessions: async_sessionmaker[AsyncSession], email: str, count: int) -> list[int]:
    """A new account that orders `count` servers: the ids of their queued creates, in order."""
    ids = []
    async with sessions.begin() as s:
        account = await accounts.create_account(s, email=email, credit=Decimal(10000))
        for _ in range(count):
            _, create = await servers.create_server(s, account_id=account.id, data=ORDER)
            ids.append(create.id)
    return ids


async def _claim(sessions: async_sessionmaker[AsyncSession]) -> int | None:
    async with sessions.begin() as s:
        action = await actions.claim_next(s, owner="test", lease_seconds=60, exclude=set())
        return None if action is None else action.id


def test_claims_take_turns_between_accounts(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "turns.db")
    prepare_database(settings)

    async def main() -> None:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        a = await _creates(sessions, "a@example.com", 6)
        b = await _creates(sessions, "b@example.com", 1)
        c = await _creates(sessions, "c@example.com", 2)
        claimed = [await _claim(sessions) for _ in range(10)]
        # Nothing finishes: each claim goes to the account with the fewest running, ties to
        # the oldest action; once B and C have nothing left, A's backlog in order.
        assert claimed == [a[0], b[0], c[0], a[1], c[1], *a[2:], None]
        await engine.dispose()

    asyncio.run(main())


def test_one_servers_actions_still_run_in_order(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "fifo.db")
    prepare_database(settings)

    async def main() -> None:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        a = await _creates(sessions, "a@example.com", 4)
        async with sessions.begin() as s:
            b = await accounts.create_account(s, email="b@example.com", credit=Decimal(10000))
            server, b_create = await servers.create_server(s, account_id=b.id, data=ORDER)
            b_stop = await actions.enqueue(s, account_id=b.id, server_id=server.id, type=ActionType.STOP)
        assert await _claim(sessions) == a[0]
        assert await _claim(sessions) == b_create.id
        assert await _claim(sessions) == a[1]
        # B has fewer running than A now, but its stop waits behind its server's create.
        assert await _claim(sessions) == a[2]
        async with sessions.begin() as s:
            assert await actions.finish(s, action_id=b_create.id, fence=1)
        assert await _claim(sessions) == b_stop.id  # B has none running, A has three
        assert await _claim(sessions) == a[3]
        await engine.dispose()

    asyncio.run(main())


def test_a_backlog_does_not_hold_up_another_accounts_create(tmp_path: Path) -> None:
    """200 reboots of account A's servers are under way on a worker running two at a time
    when account B orders one server: B's create is among the next few actions to finish."""
    settings = test_settings(tmp_path / "backlog.db", worker_concurrency=2)
    prepare_database(settings)

    async def main() -> None:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        driver = SimulatorDriver(sessions, time_scale=0.01)  # a reboot takes 30 ms
        worker = Worker(settings, sessions, driver)
        async with sessions.begin() as s:
            a = await accounts.create_account(s, email="a@example.com", credit=Decimal(10000))
            own = [
                (await servers.create_server(s, account_id=a.id, data=ORDER))[0].id for _ in range(A_SERVERS)
            ]
        await worker.run_until_idle()
        async with sessions.begin() as s:
            for _ in range(10):  # ten reboots of each of A's twenty servers
                for sid in own:
                    await actions.enqueue(s, account_id=a.id, server_id=sid, type=ActionType.REBOOT)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        await _until(sessions, lambda n: n >= 1)  # the worker is into A's backlog
        async with sessions.begin() as s:
            b = await accounts.create_account(s, email="b@example.com", credit=Decimal(10000))
            server, b_create = await servers.create_server(s, account_id=b.id, data=ORDER)
        worker.wake()
        # Until B's create has finished (A's backlog need not be worked off: what is checked
        # is what finished before B's create, and that most of the backlog was still queued).
        await _until(sessions, lambda n: n >= 1, finished=b_create.id)
        stop.set()
        await running
        async with sessions() as s:
            done = list(await s.scalars(select(Action).where(Action.type != "create").order_by(Action.id)))
            b_done = await s.get(Action, b_create.id)
        assert b_done is not None and b_done.status == "success" and b_done.finished_at is not None
        queued_before_b = [x for x in done if x.finished_at is None or x.finished_at > b_done.created_at]
        assert len(queued_before_b) > 100, "the backlog was worked off before B ordered"
        ahead_of_b = [x for x in queued_before_b if x.finished_at and x.finished_at < b_done.finished_at]
        # the two running when B ordered, and at most one claimed before B's create was seen
        assert len(ahead_of_b) <= 3, [(x.id, x.finished_at) for x in ahead_of_b]
        await driver.close()
        await engine.dispose()

    asyncio.run(main())


async def _until(
    sessions: async_sessionmaker[AsyncSession], done: Callable[[int], bool], finished: int | None = None
) -> None:
    """Wait (bounded) until done(number of actions finished that are not A's creates) holds;
    with `finished`, counting only that action."""
    for _ in range(6000):
        async with sessions() as s:
            finished_count = await s.scalar(
                select(func.count())
                .select_from(Action)
                .where(
                    Action.finished_at.is_not(None),
                    Action.id > A_SERVERS if finished is None else Action.id == finished,
                )
            )
        if done(finished_count or 0):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the worker did not get there")
