"""The hypervisor driver contract.

A driver manages machines on one hypervisor, each identified by the server's id. Only the
worker calls drivers. Every method is a coroutine; a driver over a blocking library (libvirt)
runs its calls in threads. Semantics every driver keeps, checked by tests/drivers:

- Every call is idempotent on the server id: after a worker crash the same action is run
  again from the start, and must converge on the same single machine.
- A failed `create` leaves nothing behind; `destroy` succeeds when the machine is gone.
- Failures raise `DriverError` (or a subclass); its message is shown to the customer in the
  action's error, so it says what went wrong without a traceback.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class PowerState(StrEnum):
    """What the hypervisor reports about a machine."""

    RUNNING = "running"
    SHUTOFF = "shutoff"
    MISSING = "missing"
    UNKNOWN = "unknown"


class DriverError(Exception):
    """A hypervisor operation failed; `code` keeps the hypervisor's own error code, if any."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class MachineNotFound(DriverError):
    """The operation needs a machine that does not exist."""


@dataclass(frozen=True)
class VmSpec:
    """Everything needed to build a server's machine; never an ORM row."""

    server_id: int
    name: str
    hostname: str
    vcpus: int
    memory_mib: int
    storage_gb: int
    os_image: str | None
    ipv4_address: str
    ipv4_prefix: int
    ipv4_gateway: str
    ipv6_address: str
    ipv6_prefix: int
    ipv6_gateway: str
    ssh_public_keys: tuple[str, ...] = ()
    # Direct kernel boot (the catalog's kernel, initrd and kernel_args); None boots the disk.
    os_kernel: str | None = None
    os_initrd: str | None = None
    os_kernel_args: str | None = None
    # The customer's cloud-init user data (at most 64 KiB of UTF-8), run on first boot beside
    # the driver's own configuration; None: none. Secret-ish: never log or show it.
    user_data: str | None = field(default=None, repr=False)
    # Which install of the machine this is: 0 at create, one more at each rebuild. Drivers
    # derive cloud-init's instance id from it: a rebuilt disk boots as a new instance (keys,
    # hostname, user data applied again), a migrated or restarted one as the same.
    generation: int = 0
    # The snapshot whose image (this driver's, see `snapshot`) the disk is made from, instead
    # of `os_image`: a create from a snapshot, or a rebuild that restores one. None: the OS
    # image. The disk is a whole copy of the image (the snapshot may be deleted afterwards),
    # grown to `storage_gb`; the OS fields still describe how to boot it (the snapshot's OS).
    disk_snapshot: int | None = None


@dataclass(frozen=True)
class HostConfig:
    """One hypervisor host, as the control plane's hosts table describes it: its name and how
    to reach it. None for the driver or a connection field: the worker's own configuration
    (VPSORG_DRIVER, VPSORG_LIBVIRT_URI, VPSORG_LIBVIRT_STORAGE_DIR, ...)."""

    name: str
    driver: str | None = None
    uri: str | None = None
    storage: str | None = None
    network: str | None = None
    bridge: str | None = None


@dataclass(frozen=True)
class VmInfo:
    server_id: int
    power_state: PowerState


@dataclass(frozen=True)
class Usage:
    """Resource usage in the API's units."""

    cpu_percent: float  # 0-100 of the plan's vCPUs
    memory_used: int  # MiB
    disk_used: int  # GB
    bandwidth_used: int  # GB this calendar month


class Console(Protocol):
    """One session on a machine's serial console: the guest's bytes out, keystrokes in."""

    async def read(self) -> bytes:
        """The next bytes the guest wrote, waiting for some; b"" once the session is over
        (closed here, taken over by another session, or the machine went away)."""

    async def write(self, data: bytes) -> None:
        """Send bytes to the guest's serial port, as typed; DriverError once the session is over."""

    async def close(self) -> None:
        """End the session (a reader then gets b""); idempotent; the guest is not affected."""


class Driver(Protocol):
    name: str

    async def create(self, spec: VmSpec) -> None:
        """Build the machine and boot it; return once the guest is up. Its disk is a fresh
        copy of `spec.os_image`, or of snapshot `spec.disk_snapshot`'s image when given
        (DriverError when this driver has no such image), grown to `spec.storage_gb`.

        If the machine already exists (a retried action), make sure it is running and return.
        On failure, remove whatever this call built, then raise DriverError.
        """

    async def start(self, server_id: int) -> None:
        """Power the machine on and return once the guest is up; no-op if it is running."""

    async def stop(self, server_id: int) -> None:
        """Shut the guest down gracefully (forcing it off after a grace period); no-op if off."""

    async def reboot(self, server_id: int) -> None:
        """Restart the guest gracefully and return once it is up again."""

    async def destroy(self, server_id: int) -> None:
        """Remove the machine and everything it owns; succeed if it is already gone."""

    async def info(self, server_id: int) -> VmInfo:
        """Report the power state; PowerState.MISSING when there is no such machine."""

    async def list_machines(self) -> list[VmInfo]:
        """Every machine this driver manages, for reconcile."""

    async def usage(self, server_id: int) -> Usage | None:
        """Current resource usage, or None when the machine is not running."""

    async def receive(self, spec: VmSpec, source: "Driver") -> None:
        """Cold migration, the target's half: make the server's machine exist on this host,
        defined and shut off, with its disk copied from `source` (a driver of the same kind,
        whose machine is shut off), leaving the source's machine and disk as they are.

        Idempotent: when the machine is here already (a retried migration, perhaps after the
        source's was destroyed), return without needing the source. A copy interrupted
        half-way leaves nothing that counts as here. MachineNotFound when neither has it."""

    async def resize(self, spec: VmSpec) -> None:
        """Give the server's machine, which is shut off, the spec's vCPUs and memory, and grow
        its disk to spec.storage_gb; a disk larger already is left as it is (never shrunk).
        The guest's root filesystem takes the new room at its next boot (cloud-init growpart).

        Leaves the machine shut off. Idempotent: a machine with these sizes already is left
        alone. MachineNotFound when there is no machine; DriverError when it is running."""

    async def snapshot(self, server_id: int, snapshot_id: int) -> int:
        """Copy the machine's disk, as it is now, into the image of snapshot `snapshot_id`
        (kept by this driver apart from the machine: `destroy` leaves it); its size in GB
        (whole GB, rounded up, at least 1).

        Consistent: a running guest's filesystems are frozen (the guest agent's fsfreeze)
        while the copy is taken and thawed after, whatever happens; a shut-off machine is
        copied as it is. The machine's power state does not change. Idempotent on the
        snapshot id: when the image is complete already (a retried action), return its size
        without copying again; a copy cut short leaves nothing that counts as the image.
        MachineNotFound when there is no such machine; DriverError when no consistent copy
        can be taken (a running guest whose agent does not answer, say)."""

    async def delete_snapshot(self, snapshot_id: int) -> None:
        """Remove the image of snapshot `snapshot_id`; succeed if it is already gone (or was
        never completed)."""

    async def rebuild(self, spec: VmSpec) -> None:
        """Reinstall the machine: its disk replaced by a fresh copy of `spec.os_image` (grown
        to `spec.storage_gb`), with a new cloud-init seed whose instance id follows
        `spec.generation` (so the keys, hostname and user data of the spec are applied again),
        the machine redefined from the spec (a new OS may boot another kernel), then booted;
        return once the guest is up. Everything on the old disk is gone; the machine keeps
        its id, addresses and MAC. A running machine is powered off first (no grace: its
        disk is being thrown away).

        Idempotent: a retry (after a crash at any point) does it again and converges on one
        running machine with a fresh disk of the spec's image. On failure the machine may be
        left off, with either disk; the caller reports the error (nothing to clean up: the
        machine is still the server's). MachineNotFound when there is no machine.

        A restore is a rebuild whose spec names `disk_snapshot`: the disk is then a whole
        copy of that snapshot's image instead (DriverError when this driver has no such
        image, or when it is larger than `spec.storage_gb`), booted with a new instance id
        all the same (keys and hostname applied again; the files on it are the snapshot's)."""

    async def open_console(self, server_id: int) -> Console:
        """Attach to the running machine's serial console (its first serial port, ttyS0, where
        the guest runs a getty); the caller closes the session. One session per machine at a
        time: a new one takes the console over and the older one ends (its read gives b"").
        Bytes pass as they are, both ways: no terminal emulation here.

        MachineNotFound when there is no machine; DriverError when it is not running, or
        when this hypervisor offers no console."""

    async def close(self) -> None:
        """Release connections; the driver is not used afterwards."""
