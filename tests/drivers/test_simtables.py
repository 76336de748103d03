"""The simulator's tables are its own: it creates them where missing, and imports nothing above it."""

import importlib.util
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.drivers.test_contract import spec
from vpsorg.config import Settings
from vpsorg.db import make_engine, make_sessionmaker
from vpsorg.drivers.base import DriverError, PowerState
from vpsorg.drivers.simtables import TABLES, SimBase
from vpsorg.drivers.simulator import SimulatorDriver, inject_fault


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))


@pytest.fixture
async def bare(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """A migrated database that lacks them (the old migrations made them; this one lost them)."""
    engine = make_engine(settings)
    async with engine.begin() as conn:
        await conn.run_sync(SimBase.metadata.drop_all)
    assert not TABLES & await table_names(engine)
    yield engine
    await engine.dispose()


@pytest.mark.anyio
async def test_the_driver_creates_its_tables_where_they_are_missing(bare: AsyncEngine) -> None:
    driver = SimulatorDriver(make_sessionmaker(bare), time_scale=0)
    assert (await driver.info(4242)).power_state == PowerState.MISSING
    assert TABLES <= await table_names(bare)
    await driver.create(spec())
    await driver.stop(4242)
    machines = [(m.server_id, m.power_state) for m in await driver.list_machines()]
    assert machines == [(4242, PowerState.SHUTOFF)]
    assert await driver.usage(4242) is not None


@pytest.mark.anyio
async def test_a_fault_can_be_injected_before_any_driver_ran(bare: AsyncEngine) -> None:
    sessions = make_sessionmaker(bare)
    async with sessions.begin() as s:
        await inject_fault(s, op="create", message="no such image")
    with pytest.raises(DriverError, match="no such image"):
        await SimulatorDriver(sessions, time_scale=0).create(spec())


@pytest.mark.parametrize("module", ["vpsorg.drivers.simulator", "vpsorg.drivers.libvirt.driver"])
def test_the_drivers_import_nothing_of_the_product(module: str) -> None:
    if module.endswith("libvirt.driver") and importlib.util.find_spec("libvirt") is None:
        pytest.skip("libvirt-python is not installed (the libvirt extra)")
    code = f"import sys, {module}; print(*sorted(m for m in sys.modules if m.startswith('vpsorg')))"
    names = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    assert module in names
    product = ("vpsorg.db", "vpsorg.models")
    above = [m for m in names if m in product or m.startswith("vpsorg.servers") or m.endswith(".service")]
    assert above == []
