"""Snapshot images on a libvirt host: a whole qcow2 copy of a machine's disk (its overlay
and the OS image behind it, flattened) in `<storage>/snapshots/snapshot-<id>.qcow2`.

Why a `qemu-img convert` copy rather than libvirt's external disk-only snapshot and a
blockcommit afterwards: the copy never touches the domain's own disk chain, so a crash at
any point leaves the machine exactly as it was (at worst a `.part` file that the retry
replaces), while a crash between an external snapshot and its blockcommit leaves the
domain running on a new overlay that every later step (migration, destroy, the next
snapshot) would have to know about. The cost: a running guest stays frozen (fsfreeze) for
the copy's duration, seconds for a few GB; the image is self-contained (no backing file),
so it outlives its server and the OS image alike, and can later be a new disk's source.

Blocking: the driver runs these in threads.
"""

import math
import os
import subprocess
from pathlib import Path

import libvirt

from vpsorg.drivers.base import DriverError

GIB = 1024**3


def image_path(storage: Path, snapshot_id: int) -> Path:
    return storage / "snapshots" / f"snapshot-{snapshot_id}.qcow2"


def size_gb(path: Path) -> int:
    """The image's allocation on disk, in whole GB rounded up; at least 1."""
    used = os.stat(path).st_blocks * 512
    return max(1, math.ceil(used / GIB))


def freeze(dom: libvirt.virDomain, name: str) -> bool:
    """Freeze a running guest's filesystems through the guest agent (True), after thawing
    them first: an earlier attempt killed between its freeze and its thaw left them frozen.
    A shut-off machine needs nothing (False)."""
    if not dom.isActive():
        return False
    try:
        dom.fsThaw()
    except libvirt.libvirtError:
        pass  # not frozen, or no agent (then the freeze below says so)
    try:
        dom.fsFreeze()
    except libvirt.libvirtError as e:
        raise DriverError(
            f"cannot take a consistent snapshot of {name}: freezing its filesystems through the "
            f"guest agent failed ({e.get_error_message()}); stop the server to snapshot it without"
        ) from None
    return True


def thaw(dom: libvirt.virDomain) -> None:
    dom.fsThaw()


def copy_disk(disk: Path, image: Path) -> int:
    """Flatten `disk` (and its backing chain) into `image`, complete under its own name only
    once whole; its size in GB. Already there (a retry): its size, nothing copied."""
    if image.exists():
        return size_gb(image)
    if not disk.exists():
        raise DriverError(f"the disk {disk} does not exist")
    image.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    partial = image.with_name(image.name + ".part")
    # -U: the running QEMU holds the disk's write lock; its guest is frozen meanwhile
    cmd = ["qemu-img", "convert", "-U", "-q", "-O", "qcow2", str(disk), str(partial)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as e:
        raise DriverError(f"cannot run qemu-img ({e})") from None
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise DriverError(f"copying {disk.name}: {done.stderr.strip() or done.stdout.strip()}")
    os.chmod(partial, 0o644)
    os.replace(partial, image)
    return size_gb(image)


def restore_commands(image: Path, disk: Path, storage_gb: int, virtual_bytes: int) -> list[list[str]]:
    """qemu-img's arguments to make `disk` a whole copy of the snapshot `image` (no backing
    file: the snapshot may be deleted while the disk lives on), grown to `storage_gb` GB.
    A disk cannot shrink under the guest's partitions: an image whose disk was larger than
    `storage_gb` is refused (DriverError)."""
    if virtual_bytes > storage_gb * GIB:
        raise DriverError(
            f"the snapshot's disk ({math.ceil(virtual_bytes / GIB)} GB) is larger than the plan's "
            f"{storage_gb} GB; choose a plan with a larger disk"
        )
    return [
        ["convert", "-q", "-O", "qcow2", str(image), str(disk)],
        ["resize", "-q", str(disk), f"{storage_gb}G"],
    ]


def remove(image: Path) -> None:
    """The image and any partial copy of it; nothing there is fine."""
    image.unlink(missing_ok=True)
    image.with_name(image.name + ".part").unlink(missing_ok=True)
