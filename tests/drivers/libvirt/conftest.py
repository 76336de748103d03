"""Real guests under libvirtd: the image, an isolated network, unique names, cleanup.

These tests need root, a running libvirtd at qemu:///system, QEMU, debootstrap and the
`libvirt` extra. `VPSORG_TEST_LIBVIRT` decides what happens without them: unset, the tests
are skipped and say why; `required` (CI) turns a missing piece into a failure; `0` skips.
"""

import os
import shutil
import subprocess
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
BUILD_SCRIPT = ROOT / "scripts" / "build-debian-image.sh"
URI = "qemu:///system"


def missing(tools: tuple[str, ...], root_for: str) -> str | None:
    """Why libvirt tests needing `tools` (and root, for `root_for`) cannot run here, or None."""
    try:
        import libvirt
    except ImportError:
        return "libvirt-python is not installed (the `libvirt` extra; needs libvirt-dev)"
    if os.geteuid() != 0:
        return f"{root_for} needs root"
    for tool in tools:
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    try:
        libvirt.open(URI).close()
    except libvirt.libvirtError as e:
        return f"libvirtd is not reachable at {URI}: {e.get_error_message()}"
    return None


def require(why: str | None, skipped: str) -> None:
    """Skip (`skipped`: what, and why) or fail as VPSORG_TEST_LIBVIRT says, when `why`."""
    mode = os.environ.get("VPSORG_TEST_LIBVIRT", "")
    if mode == "0":
        pytest.skip("VPSORG_TEST_LIBVIRT=0")
    if why and mode == "required":
        pytest.fail(f"VPSORG_TEST_LIBVIRT=required, but {why}")
    if why:
        pytest.skip(skipped.format(why=why))


@pytest.fixture(scope="session")
def real_libvirt() -> None:
    why = missing(("qemu-system-x86_64", "qemu-img", "debootstrap", "mkfs.ext4"), "building the guest image")
    require(why, "real-guest tests skipped: {why} (see README, 'Real servers')")


@dataclass(frozen=True)
class GuestImage:
    disk: str
    kernel: str
    initrd: str
    kernel_args: str = "root=/dev/vda console=ttyS0 net.ifnames=0 quiet"


SUITES = {"bookworm": "12", "trixie": "13"}


def cached_image(suite: str = "bookworm") -> GuestImage:
    """A Debian guest image (12, or 13 for trixie), built once per version of the build
    script and cached."""
    cache = os.environ.get("VPSORG_TEST_IMAGE_CACHE", "/var/cache/vpsorg-images")
    done = subprocess.run(
        [str(BUILD_SCRIPT), "--suite", suite, "--cache", cache], capture_output=True, text=True, timeout=1200
    )
    assert done.returncode == 0, f"image build failed:\n{done.stdout}\n{done.stderr}"
    out = Path(done.stdout.strip().splitlines()[-1])
    return GuestImage(
        disk=str(out / f"debian-{SUITES[suite]}.qcow2"),
        kernel=str(out / "vmlinuz"),
        initrd=str(out / "initrd.img"),
    )


@dataclass(frozen=True)
class Lab:
    """Unique names for one test session's guests, and where their files go."""

    network: str
    prefix: str
    storage: Path


@contextmanager
def open_lab() -> Iterator[Lab]:
    """An isolated libvirt network: a bridge with no host address and no DHCP, so nothing
    from the host can reach the guests' addresses (nor they anything)."""
    import libvirt

    tag = uuid.uuid4().hex[:8]
    network, bridge = f"vpsorg-test-{tag}", f"vpt{tag}"
    conn = libvirt.open(URI)
    net = conn.networkCreateXML(
        f"<network><name>{network}</name><bridge name='{bridge}' stp='off'/></network>"
    )
    # No IPv6 link-local address on the host side either.
    Path(f"/proc/sys/net/ipv6/conf/{bridge}/disable_ipv6").write_text("1")
    storage = Path("/var/lib/vpsorg-test") / tag
    storage.mkdir(mode=0o755, parents=True)
    os.chmod(storage.parent, 0o755)
    lab = Lab(network=network, prefix=f"vpsorgt{tag}-", storage=storage)
    try:
        yield lab
    finally:
        for dom in conn.listAllDomains(0):
            if dom.name().startswith(lab.prefix):
                if dom.isActive():
                    dom.destroy()
                dom.undefine()
        for pool in conn.listAllStoragePools(0):  # the hosts' pools (the driver defines them)
            if (pool_target(pool) + "/").startswith(f"{storage}/"):
                if pool.isActive():
                    pool.destroy()
                if pool.isPersistent():
                    pool.undefine()
        net.destroy()
        conn.close()
        shutil.rmtree(storage, ignore_errors=True)


def pool_target(pool: Any) -> str:
    return ET.fromstring(pool.XMLDesc(0)).findtext("./target/path") or ""


@pytest.fixture(scope="session")
def guest_image(real_libvirt: None) -> GuestImage:
    return cached_image()


@pytest.fixture(scope="session")
def newer_image(real_libvirt: None) -> GuestImage:
    """Debian 13: the image the walk's server is rebuilt to."""
    return cached_image("trixie")


@pytest.fixture(scope="session")
def lab(real_libvirt: None) -> Iterator[Lab]:
    with open_lab() as lab:
        yield lab


def domains(lab: Lab) -> list[str]:
    import libvirt

    conn = libvirt.open(URI)
    try:
        return sorted(d.name() for d in conn.listAllDomains(0) if d.name().startswith(lab.prefix))
    finally:
        conn.close()
