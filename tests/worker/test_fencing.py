"""Leases and fencing: a worker whose lease ran out cannot record over the next claim."""

import asyncio
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from tests.conftest import prepare_database, test_settings
from vpsorg.accounts import service as accounts
from vpsorg.actions import service as actions
from vpsorg.actions.models import Action
from vpsorg.config import Settings
from vpsorg.db import make_engine, make_sessionmaker
from vpsorg.drivers.base import PowerState
from vpsorg.drivers.simulator import SimulatorDriver
from vpsorg.servers import service as servers
from vpsorg.servers.models import Server
from vpsorg.servers.schemas import ServerCreate
from vpsorg.servers.states import ActionType
from vpsorg.worker.service import Worker


def test_stale_claim_cannot_record_and_only_first_in_line_is_claimable(tmp_path: Path) -> None:
    settings: Settings = test_settings(tmp_path / "fence.db")
    prepare_database(settings)

    async def main() -> None:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        async with sessions.begin() as s:
            account = await accounts.create_account(s, email="f@example.com", credit=Decimal(100))
            data = ServerCreate(name="f", plan_id=1, os_id=5, location="us-west")
            server, create = await servers.create_server(s, account_id=account.id, data=data)
            delete = await servers.delete_server(s, account_id=account.id, server_id=server.id)
            # A second server, with a stop queued behind its create.
            other, other_create = await servers.create_server(s, account_id=account.id, data=data)
            stop = await actions.enqueue(s, account_id=account.id, server_id=other.id, type=ActionType.STOP)
        async with sessions.begin() as s:
            assert await actions.next_claimable(s, exclude=set()) == delete.id
            # other's stop waits behind other's create: one server's actions run in order
            assert await actions.next_claimable(s, exclude={delete.id}) == other_create.id
            assert await actions.next_claimable(s, exclude={delete.id, other_create.id}) is None
            await actions.cancel_queued(s, server_id=other.id, why="test")
            assert (await s.get(Action, stop.id)).status == "error"  # type: ignore[union-attr]
        async with sessions.begin() as s:
            # delete_server cancelled the queued create, so the delete is first in line
            cancelled = await s.get(Action, create.id)
            assert (
                cancelled is not None and cancelled.status == "error" and "deleted" in (cancelled.error or "")
            )
            assert await actions.next_claimable(s, exclude=set()) == delete.id
            first = await actions.claim(s, action_id=delete.id, owner="a", lease_seconds=0.05)
            assert first is not None and first.fence == 1
        await asyncio.sleep(0.1)  # worker "a" stalls past its lease
        async with sessions.begin() as s:
            second = await actions.claim(s, action_id=delete.id, owner="b", lease_seconds=30)
            assert second is not None and second.fence == 2 and second.attempts == 2
        async with sessions.begin() as s:
            assert not await actions.renew(s, action_id=delete.id, fence=1, lease_seconds=30)
            assert not await actions.finish(s, action_id=delete.id, fence=1, error="stale")
        async with sessions.begin() as s:
            row = await s.scalar(select(Action).where(Action.id == delete.id))
            assert (
                row is not None and row.status == "running" and row.lease_owner == "b" and row.error is None
            )
            assert await actions.finish(s, action_id=delete.id, fence=2)
        async with sessions() as s:
            row = await s.get(Action, delete.id)
            assert row is not None and row.status == "success"
            assert await actions.next_claimable(s, exclude=set()) is None
        await engine.dispose()

    asyncio.run(main())


def test_an_action_that_keeps_failing_the_worker_is_given_up(tmp_path: Path) -> None:
    settings: Settings = test_settings(tmp_path / "giveup.db", worker_max_attempts=2)
    prepare_database(settings)

    async def main() -> None:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        async with sessions.begin() as s:
            account = await accounts.create_account(s, email="g@example.com", credit=Decimal(100))
            data = ServerCreate(name="g", plan_id=1, os_id=5, location="us-west")
            server, create = await servers.create_server(s, account_id=account.id, data=data)
        # Two workers claimed it and vanished without a word (their leases ran out) ...
        for owner in ("a", "b"):
            async with sessions.begin() as s:
                assert await actions.claim(s, action_id=create.id, owner=owner, lease_seconds=0.01)
            await asyncio.sleep(0.05)
        # ... so the third claim gives up instead of calling the driver once more.
        worker = Worker(settings, sessions, SimulatorDriver(sessions, time_scale=0))
        await worker.run_until_idle()
        async with sessions() as s:
            action = await s.get(Action, create.id)
            assert action is not None and action.status == "error" and action.attempts == 3
            assert action.error == "gave up after 2 attempts"
            row = await s.get(Server, server.id)
            assert row is not None and row.status == "error" and row.error == action.error
        assert worker.driver is not None
        assert (await worker.driver.info(server.id)).power_state == PowerState.MISSING  # never built
        await engine.dispose()

    asyncio.run(main())
