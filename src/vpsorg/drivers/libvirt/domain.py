"""Domain XML for a server's machine: a pure function of the machine's description."""

import hashlib
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# Names and UUIDs of domains are derived from the server id, so a retried action finds the
# machine an earlier attempt defined instead of building a second one.
_NAMESPACE = uuid.UUID("1b7c0d2e-6c1f-4d5e-9a57-7670736f7267")


def domain_name(prefix: str, server_id: int) -> str:
    return f"{prefix}{server_id}"


def domain_uuid(name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, name))


def mac_address(name: str) -> str:
    """A stable locally administered MAC in QEMU's 52:54:00 range."""
    digest = hashlib.sha256(name.encode()).digest()
    return "52:54:00:" + ":".join(f"{b:02x}" for b in digest[:3])


def host_has_hardware_virtualization(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """vmx/svm in the CPU flags. Not /dev/kvm, not libvirt's capabilities: under a
    paravirtual KVM module both claim KVM while guests crash or crawl (libvirt-notes.md)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    return re.search(r"^flags\s*:.*\b(vmx|svm)\b", text, re.MULTILINE) is not None


@dataclass(frozen=True)
class DomainConfig:
    name: str
    virt_type: Literal["kvm", "qemu", "test"]
    vcpus: int
    memory_mib: int
    disk_path: str
    seed_path: str
    console_log: str
    mac: str
    # Exactly one of network and bridge.
    network: str | None = None
    bridge: str | None = None
    kernel: str | None = None
    initrd: str | None = None
    kernel_args: str | None = None


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def domain_xml(c: DomainConfig) -> str:
    if (c.network is None) == (c.bridge is None):
        raise ValueError("exactly one of network and bridge")
    dom = ET.Element("domain", type=c.virt_type)
    _sub(dom, "name", c.name)
    _sub(dom, "uuid", domain_uuid(c.name))
    _sub(dom, "title", f"vpsorg server {c.name}")
    _sub(dom, "memory", str(c.memory_mib), unit="MiB")
    _sub(dom, "currentMemory", str(c.memory_mib), unit="MiB")
    _sub(dom, "vcpu", str(c.vcpus), placement="static")

    os_ = _sub(dom, "os")
    _sub(os_, "type", "hvm", arch="x86_64")
    if c.kernel:
        _sub(os_, "kernel", c.kernel)
        if c.initrd:
            _sub(os_, "initrd", c.initrd)
        _sub(os_, "cmdline", c.kernel_args or "root=/dev/vda console=ttyS0")
    else:
        _sub(os_, "boot", dev="hd")
    features = _sub(dom, "features")
    _sub(features, "acpi")
    _sub(features, "apic")
    if c.virt_type == "kvm":
        _sub(dom, "cpu", mode="host-passthrough")
    _sub(dom, "clock", offset="utc")
    _sub(dom, "on_poweroff", "destroy")
    _sub(dom, "on_reboot", "restart")
    _sub(dom, "on_crash", "destroy")

    dev = _sub(dom, "devices")
    disk = _sub(dev, "disk", type="file", device="disk")
    _sub(disk, "driver", name="qemu", type="qcow2", discard="unmap")
    _sub(disk, "source", file=c.disk_path)
    _sub(disk, "target", dev="vda", bus="virtio")
    # The NoCloud seed: cloud-init finds it by its volume label (cidata) on any disk.
    seed = _sub(dev, "disk", type="file", device="disk")
    _sub(seed, "driver", name="qemu", type="raw")
    _sub(seed, "source", file=c.seed_path)
    _sub(seed, "target", dev="vdb", bus="virtio")
    _sub(seed, "readonly")

    if c.bridge is not None:
        nic = _sub(dev, "interface", type="bridge")
        _sub(nic, "source", bridge=c.bridge)
    else:
        nic = _sub(dev, "interface", type="network")
        _sub(nic, "source", network=str(c.network))
    _sub(nic, "mac", address=c.mac)
    _sub(nic, "model", type="virtio")

    serial = _sub(dev, "serial", type="pty")
    _sub(serial, "log", file=c.console_log, append="off")
    _sub(serial, "target", port="0")
    console = _sub(dev, "console", type="pty")
    _sub(console, "target", type="serial", port="0")
    # The guest agent's virtio-serial channel: readiness, filesystem usage, no network needed.
    channel = _sub(dev, "channel", type="unix")
    _sub(channel, "target", type="virtio", name="org.qemu.guest_agent.0")
    balloon = _sub(dev, "memballoon", model="virtio")
    _sub(balloon, "stats", period="5")
    rng = _sub(dev, "rng", model="virtio")
    _sub(rng, "backend", "/dev/urandom", model="random")

    ET.indent(dom)
    return ET.tostring(dom, encoding="unicode")
