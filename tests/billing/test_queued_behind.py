"""A suspension queued behind actions already under way: those finish, the server ends
suspended and off; lifting it queues behind the suspension in turn. One worker in-process,
run until idle at each step, so the queue is exactly as written."""

import asyncio
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from tests.conftest import prepare_database, test_settings
from vpsorg.accounts import service as accounts
from vpsorg.actions.models import Action
from vpsorg.billing import service as billing
from vpsorg.db import make_engine, make_sessionmaker
from vpsorg.drivers.simulator import SimMachine, SimulatorDriver
from vpsorg.servers import service as servers
from vpsorg.servers.models import Server
from vpsorg.servers.schemas import ServerCreate
from vpsorg.servers.states import ActionType
from vpsorg.worker.service import Worker


def test_suspension_behind_a_create_and_a_start_and_a_top_up_behind_the_suspension(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "queue.db")
    prepare_database(settings)

    async def main() -> None:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        worker = Worker(settings, sessions, SimulatorDriver(sessions, time_scale=0))
        order = ServerCreate(name="q", plan_id=3, os_id=5, location="us-west")  # 6.00 a month
        async with sessions.begin() as s:
            account = await accounts.create_account(s, email="q@example.com", credit=Decimal("12.00"))
            stopped, _ = await servers.create_server(s, account_id=account.id, data=order)
        await worker.run_until_idle()
        async with sessions.begin() as s:
            await servers.request_power(s, account_id=account.id, server_id=stopped.id, type=ActionType.STOP)
        await worker.run_until_idle()
        async with sessions.begin() as s:
            # A second server's create and a start of the first are queued; before the worker
            # runs them the balance drops to zero: each server gets a suspend behind them.
            fresh, _ = await servers.create_server(s, account_id=account.id, data=order)
            await servers.request_power(s, account_id=account.id, server_id=stopped.id, type=ActionType.START)
            await billing.credit(s, account_id=account.id, amount=Decimal("-12.00"), reason="chargeback")
        # The create and the start run first (each first in its server's line) and leave the
        # status alone: no customer may act on a server between them and its suspension.
        assert await worker.claim_and_start() and await worker.claim_and_start()
        await asyncio.gather(*worker._running.values())
        async with sessions() as s:
            statuses = dict((await s.execute(select(Server.id, Server.status))).all())
            assert statuses == {stopped.id: "suspended", fresh.id: "suspended"}
            power = dict((await s.execute(select(SimMachine.server_id, SimMachine.power_state))).all())
            assert power == {stopped.id: "running", fresh.id: "running"}
        await worker.run_until_idle()
        async with sessions() as s:
            statuses = dict((await s.execute(select(Server.id, Server.status))).all())
            assert statuses == {stopped.id: "suspended", fresh.id: "suspended"}
            power = dict((await s.execute(select(SimMachine.server_id, SimMachine.power_state))).all())
            assert power == {stopped.id: "shutoff", fresh.id: "shutoff"}
            done = (
                await s.execute(select(Action.server_id, Action.type, Action.status).order_by(Action.id))
            ).all()
            assert all(status == "success" for _, _, status in done), done
            assert [(sid, kind) for sid, kind, _ in done][-4:] == [
                (fresh.id, "create"),
                (stopped.id, "start"),
                (stopped.id, "suspend"),
                (fresh.id, "suspend"),
            ]
        async with sessions.begin() as s:
            await billing.credit(s, account_id=account.id, amount=Decimal("1.00"), reason="paid")
        await worker.run_until_idle()
        async with sessions() as s:
            # Both were headed for active when suspended (a start, a create): both come back.
            statuses = dict((await s.execute(select(Server.id, Server.status))).all())
            assert statuses == {stopped.id: "active", fresh.id: "active"}
            power = dict((await s.execute(select(SimMachine.server_id, SimMachine.power_state))).all())
            assert power == {stopped.id: "running", fresh.id: "running"}
        await worker.driver.close()
        await engine.dispose()

    asyncio.run(main())
