"""What only the simulator does: timing, persistence, live usage and failure injection."""

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import count_commits
from tests.drivers.test_contract import spec
from vpsorg.config import Settings
from vpsorg.db import make_engine, make_sessionmaker
from vpsorg.drivers.base import DriverError, MachineNotFound
from vpsorg.drivers.simulator import SimCall, SimFault, SimMachine, SimulatorDriver, inject_fault
from vpsorg.servers.states import PowerState

pytestmark = pytest.mark.anyio


async def test_failed_create_leaves_nothing_behind(settings: Settings) -> None:
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    driver = SimulatorDriver(sessions, time_scale=0)
    async with sessions.begin() as s:
        await inject_fault(s, op="create", message="no space left on the host")
    with pytest.raises(DriverError, match="no space left on the host"):
        await driver.create(spec())
    assert (await driver.info(4242)).power_state == PowerState.MISSING
    await driver.create(spec())  # the fault fired once
    assert (await driver.info(4242)).power_state == PowerState.RUNNING
    await engine.dispose()


async def test_machines_persist_across_driver_instances(settings: Settings) -> None:
    engine = make_engine(settings)
    await SimulatorDriver(make_sessionmaker(engine), time_scale=0).create(spec())
    await engine.dispose()
    engine = make_engine(settings)
    again = SimulatorDriver(make_sessionmaker(engine), time_scale=0)
    assert (await again.info(4242)).power_state == PowerState.RUNNING
    await engine.dispose()


async def test_time_scale_sets_how_long_operations_take(settings: Settings) -> None:
    engine = make_engine(settings)
    driver = SimulatorDriver(make_sessionmaker(engine), time_scale=0.1)  # create 0.5 s, stop 0.2 s
    started = time.monotonic()
    await driver.create(spec())
    create_took = time.monotonic() - started
    started = time.monotonic()
    await driver.stop(4242)
    stop_took = time.monotonic() - started
    assert create_took >= 0.5 and stop_took >= 0.2
    await engine.dispose()


async def test_bandwidth_grows_while_running(settings: Settings) -> None:
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    driver = SimulatorDriver(sessions, time_scale=0)
    await driver.create(spec())
    async with sessions.begin() as s:  # pretend it booted ten hours ago
        m = await s.get(SimMachine, 4242)
        assert m is not None and m.booted_at is not None
        m.booted_at -= timedelta(hours=10)
    usage = await driver.usage(4242)
    assert usage is not None and usage.bandwidth_used >= 4  # 0.5 GB an hour
    await engine.dispose()


async def test_operations_at_once_share_one_transaction_each_as_if_alone(settings: Settings) -> None:
    """A fleet-wide reboot does not cost a write transaction per machine: operations asked
    for together are applied in one, and each still gets its own answer (a missing machine
    fails alone; the calls are all logged)."""
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    driver = SimulatorDriver(sessions, time_scale=0)
    await asyncio.gather(*(driver.create(spec(sid)) for sid in (1, 2, 3)))
    commits = count_commits(engine)
    results = await asyncio.gather(
        driver.stop(1), driver.reboot(2), driver.stop(3), driver.start(9), return_exceptions=True
    )
    assert commits[0] == 1
    assert results[:3] == [None, None, None] and isinstance(results[3], MachineNotFound)
    states = {sid: (await driver.info(sid)).power_state for sid in (1, 2, 3, 9)}
    assert states == {
        1: PowerState.SHUTOFF, 2: PowerState.RUNNING, 3: PowerState.SHUTOFF, 9: PowerState.MISSING
    }  # fmt: skip
    async with sessions() as s:
        calls = list(await s.execute(select(SimCall.server_id, SimCall.op).order_by(SimCall.id)))
    assert [tuple(c) for c in calls[3:]] == [(1, "stop"), (2, "reboot"), (3, "stop"), (9, "start")]
    # a destroy and a create of the same machine in one batch: gone, then there again
    await asyncio.gather(driver.destroy(1), driver.create(spec(1)))
    assert (await driver.info(1)).power_state == PowerState.RUNNING
    await engine.dispose()


async def test_a_fault_armed_once_fires_for_one_of_the_operations_asked_for_together(
    settings: Settings,
) -> None:
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    driver = SimulatorDriver(sessions, time_scale=0)
    await asyncio.gather(*(driver.create(spec(sid)) for sid in (1, 2, 3)))
    async with sessions.begin() as s:
        await inject_fault(s, op="stop", message="the host said no")
        await inject_fault(s, op="stop", phase="after", message="and then it failed", times=2)
    results = await asyncio.gather(*(driver.stop(sid) for sid in (1, 2, 3)), return_exceptions=True)
    # the first stop meets the 'before' fault (its machine untouched), the next two the
    # 'after' one (their machines stopped, then the error)
    assert [str(r) for r in results] == [
        "stop failed: the host said no", "stop failed: and then it failed", "stop failed: and then it failed"
    ]  # fmt: skip
    states = [(await driver.info(sid)).power_state for sid in (1, 2, 3)]
    assert states == [PowerState.RUNNING, PowerState.SHUTOFF, PowerState.SHUTOFF]
    await driver.start(2)  # every fault used up
    async with sessions() as s:
        assert await s.scalar(select(func.sum(SimFault.remaining))) == 0
    await engine.dispose()
