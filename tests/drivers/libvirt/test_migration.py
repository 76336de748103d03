"""Cold migration between two libvirt hosts that share one libvirtd (qemu:///system) with
two storage directories, as CI runs a fleet: real storage pools, real volume streams, real
files; no guest is ever started (the source machine is defined shut off, as the worker
leaves it before `receive`). The real guest's migration is in test_real_guests.py.

Needs root, a running libvirtd and qemu-img; `VPSORG_TEST_LIBVIRT` decides as for real
guests (unset: skipped with the reason; `required`: a failure; `0`: skipped).
"""

import hashlib
import os
import subprocess
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.drivers.libvirt.conftest import URI, missing, require
from tests.drivers.test_contract import spec
from vpsorg.config import Settings
from vpsorg.drivers.base import DriverError, MachineNotFound, PowerState, VmSpec

pytestmark = pytest.mark.anyio
SID = 4243


@pytest.fixture(scope="module")
def system_libvirt() -> None:
    why = missing(("qemu-img", "qemu-io"), "storage pools over test directories")
    require(why, "migration tests on qemu:///system skipped: {why}")


@dataclass
class Fleet:
    a: Any  # LibvirtDriver on directory a
    b: Any  # LibvirtDriver on directory b, same libvirtd
    vm: VmSpec
    name: str
    conn: Any
    base: Path

    def files(self, host: str) -> list[str]:
        return sorted(p.name for p in (self.a if host == "a" else self.b).storage.iterdir())

    def domains(self) -> list[str]:
        return sorted(d.name() for d in self.conn.listAllDomains(0) if d.name() == self.name)

    def disk_of_domain(self) -> str | None:
        root = ET.fromstring(self.conn.lookupByName(self.name).XMLDesc(0))
        return root.find("./devices/disk/source").get("file")  # type: ignore[union-attr]


def _cleanup(conn: Any, root: Path, prefix: str) -> None:
    for dom in conn.listAllDomains(0):
        if dom.name().startswith(prefix):
            if dom.isActive():
                dom.destroy()
            dom.undefine()
    for pool in conn.listAllStoragePools(0):
        path = ET.fromstring(pool.XMLDesc(0)).findtext("./target/path") or ""
        if path.startswith(str(root)):
            if pool.isActive():
                pool.destroy()
            if pool.isPersistent():
                pool.undefine()


@pytest.fixture
async def fleet(system_libvirt: None, settings: Settings, tmp_path: Path) -> AsyncIterator[Fleet]:
    import libvirt

    from vpsorg.drivers.libvirt.driver import LibvirtDriver

    root = tmp_path / "fleet"
    (root / "images").mkdir(parents=True)
    base = root / "images" / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "1G"], check=True)
    prefix = f"mig{uuid.uuid4().hex[:8]}-"

    def host(directory: str) -> Any:
        return LibvirtDriver(
            settings.model_copy(
                update={
                    "libvirt_uri": URI,
                    "libvirt_storage_dir": str(root / directory),
                    "libvirt_name_prefix": prefix,
                    "libvirt_network": "vpsorg-test-unused",  # never started: no NIC needed
                    "libvirt_boot_check": "none",
                }
            )
        )

    a, b = host("a"), host("b")
    conn = libvirt.open(URI)
    vm = spec(SID, os_image=str(base))
    name = f"{prefix}{SID}"
    try:
        # The source machine as the worker leaves it before `receive`: defined, shut off,
        # with 3 MiB written into its disk and a month of traffic counted.
        await a._prepare_disk(vm, name)
        subprocess.run(
            ["qemu-io", "-f", "qcow2", "-c", "write -P 0xab 0 3M", str(a.storage / f"{name}.qcow2")],
            check=True,
            capture_output=True,
        )
        a._prepare_seed(vm, name)
        (a.storage / f"{name}.net.json").write_text('{"month": "2026-12", "bytes": 5368709120, "last": 7}')
        conn.defineXML(a._domain_xml(vm, name))
        yield Fleet(a=a, b=b, vm=vm, name=name, conn=conn, base=base)
    finally:
        await a.close()
        await b.close()
        _cleanup(conn, root, prefix)
        conn.close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_receive_moves_the_machine_and_destroy_leaves_the_target_alone(fleet: Fleet) -> None:
    from vpsorg.drivers.libvirt.domain import mac_address
    from vpsorg.drivers.libvirt.seed import read_iso, seed_files

    a, b, name = fleet.a, fleet.b, fleet.name
    disk = sha256(a.storage / f"{name}.qcow2")
    assert (await a.info(SID)).power_state == PowerState.SHUTOFF
    assert (await b.info(SID)).power_state == PowerState.MISSING

    await b.receive(fleet.vm, a)

    # One domain of that name, now the target's: its disk is in b's directory.
    assert fleet.domains() == [name]
    assert fleet.disk_of_domain() == str(b.storage / f"{name}.qcow2")
    assert (await b.info(SID)).power_state == PowerState.SHUTOFF
    assert (await a.info(SID)).power_state == PowerState.MISSING
    assert [m.server_id for m in await b.list_machines()] == [SID]
    assert await a.list_machines() == []
    assert fleet.files("b") == [f"{name}-seed.iso", f"{name}.net.json", f"{name}.qcow2"]
    # The disk byte for byte (its header still names the OS image), the seed rebuilt from
    # the spec, the month's traffic carried over.
    assert sha256(b.storage / f"{name}.qcow2") == disk
    info = subprocess.run(
        ["qemu-img", "info", "--output=json", str(b.storage / f"{name}.qcow2")],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert f'"backing-filename": "{fleet.base}"' in info
    seeded = read_iso((b.storage / f"{name}-seed.iso").read_bytes())
    assert seeded == seed_files(fleet.vm, instance_id=name, mac=mac_address(name), nameservers=b.nameservers)
    assert (b.storage / f"{name}.net.json").read_text() == (a.storage / f"{name}.net.json").read_text()
    assert (await b.usage(SID)).bandwidth_used == 5

    # The worker then destroys the source: its files go, the domain (the target's) stays.
    await a.destroy(SID)
    assert fleet.files("a") == []
    assert fleet.domains() == [name]
    assert (await b.info(SID)).power_state == PowerState.SHUTOFF
    assert sha256(b.storage / f"{name}.qcow2") == disk

    # A retried migration finds it here and needs no source; a create on the old host
    # refuses to take over the target's machine and removes only what it built.
    await b.receive(fleet.vm, a)
    with pytest.raises(DriverError, match="another host's machine"):
        await a.create(fleet.vm)
    assert fleet.files("a") == [] and fleet.domains() == [name]

    await b.destroy(SID)
    assert fleet.domains() == [] and fleet.files("b") == []


async def test_receive_into_a_remote_pool_goes_through_libvirt_only(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A target reached as qemu+ssh:// (its directory is not this machine's): no local file
    is written or renamed; the disk lands under its own name and the domain's definition
    is what makes it count. destroy removes the volumes through the pool."""
    a, b, name = fleet.a, fleet.b, fleet.name
    b.local_storage = False
    monkeypatch.setattr(os, "replace", _forbidden)
    disk = sha256(a.storage / f"{name}.qcow2")
    await b.receive(fleet.vm, a)
    monkeypatch.undo()
    assert fleet.disk_of_domain() == str(b.storage / f"{name}.qcow2")
    assert sha256(b.storage / f"{name}.qcow2") == disk
    await a.destroy(SID)
    await b.destroy(SID)
    assert fleet.domains() == [] and fleet.files("a") == [] and fleet.files("b") == []


def _forbidden(*args: object) -> None:
    raise AssertionError(f"a local rename on a remote pool: {args}")


@pytest.mark.parametrize("local", [True, False], ids=["local-pool", "remote-pool"])
async def test_a_copy_that_fails_leaves_nothing_and_a_retry_completes(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch, local: bool
) -> None:
    from vpsorg.drivers.libvirt import storage

    a, b, name = fleet.a, fleet.b, fleet.name
    b.local_storage = local
    disk = sha256(a.storage / f"{name}.qcow2")
    real = storage._send_all
    calls: list[int] = []

    def dying(stream: Any, data: bytes) -> None:
        if len(calls) == 3:  # seed ISO and traffic file went whole; the disk dies after 1 MiB
            raise RuntimeError("killed mid-copy")
        real(stream, data)
        calls.append(len(data))

    monkeypatch.setattr(storage, "_send_all", dying)
    with pytest.raises(DriverError, match="killed mid-copy"):
        await b.receive(fleet.vm, a)
    monkeypatch.undo()

    # A failed copy cleans up after itself: nothing of the machine on b, a's untouched.
    assert fleet.files("b") == []
    assert (await b.info(SID)).power_state == PowerState.MISSING
    assert (await a.info(SID)).power_state == PowerState.SHUTOFF
    assert fleet.disk_of_domain() == str(a.storage / f"{name}.qcow2")
    assert sha256(a.storage / f"{name}.qcow2") == disk

    await b.receive(fleet.vm, a)  # the retried migration
    assert fleet.domains() == [name]
    assert fleet.disk_of_domain() == str(b.storage / f"{name}.qcow2")
    assert sha256(b.storage / f"{name}.qcow2") == disk
    assert fleet.files("b") == [f"{name}-seed.iso", f"{name}.net.json", f"{name}.qcow2"]


@pytest.mark.parametrize("local", [True, False], ids=["local-pool", "remote-pool"])
async def test_a_killed_copy_counts_nowhere_and_a_retry_completes(fleet: Fleet, local: bool) -> None:
    """What a worker killed mid-copy leaves on the target (half the disk where the upload
    lands, a seed ISO): not the target's machine; the next attempt replaces all of it."""
    a, b, name = fleet.a, fleet.b, fleet.name
    b.local_storage = local
    disk = (a.storage / f"{name}.qcow2").read_bytes()
    b.storage.mkdir()
    landing = b.storage / (f"{name}.qcow2.part" if local else f"{name}.qcow2")
    landing.write_bytes(disk[: len(disk) // 2])
    (b.storage / f"{name}-seed.iso").write_bytes(b"half a seed")
    assert (await b.info(SID)).power_state == PowerState.MISSING
    assert await b.list_machines() == [] and await b.usage(SID) is None
    assert (await a.info(SID)).power_state == PowerState.SHUTOFF

    await b.receive(fleet.vm, a)
    assert (b.storage / f"{name}.qcow2").read_bytes() == disk
    assert fleet.files("b") == [f"{name}-seed.iso", f"{name}.net.json", f"{name}.qcow2"]
    assert fleet.disk_of_domain() == str(b.storage / f"{name}.qcow2")
    assert (await b.info(SID)).power_state == PowerState.SHUTOFF


async def test_a_rolled_back_migration_leaves_the_source_whole(fleet: Fleet) -> None:
    """A copy that died, then the target destroyed (a migration that gives up): the target's
    leftovers go, the source's machine is untouched."""
    a, b, name = fleet.a, fleet.b, fleet.name
    (b.storage).mkdir()
    (b.storage / f"{name}.qcow2.part").write_bytes(b"half a disk")
    (b.storage / f"{name}-seed.iso").write_bytes(b"stale")
    await b.destroy(SID)
    assert fleet.files("b") == []
    assert fleet.disk_of_domain() == str(a.storage / f"{name}.qcow2")
    assert (await a.info(SID)).power_state == PowerState.SHUTOFF
    assert fleet.files("a") == [f"{name}-seed.iso", f"{name}.net.json", f"{name}.qcow2"]


async def test_a_defined_machine_whose_disk_is_missing_is_copied_again(fleet: Fleet) -> None:
    a, b, name = fleet.a, fleet.b, fleet.name
    await b.receive(fleet.vm, a)
    (b.storage / f"{name}.qcow2").unlink()  # the domain is b's, its disk is not there
    await b.receive(fleet.vm, a)
    assert sha256(b.storage / f"{name}.qcow2") == sha256(a.storage / f"{name}.qcow2")
    assert fleet.domains() == [name]


async def test_the_os_image_must_be_on_the_target(fleet: Fleet) -> None:
    fleet.base.rename(fleet.base.with_suffix(".moved"))
    with pytest.raises(DriverError, match="is not on the target host"):
        await fleet.b.receive(fleet.vm, fleet.a)
    assert (await fleet.b.info(SID)).power_state == PowerState.MISSING
    assert (await fleet.a.info(SID)).power_state == PowerState.SHUTOFF


async def test_neither_host_has_it(fleet: Fleet) -> None:
    with pytest.raises(MachineNotFound):
        await fleet.b.receive(replace(fleet.vm, server_id=SID + 1), fleet.a)
