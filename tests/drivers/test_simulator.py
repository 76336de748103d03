"""What only the simulator does: timing, persistence, live usage and failure injection."""

import time
from datetime import timedelta

import pytest

from tests.drivers.test_contract import spec
from vpsorg.config import Settings
from vpsorg.db import make_engine, make_sessionmaker
from vpsorg.drivers.base import DriverError
from vpsorg.drivers.simulator import SimMachine, SimulatorDriver, inject_fault
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
