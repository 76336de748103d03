"""What a rebuild leaves behind, per driver: a fresh disk of the new image, installed with the
spec's keys, and (libvirt) a new cloud-init instance. The driver-agnostic half (one running
machine, idempotent, MachineNotFound) is in test_contract.py."""

import json
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from tests.drivers.test_contract import _libvirt_hypervisor, spec
from vpsorg.config import Settings
from vpsorg.db import make_engine, make_sessionmaker
from vpsorg.drivers.base import DriverError
from vpsorg.drivers.simulator import SimMachine, SimulatorDriver, inject_fault
from vpsorg.servers.states import PowerState

pytestmark = pytest.mark.anyio
NEW_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHJlYnVpbHQtd2l0aC1hLW5ldy1rZXktMTIzNDU2Nzg5 new"


async def test_simulator_counts_fresh_disks_and_records_the_new_install(settings: Settings) -> None:
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    driver = SimulatorDriver(sessions, time_scale=0)

    async def machine() -> SimMachine:
        async with sessions() as s:
            found = await s.scalar(select(SimMachine).where(SimMachine.server_id == 4242))
            assert found is not None
            return found

    try:
        await driver.create(replace(spec(), os_image="debian-12", user_data="#cloud-config\n"))
        before = await machine()
        assert (before.disk_generation, before.os_image) == (0, "debian-12")
        rebuilt = replace(spec(), os_image="debian-13", ssh_public_keys=(NEW_KEY,), generation=1)
        await driver.rebuild(rebuilt)
        after = await machine()
        assert (after.disk_generation, after.os_image, after.power_state) == (1, "debian-13", "running")
        assert after.user_data_sha256 is None  # the rebuild's spec has none
        assert after.ssh_keys_sha256 not in (None, before.ssh_keys_sha256)
        await driver.rebuild(rebuilt)  # a retry: another fresh disk, the same machine
        assert (await machine()).disk_generation == 2
        async with sessions.begin() as s:
            await inject_fault(s, op="rebuild", message="image store unreachable")
        with pytest.raises(DriverError, match="image store unreachable"):
            await driver.rebuild(rebuilt)
        assert (await machine()).disk_generation == 2  # failed before: the disk untouched
    finally:
        await engine.dispose()


def _backing_file(disk: Path) -> str:
    info = subprocess.run(
        ["qemu-img", "info", "--output=json", str(disk)], check=True, capture_output=True, text=True
    )
    return str(json.loads(info.stdout)["backing-filename"])


async def test_libvirt_replaces_the_disk_seed_and_definition(settings: Settings, tmp_path: Path) -> None:
    from vpsorg.drivers.libvirt.seed import read_iso

    hv = _libvirt_hypervisor(settings, tmp_path)
    driver = hv.driver
    vm = replace(spec(), os_image=hv.os_image, os_kernel="/images/12/vmlinuz")
    try:
        await driver.create(vm)
        name = driver._name(4242)  # type: ignore[attr-defined]
        paths = driver._paths(name)  # type: ignore[attr-defined]
        old_disk = paths["disk"].stat().st_ino
        assert _backing_file(paths["disk"]) == hv.os_image
        rebuilt = replace(
            vm,
            os_image=hv.other_image,
            os_kernel="/images/13/vmlinuz",
            ssh_public_keys=(NEW_KEY,),
            generation=1,
        )
        await driver.rebuild(rebuilt)
        assert paths["disk"].stat().st_ino != old_disk  # a new file: nothing of the old disk kept
        assert _backing_file(paths["disk"]) == hv.other_image
        assert not paths["partial"].exists()
        seed = read_iso(paths["seed"].read_bytes())
        assert f"instance-id: {name}-r1" in seed["meta-data"].decode()  # cloud-init runs again
        assert yaml.safe_load(seed["user-data"])["ssh_authorized_keys"] == [NEW_KEY]  # the new keys only
        conn = driver._connection()  # type: ignore[attr-defined]
        kernel = ET.fromstring(conn.lookupByName(name).XMLDesc(0)).findtext("./os/kernel")
        assert kernel == "/images/13/vmlinuz"  # the new OS's kernel boots
        assert (await driver.info(4242)).power_state == PowerState.RUNNING
    finally:
        await driver.close()


async def test_libvirt_rebuild_to_a_missing_image_says_so(settings: Settings, tmp_path: Path) -> None:
    hv = _libvirt_hypervisor(settings, tmp_path)
    driver = hv.driver
    vm = replace(spec(), os_image=hv.os_image)
    try:
        await driver.create(vm)
        with pytest.raises(DriverError, match="is not a file on the hypervisor host"):
            await driver.rebuild(replace(vm, os_image=str(tmp_path / "gone.qcow2"), generation=1))
        # What it leaves: the machine, off, for the server's error to be seen (and rebuilt again).
        assert (await driver.info(4242)).power_state == PowerState.SHUTOFF
        await driver.rebuild(replace(vm, generation=2))
        assert (await driver.info(4242)).power_state == PowerState.RUNNING
    finally:
        await driver.close()
