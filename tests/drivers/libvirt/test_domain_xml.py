"""Domain XML is a pure function of the machine's description."""

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from vpsorg.drivers.libvirt.domain import (
    DomainConfig,
    domain_name,
    domain_uuid,
    domain_xml,
    host_has_hardware_virtualization,
    mac_address,
)


def config(**changes: object) -> DomainConfig:
    base: dict[str, object] = dict(
        name="vpsorg-42",
        virt_type="qemu",
        vcpus=2,
        memory_mib=2048,
        disk_path="/var/lib/vpsorg/machines/vpsorg-42.qcow2",
        seed_path="/var/lib/vpsorg/machines/vpsorg-42-seed.iso",
        console_log="/var/lib/vpsorg/machines/vpsorg-42.console.log",
        mac=mac_address("vpsorg-42"),
        network="default",
    )
    base.update(changes)
    return DomainConfig(**base)  # type: ignore[arg-type]


def test_identity_is_derived_from_the_server_id() -> None:
    assert domain_name("vpsorg-", 42) == "vpsorg-42"
    assert domain_uuid("vpsorg-42") == domain_uuid("vpsorg-42") != domain_uuid("vpsorg-43")
    assert mac_address("vpsorg-42") == mac_address("vpsorg-42") != mac_address("vpsorg-43")
    assert mac_address("vpsorg-42").startswith("52:54:00:")
    root = ET.fromstring(domain_xml(config()))
    assert root.findtext("name") == "vpsorg-42"
    assert root.findtext("uuid") == domain_uuid("vpsorg-42")


def test_plan_sizes_disks_and_devices() -> None:
    root = ET.fromstring(domain_xml(config()))
    assert root.get("type") == "qemu"
    assert root.find("memory").text == "2048" and root.find("memory").get("unit") == "MiB"  # type: ignore[union-attr]
    assert root.findtext("vcpu") == "2"
    assert root.find("cpu") is None  # TCG: no host-passthrough
    disks = root.findall("devices/disk")
    assert [(d.find("target").get("dev"), d.find("source").get("file")) for d in disks] == [  # type: ignore[union-attr]
        ("vda", "/var/lib/vpsorg/machines/vpsorg-42.qcow2"),
        ("vdb", "/var/lib/vpsorg/machines/vpsorg-42-seed.iso"),
    ]
    assert disks[0].find("driver").get("type") == "qcow2"  # type: ignore[union-attr]
    assert disks[1].find("readonly") is not None and disks[0].find("readonly") is None
    nic = root.find("devices/interface")
    assert nic is not None and nic.get("type") == "network"
    assert nic.find("source").get("network") == "default"  # type: ignore[union-attr]
    assert nic.find("mac").get("address") == mac_address("vpsorg-42")  # type: ignore[union-attr]
    assert nic.find("model").get("type") == "virtio"  # type: ignore[union-attr]
    channel = root.find("devices/channel/target")
    assert channel is not None and channel.get("name") == "org.qemu.guest_agent.0"
    assert root.find("devices/memballoon/stats").get("period") == "5"  # type: ignore[union-attr]
    assert root.find("devices/serial/log").get("file").endswith("vpsorg-42.console.log")  # type: ignore[union-attr]
    assert root.find("os/boot").get("dev") == "hd"  # type: ignore[union-attr]
    assert root.find("os/kernel") is None


def test_kvm_direct_kernel_boot_and_a_bridge() -> None:
    root = ET.fromstring(
        domain_xml(
            config(
                virt_type="kvm",
                network=None,
                bridge="br0",
                kernel="/images/vmlinuz",
                initrd="/images/initrd.img",
                kernel_args="root=/dev/vda console=ttyS0 net.ifnames=0",
            )
        )
    )
    assert root.get("type") == "kvm"
    assert root.find("cpu").get("mode") == "host-passthrough"  # type: ignore[union-attr]
    assert root.findtext("os/kernel") == "/images/vmlinuz"
    assert root.findtext("os/initrd") == "/images/initrd.img"
    assert root.findtext("os/cmdline") == "root=/dev/vda console=ttyS0 net.ifnames=0"
    assert root.find("os/boot") is None
    nic = root.find("devices/interface")
    assert nic is not None and nic.get("type") == "bridge"
    assert nic.find("source").get("bridge") == "br0"  # type: ignore[union-attr]


def test_exactly_one_network_attachment() -> None:
    with pytest.raises(ValueError):
        domain_xml(config(bridge="br0"))
    with pytest.raises(ValueError):
        domain_xml(config(network=None))


@pytest.mark.skipif(
    shutil.which("virt-xml-validate") is None or shutil.which("xmllint") is None,
    reason="virt-xml-validate needs libvirt-clients and libxml2-utils",
)
@pytest.mark.parametrize("kind", ["disk boot, network", "kernel boot, bridge"])
def test_libvirt_schema_accepts_it(kind: str, tmp_path: Path) -> None:
    c = (
        config()
        if kind.startswith("disk")
        else config(virt_type="kvm", network=None, bridge="br0", kernel="/k", initrd="/i")
    )
    path = tmp_path / "domain.xml"
    path.write_text(domain_xml(c))
    done = subprocess.run(["virt-xml-validate", str(path), "domain"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_kvm_is_decided_by_cpu_flags(tmp_path: Path) -> None:
    with_vmx = tmp_path / "vmx"
    with_vmx.write_text("processor\t: 0\nflags\t\t: fpu vme de pse vmx sse2\n")
    paravirt = tmp_path / "pv"
    paravirt.write_text("processor\t: 0\nflags\t\t: fpu vme de pse hypervisor sse2\n")
    assert host_has_hardware_virtualization(str(with_vmx))
    assert not host_has_hardware_virtualization(str(paravirt))
    assert not host_has_hardware_virtualization(str(tmp_path / "missing"))
