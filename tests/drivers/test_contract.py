"""The driver contract (vpsorg.drivers.base), run over every driver we ship.

Each driver fixture yields a fresh hypervisor; the same tests hold for all of them. libvirt
runs on its in-memory `test:///` hypervisor: no daemon, no QEMU (real guests are in
tests/drivers/libvirt/test_real_guests.py).
"""

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from vpsorg.config import Settings
from vpsorg.db import make_engine, make_sessionmaker
from vpsorg.drivers.base import Console, Driver, DriverError, MachineNotFound, VmSpec
from vpsorg.drivers.libvirt.errors import ERR_NO_SUPPORT
from vpsorg.drivers.simulator import SimulatorDriver
from vpsorg.servers.states import PowerState

pytestmark = pytest.mark.anyio


def spec(server_id: int = 4242, os_image: str | None = None) -> VmSpec:
    return VmSpec(
        server_id=server_id,
        name=f"vps-{server_id}",
        hostname="contract.example.com",
        vcpus=2,
        memory_mib=2048,
        storage_gb=40,
        os_image=os_image,
        ipv4_address="203.0.113.50",
        ipv4_prefix=24,
        ipv4_gateway="203.0.113.1",
        ipv6_address="2001:db8:1::50",
        ipv6_prefix=64,
        ipv6_gateway="2001:db8:1::1",
        ssh_public_keys=(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG0S5m2d3v2gWBk2e6n7b3wqQ0v1n2b3c4d5e6f7g8h9 t",
        ),
    )


@dataclass
class Hypervisor:
    driver: Driver
    os_image: str | None  # what the driver boots; the simulator needs none
    other_image: str | None = None  # another OS image, to rebuild to


@pytest.fixture(params=["simulator", "libvirt"])
async def hypervisor(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path
) -> AsyncIterator[Hypervisor]:
    if request.param == "simulator":
        engine = make_engine(settings)
        try:
            sim = SimulatorDriver(make_sessionmaker(engine), time_scale=0)
            yield Hypervisor(sim, None, "other-image")
            await sim.close()
        finally:
            await engine.dispose()
        return
    lv = _libvirt_hypervisor(settings, tmp_path)
    try:
        yield lv
    finally:
        await lv.driver.close()


def _libvirt_hypervisor(settings: Settings, tmp_path: Path) -> Hypervisor:
    """A libvirt driver on a private in-memory test:/// hypervisor, with a storage directory
    and an OS image of its own under `tmp_path`."""
    pytest.importorskip("libvirt", reason="libvirt-python is not installed (the libvirt extra)")
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img is not installed (Debian: qemu-utils)")
    from vpsorg.drivers.libvirt.driver import LibvirtDriver

    tmp_path.mkdir(exist_ok=True)
    node = tmp_path / "node.xml"  # a private in-memory hypervisor for this test alone
    node.write_text("<node/>")
    image, other = tmp_path / "base.qcow2", tmp_path / "other.qcow2"
    for path in (image, other):
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "1G"], check=True)
    lv = LibvirtDriver(
        settings.model_copy(
            update={
                "libvirt_uri": f"test://{node}",
                "libvirt_storage_dir": str(tmp_path / "machines"),
                "libvirt_boot_check": "none",  # test:/// runs no guest, so no guest agent
            }
        )
    )
    return Hypervisor(lv, str(image), str(other))


@pytest.fixture
def driver(hypervisor: Hypervisor) -> Driver:
    return hypervisor.driver


@pytest.fixture
def vm(hypervisor: Hypervisor) -> VmSpec:
    return spec(os_image=hypervisor.os_image)


async def test_create_boots_the_machine(driver: Driver, vm: VmSpec) -> None:
    await driver.create(vm)
    assert (await driver.info(4242)).power_state == PowerState.RUNNING
    assert [m.server_id for m in await driver.list_machines()] == [4242]


async def test_create_is_idempotent(driver: Driver, vm: VmSpec) -> None:
    await driver.create(vm)
    await driver.stop(4242)
    await driver.create(vm)  # a retried create converges on one running machine
    assert [(m.server_id, m.power_state) for m in await driver.list_machines()] == [
        (4242, PowerState.RUNNING)
    ]


async def test_power_cycle_and_idempotent_calls(driver: Driver, vm: VmSpec) -> None:
    await driver.create(vm)
    await driver.stop(4242)
    assert (await driver.info(4242)).power_state == PowerState.SHUTOFF
    await driver.stop(4242)
    assert (await driver.info(4242)).power_state == PowerState.SHUTOFF
    await driver.start(4242)
    await driver.start(4242)
    assert (await driver.info(4242)).power_state == PowerState.RUNNING
    await driver.reboot(4242)
    assert (await driver.info(4242)).power_state == PowerState.RUNNING


async def test_destroy_removes_and_is_idempotent(driver: Driver, vm: VmSpec) -> None:
    await driver.create(vm)
    await driver.destroy(4242)
    assert (await driver.info(4242)).power_state == PowerState.MISSING
    await driver.destroy(4242)
    await driver.destroy(999)  # never existed
    assert await driver.list_machines() == []


async def test_operations_on_a_missing_machine_raise_driver_error(driver: Driver) -> None:
    for op in (driver.start, driver.stop, driver.reboot):
        with pytest.raises(DriverError):
            await op(777)
    assert (await driver.info(777)).power_state == PowerState.MISSING
    assert await driver.usage(777) is None


async def test_usage_is_plausible_and_follows_power(driver: Driver, vm: VmSpec) -> None:
    await driver.create(vm)
    running = await driver.usage(4242)
    assert running is not None
    assert 0 <= running.cpu_percent <= 100
    assert 0 < running.memory_used <= 2048
    assert 0 < running.disk_used <= 40
    assert running.bandwidth_used >= 0
    await driver.stop(4242)
    off = await driver.usage(4242)
    assert off is not None and off.cpu_percent == 0 and off.memory_used == 0
    assert off.disk_used == running.disk_used or 0 < off.disk_used <= 40


# -- resize(spec): a shut-off machine takes another plan's sizes --------------------------------


async def _sizes(driver: Driver, server_id: int) -> tuple[int, int, int]:
    """(vCPUs, memory MiB, disk GiB) of a machine, as the hypervisor keeps them: the
    simulator's machine row; libvirt's domain definition and its disk's virtual size."""
    if isinstance(driver, SimulatorDriver):
        from sqlalchemy import select

        from vpsorg.drivers.simtables import SimMachine

        async with driver._sessions() as s:  # noqa: SLF001 (the simulator's own table)
            m = (await s.scalars(select(SimMachine).where(SimMachine.server_id == server_id))).one()
            return m.vcpus, m.memory_mib, m.storage_gb
    import json
    import xml.etree.ElementTree as ET

    from vpsorg.drivers.libvirt.driver import LibvirtDriver

    assert isinstance(driver, LibvirtDriver)
    name = driver._name(server_id)  # noqa: SLF001
    root = ET.fromstring(driver._connection().lookupByName(name).XMLDesc(0))  # noqa: SLF001
    vcpus = int(root.findtext("vcpu") or 0)
    memory = root.find("memory")
    assert memory is not None and memory.get("unit", "KiB") == "KiB"
    disk = driver._paths(name)["disk"]  # noqa: SLF001
    out = subprocess.run(["qemu-img", "info", "--output=json", str(disk)], check=True, capture_output=True)
    return vcpus, int(memory.text or 0) // 1024, json.loads(out.stdout)["virtual-size"] // 1024**3


def _bigger(vm: VmSpec, vcpus: int, memory_mib: int, storage_gb: int) -> VmSpec:
    from dataclasses import replace

    return replace(vm, vcpus=vcpus, memory_mib=memory_mib, storage_gb=storage_gb)


async def test_resize_gives_a_shut_off_machine_the_new_sizes(driver: Driver, vm: VmSpec) -> None:
    await driver.create(vm)
    assert await _sizes(driver, 4242) == (2, 2048, 40)
    await driver.stop(4242)
    await driver.resize(_bigger(vm, 4, 4096, 80))
    assert await _sizes(driver, 4242) == (4, 4096, 80)
    assert (await driver.info(4242)).power_state == PowerState.SHUTOFF  # left shut off
    await driver.resize(_bigger(vm, 4, 4096, 80))  # idempotent: a retried action
    assert await _sizes(driver, 4242) == (4, 4096, 80)
    await driver.start(4242)
    assert (await driver.info(4242)).power_state == PowerState.RUNNING


async def test_resize_never_shrinks_the_disk(driver: Driver, vm: VmSpec) -> None:
    await driver.create(vm)
    await driver.stop(4242)
    await driver.resize(_bigger(vm, 1, 1024, 20))  # fewer vCPUs and less memory, a smaller disk
    assert await _sizes(driver, 4242) == (1, 1024, 40)


async def test_resize_refuses_a_running_or_missing_machine(driver: Driver, vm: VmSpec) -> None:
    await driver.create(vm)
    with pytest.raises(DriverError):
        await driver.resize(_bigger(vm, 4, 4096, 80))
    assert await _sizes(driver, 4242) == (2, 2048, 40)  # nothing changed
    assert (await driver.info(4242)).power_state == PowerState.RUNNING
    with pytest.raises(MachineNotFound):
        await driver.resize(spec(777, os_image=vm.os_image))


# -- cold migration: receive(spec, source) on a second host of the same kind -------------------

NO_STREAMS = (
    "libvirt's in-memory test:/// hypervisor has no storage volume streams (virStorageVolUpload "
    "is not supported there); libvirt's receive runs on qemu:///system in "
    "tests/drivers/libvirt/test_migration.py and with a real guest in test_real_guests.py"
)


@dataclass
class TwoHosts:
    source: Driver
    target: Driver
    os_image: str | None
    streams: bool = True  # the hypervisor can copy a disk between hosts


@pytest.fixture(params=["simulator", "libvirt"])
async def two_hosts(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path
) -> AsyncIterator[TwoHosts]:
    if request.param == "libvirt":
        a = _libvirt_hypervisor(settings, tmp_path / "a")
        b = _libvirt_hypervisor(settings, tmp_path / "b")
        try:
            yield TwoHosts(a.driver, b.driver, a.os_image, streams=False)
        finally:
            await a.driver.close()
            await b.driver.close()
        return
    engine = make_engine(settings)
    try:
        sim_a = SimulatorDriver(make_sessionmaker(engine), time_scale=0, host="a")
        sim_b = SimulatorDriver(make_sessionmaker(engine), time_scale=0, host="b")
        yield TwoHosts(sim_a, sim_b, None)
        await sim_a.close()
        await sim_b.close()
    finally:
        await engine.dispose()


async def test_receive_moves_a_shut_off_machine(two_hosts: TwoHosts) -> None:
    if not two_hosts.streams:
        pytest.skip(NO_STREAMS)
    a, b, vm = two_hosts.source, two_hosts.target, spec(os_image=two_hosts.os_image)
    await a.create(vm)
    await a.stop(4242)
    await b.receive(vm, a)
    assert (await b.info(4242)).power_state == PowerState.SHUTOFF
    await a.destroy(4242)  # what the worker does next
    assert (await a.info(4242)).power_state == PowerState.MISSING
    assert await a.list_machines() == []
    assert [(m.server_id, m.power_state) for m in await b.list_machines()] == [(4242, PowerState.SHUTOFF)]
    await b.start(4242)
    assert (await b.info(4242)).power_state == PowerState.RUNNING


async def test_receive_is_idempotent_and_needs_no_source_once_here(two_hosts: TwoHosts) -> None:
    if not two_hosts.streams:
        pytest.skip(NO_STREAMS)
    a, b, vm = two_hosts.source, two_hosts.target, spec(os_image=two_hosts.os_image)
    await a.create(vm)
    await a.stop(4242)
    await b.receive(vm, a)
    await b.receive(vm, a)  # a retried migration
    await a.destroy(4242)
    await b.receive(vm, a)  # retried after the source's machine was destroyed: still here
    assert [m.server_id for m in await b.list_machines()] == [4242]
    assert await a.list_machines() == []


async def test_receive_of_a_machine_on_neither_host_raises(two_hosts: TwoHosts) -> None:
    with pytest.raises(MachineNotFound):
        await two_hosts.target.receive(spec(777, os_image=two_hosts.os_image), two_hosts.source)


async def test_snapshot_copies_the_disk_and_is_idempotent(driver: Driver, vm: VmSpec) -> None:
    await driver.create(vm)
    size = await driver.snapshot(4242, 7)
    assert size >= 1
    assert await driver.snapshot(4242, 7) == size  # a retry finds the image complete
    assert (await driver.info(4242)).power_state == PowerState.RUNNING  # left as it was
    await driver.stop(4242)
    assert await driver.snapshot(4242, 8) >= 1  # a shut-off machine too
    assert (await driver.info(4242)).power_state == PowerState.SHUTOFF


async def test_a_snapshot_outlives_its_machine_and_delete_is_idempotent(driver: Driver, vm: VmSpec) -> None:
    await driver.create(vm)
    size = await driver.snapshot(4242, 9)
    await driver.destroy(4242)
    # the image is still there: a retried snapshot answers from it without the machine
    assert await driver.snapshot(4242, 9) == size
    await driver.delete_snapshot(9)
    await driver.delete_snapshot(9)  # already gone: fine
    await driver.delete_snapshot(12345)  # never taken: fine
    with pytest.raises(MachineNotFound):
        await driver.snapshot(4242, 9)  # gone, and so is the machine: nothing to copy


async def test_snapshot_of_a_missing_machine_raises(driver: Driver) -> None:
    with pytest.raises(MachineNotFound):
        await driver.snapshot(999, 1)


async def test_rebuild_boots_one_machine_again_from_running_or_stopped(
    hypervisor: Hypervisor, vm: VmSpec
) -> None:
    driver = hypervisor.driver
    await driver.create(vm)
    rebuilt = replace(vm, os_image=hypervisor.other_image, generation=1)
    await driver.rebuild(rebuilt)
    assert [(m.server_id, m.power_state) for m in await driver.list_machines()] == [
        (4242, PowerState.RUNNING)
    ]
    await driver.stop(4242)
    await driver.rebuild(replace(rebuilt, generation=2))  # from shut off: booted
    await driver.rebuild(replace(rebuilt, generation=2))  # a retry converges on one machine
    assert [(m.server_id, m.power_state) for m in await driver.list_machines()] == [
        (4242, PowerState.RUNNING)
    ]
    await driver.reboot(4242)  # still a working machine
    assert (await driver.info(4242)).power_state == PowerState.RUNNING


async def test_rebuild_of_a_missing_machine_raises(hypervisor: Hypervisor, vm: VmSpec) -> None:
    with pytest.raises(MachineNotFound):
        await hypervisor.driver.rebuild(replace(vm, generation=1))
    assert await hypervisor.driver.list_machines() == []


async def test_restore_rebuilds_from_a_snapshots_image_which_may_then_go(
    hypervisor: Hypervisor, vm: VmSpec
) -> None:
    driver = hypervisor.driver
    await driver.create(vm)
    await driver.snapshot(4242, 11)
    restored = replace(vm, disk_snapshot=11, generation=1)
    await driver.rebuild(restored)
    await driver.rebuild(restored)  # a retry converges on one running machine
    assert [(m.server_id, m.power_state) for m in await driver.list_machines()] == [
        (4242, PowerState.RUNNING)
    ]
    await driver.delete_snapshot(11)  # the disk is a copy: the machine does not need the image
    await driver.stop(4242)
    await driver.start(4242)
    assert (await driver.info(4242)).power_state == PowerState.RUNNING
    with pytest.raises(DriverError):  # the image is gone now: nothing to restore from
        await driver.rebuild(replace(restored, generation=2))


async def test_create_from_a_snapshot_and_from_a_missing_one(hypervisor: Hypervisor, vm: VmSpec) -> None:
    driver = hypervisor.driver
    await driver.create(vm)
    await driver.snapshot(4242, 12)
    await driver.destroy(4242)
    copy = replace(spec(4343, os_image=hypervisor.os_image), disk_snapshot=12)
    await driver.create(copy)
    await driver.create(copy)  # a retried create converges on one machine
    await driver.delete_snapshot(12)
    await driver.reboot(4343)
    assert [(m.server_id, m.power_state) for m in await driver.list_machines()] == [
        (4343, PowerState.RUNNING)
    ]
    with pytest.raises(DriverError):
        await driver.create(replace(spec(4444, os_image=hypervisor.os_image), disk_snapshot=12345))
    assert [m.server_id for m in await driver.list_machines()] == [4343]  # the failed one left nothing


async def test_libvirt_restores_a_whole_copy_grown_and_never_shrunk(
    settings: Settings, tmp_path: Path
) -> None:
    """libvirt's disk from a snapshot has no backing file, the plan's size, and a snapshot of
    a larger disk than the plan's is refused (a disk cannot shrink under its partitions)."""
    import json

    lv = _libvirt_hypervisor(settings, tmp_path)
    driver = lv.driver
    try:
        small = replace(spec(os_image=lv.os_image), storage_gb=20)
        await driver.create(small)
        await driver.snapshot(4242, 21)
        await driver.rebuild(replace(small, storage_gb=30, disk_snapshot=21, generation=1))
        disk = tmp_path / "machines" / "vpsorg-4242.qcow2"
        info = json.loads(
            subprocess.run(
                ["qemu-img", "info", "-U", "--output=json", str(disk)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        assert "backing-filename" not in info and info["virtual-size"] == 30 * 1024**3
        with pytest.raises(DriverError, match="larger than the plan's 10 GB"):
            await driver.rebuild(replace(small, storage_gb=10, disk_snapshot=21, generation=2))
    finally:
        await driver.close()


NO_CONSOLE = (
    "libvirt's in-memory test:/// hypervisor has no virDomainOpenConsole; libvirt's console "
    "runs with a real guest in tests/drivers/libvirt/test_real_guests.py"
)


async def _console_text(console: Console, marker: bytes) -> bytes:
    """Read a console (drivers.base.Console) until `marker` shows; what it showed."""
    seen = b""
    while marker not in seen:
        data = await asyncio.wait_for(console.read(), 10)
        assert data, f"the console ended before {marker!r}: {seen!r}"
        seen += data
    return seen


async def _console(driver: Driver, server_id: int) -> Console:
    try:
        return await driver.open_console(server_id)
    except DriverError as exc:
        if exc.code == ERR_NO_SUPPORT:
            pytest.skip(NO_CONSOLE)
        raise


async def test_console_of_a_running_machine_shows_a_login_prompt(driver: Driver, vm: VmSpec) -> None:
    await driver.create(vm)
    console = await _console(driver, 4242)
    try:
        assert b"login: " in await _console_text(console, b"login: ")
        await console.write(b"vpsorg\r")
        await _console_text(console, b"Password: ")
        await console.write(b"vpsorg\r")
        await _console_text(console, b"$ ")
        await console.write(b"hostname\r")
        assert b"contract.example.com\r\n" in await _console_text(console, b"$ ")
    finally:
        await console.close()
    assert await console.read() == b""  # closed: the end
    await console.close()  # idempotent


async def test_console_needs_a_running_machine(driver: Driver, vm: VmSpec) -> None:
    with pytest.raises(MachineNotFound):
        await driver.open_console(777)
    await driver.create(vm)
    await driver.stop(4242)
    with pytest.raises(DriverError):
        await driver.open_console(4242)
