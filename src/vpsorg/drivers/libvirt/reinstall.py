"""Rebuild on libvirt: the machine's disk replaced by a fresh overlay on the spec's OS image.

Every step is idempotent and the order makes a retry safe after a crash anywhere: the
domain is forced off (its disk is about to be thrown away, so no grace), a new overlay is
written aside and renamed over the old disk, a new NoCloud seed is written (its instance id
follows spec.generation, so cloud-init runs again on the fresh disk: keys, hostname, user
data), the domain is defined again from the spec (a new OS may boot another kernel and
initrd; same name, UUID and MAC, so the same addresses) and started, and the call returns
once the guest is up, as create does. A retry does it all again: one machine, a fresh disk.
"""

from typing import TYPE_CHECKING

import libvirt

from vpsorg.drivers.base import VmSpec
from vpsorg.drivers.libvirt.errors import ERR_OPERATION_INVALID

if TYPE_CHECKING:
    from vpsorg.drivers.libvirt.driver import LibvirtDriver


async def rebuild(driver: "LibvirtDriver", spec: VmSpec) -> None:
    name = driver._name(spec.server_id)
    await driver._run(f"rebuilding {name}", _power_off, driver, name)
    await driver._new_disk(spec, name)
    await driver._run(f"rebuilding {name}", _seed_define_start, driver, spec, name)
    await driver._wait_until_up(name, previous_boot=None)


def _power_off(driver: "LibvirtDriver", name: str) -> None:
    """Off at once (MachineNotFound when this host has no such machine)."""
    dom = driver._need(name)
    if dom.isActive():
        try:
            dom.destroy()
        except libvirt.libvirtError as e:
            if e.get_error_code() != ERR_OPERATION_INVALID:  # it went off meanwhile
                raise
    driver._cpu_samples.pop(name, None)


def _seed_define_start(driver: "LibvirtDriver", spec: VmSpec, name: str) -> None:
    driver._prepare_seed(spec, name, fresh=True)
    dom = driver._connection().defineXML(driver._domain_xml(spec, name))  # replaces its definition
    if not dom.isActive():
        dom.create()
