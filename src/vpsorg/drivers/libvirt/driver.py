"""The libvirt driver: real QEMU/KVM machines, one per server.

Per server `N` (prefix from VPSORG_LIBVIRT_NAME_PREFIX, default `vpsorg-`):
- domain `vpsorg-N`, with a UUID derived from the name, so a retried action finds it;
- under the storage directory: `vpsorg-N.qcow2` (an overlay on the OS image, grown to the
  plan's storage), `vpsorg-N-seed.iso` (cloud-init NoCloud), `vpsorg-N.console.log` and
  `vpsorg-N.net.json` (this month's traffic, kept across guest restarts).

A machine is on this host when its domain is defined on this host's libvirtd AND its disk
lives in this host's storage directory. Several hosts may share one libvirtd with different
storage directories (how CI runs two hosts): the domain name is the same on all of them, and
each host sees, starts, stops, counts and destroys only the domain whose disk is its own.
`receive` (cold migration) moves a machine here through libvirt's storage streams; see there.

libvirt is a blocking library: every call runs in a worker thread (asyncio.to_thread) on one
shared connection, which libvirt allows; waiting for a guest is an async loop, so a booting
guest holds no thread.
"""

import asyncio
import json
import logging
import math
import os
import re
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import libvirt

from vpsorg.config import Settings
from vpsorg.drivers.base import (
    Console,
    Driver,
    DriverError,
    MachineNotFound,
    PowerState,
    Usage,
    VmInfo,
    VmSpec,
)
from vpsorg.drivers.libvirt import agent, reinstall, snapshots, storage
from vpsorg.drivers.libvirt.console import LibvirtConsole
from vpsorg.drivers.libvirt.domain import (
    DomainConfig,
    domain_name,
    domain_xml,
    host_has_hardware_virtualization,
    mac_address,
)
from vpsorg.drivers.libvirt.errors import (
    ERR_INVALID_ARG,
    ERR_NO_DOMAIN,
    ERR_NO_SUPPORT,
    ERR_OPERATION_INVALID,
    map_error,
)
from vpsorg.drivers.libvirt.seed import build_iso, seed_files

log = logging.getLogger(__name__)
T = TypeVar("T")
GIB = 1024**3

_RUNNING_STATES = {
    libvirt.VIR_DOMAIN_RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED,
    libvirt.VIR_DOMAIN_PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN,  # shutting down, still running
    libvirt.VIR_DOMAIN_PMSUSPENDED,
}
_OFF_STATES = {libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_CRASHED}

# libvirt prints every error to stderr unless told otherwise; we report them ourselves.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


class LibvirtDriver:
    name = "libvirt"

    def __init__(self, settings: Settings) -> None:
        self.uri = settings.libvirt_uri
        self.storage = Path(os.path.normpath(os.path.abspath(settings.libvirt_storage_dir)))
        # The storage directory is on this machine (a local URI): files are written directly;
        # on a remote libvirtd (qemu+ssh://...) `receive` and `destroy` go through its pool.
        self.local_storage = urlsplit(self.uri).hostname is None
        self.prefix = settings.libvirt_name_prefix
        self.network = None if settings.libvirt_bridge else settings.libvirt_network
        self.bridge = settings.libvirt_bridge
        self.virt_type_setting = settings.libvirt_virt_type
        self.boot_check = settings.libvirt_boot_check
        self.boot_timeout = settings.libvirt_boot_timeout_seconds
        self.shutdown_grace = settings.libvirt_shutdown_grace_seconds
        self.nameservers = [n.strip() for n in settings.libvirt_nameservers.split(",") if n.strip()]
        self._conn: libvirt.virConnect | None = None
        self._conn_lock = threading.Lock()
        self._cpu_samples: dict[str, tuple[int, float]] = {}
        self._poll = 1.0

    # -- plumbing ---------------------------------------------------------------------------

    def _connection(self) -> libvirt.virConnect:
        with self._conn_lock:
            if self._conn is not None and self._conn.isAlive():
                return self._conn
            if self._conn is not None:
                log.warning("libvirt connection to %s lost; reconnecting", self.uri)
                try:
                    self._conn.close()
                except libvirt.libvirtError:
                    pass
            self._conn = libvirt.open(self.uri)
            return self._conn

    async def _run(self, doing: str, fn: Callable[..., T], *args: object) -> T:
        """Run a blocking libvirt function in a thread; libvirt errors become DriverErrors."""
        try:
            return await asyncio.to_thread(fn, *args)
        except libvirt.libvirtError as e:
            raise map_error(e.get_error_code(), e.get_error_message(), doing) from None

    def _name(self, server_id: int) -> str:
        return domain_name(self.prefix, server_id)

    def _paths(self, name: str) -> dict[str, Path]:
        return {
            "disk": self.storage / f"{name}.qcow2",
            "partial": self.storage / f"{name}.qcow2.part",  # qemu-img's output until complete
            "seed": self.storage / f"{name}-seed.iso",
            "console": self.storage / f"{name}.console.log",
            "net": self.storage / f"{name}.net.json",
        }

    def _lookup_any(self, name: str) -> libvirt.virDomain | None:
        """The domain of that name on this libvirtd, whichever host's it is."""
        try:
            return self._connection().lookupByName(name)
        except libvirt.libvirtError as e:
            if e.get_error_code() == ERR_NO_DOMAIN:
                return None
            raise

    def _lookup(self, name: str) -> libvirt.virDomain | None:
        """The domain of that name if it is this host's: its disk is in this host's storage
        directory (another host sharing the libvirtd has its own directory)."""
        dom = self._lookup_any(name)
        return dom if dom is not None and self._owns(dom) else None

    def _owns(self, dom: libvirt.virDomain) -> bool:
        try:
            disk = _disk_path(dom.XMLDesc(0))
        except libvirt.libvirtError as e:
            if e.get_error_code() == ERR_NO_DOMAIN:  # undefined meanwhile
                return False
            raise
        return disk is not None and os.path.dirname(os.path.normpath(disk)) == str(self.storage)

    def _need(self, name: str) -> libvirt.virDomain:
        dom = self._lookup(name)
        if dom is None:
            raise MachineNotFound(f"machine {name} does not exist", code=ERR_NO_DOMAIN)
        return dom

    def _virt_type(self) -> Literal["kvm", "qemu", "test"]:
        if self._connection().getType() == "Test":
            return "test"
        if self.virt_type_setting != "auto":
            return self.virt_type_setting
        return "kvm" if host_has_hardware_virtualization() else "qemu"

    # -- create -----------------------------------------------------------------------------

    async def create(self, spec: VmSpec) -> None:
        name = self._name(spec.server_id)
        try:
            await self._prepare_disk(spec, name)
            await self._run(f"building {name}", self._prepare_seed, spec, name)
            await self._run(f"defining {name}", self._define_and_start, spec, name)
            # A retried create that finds the guest already up returns at the first probe.
            await self._wait_until_up(name, previous_boot=None)
        except DriverError as e:
            log.warning("create %s failed (%s); removing what was built", name, e)
            try:
                await self.destroy(spec.server_id)
            except DriverError as cleanup:
                log.error("cleanup of %s failed: %s", name, cleanup)
            raise

    async def _prepare_disk(self, spec: VmSpec, name: str) -> None:
        if self._paths(name)["disk"].exists():  # a retried create: keep the disk an earlier attempt made
            return
        await self._new_disk(spec, name)

    async def _new_disk(self, spec: VmSpec, name: str) -> None:
        """A new overlay on spec's OS image, or a whole copy of its snapshot's image, grown
        to the plan's storage, in place of the machine's disk, if any (replaced whole:
        written aside, then renamed over it)."""
        disk = self._paths(name)["disk"]
        self.storage.mkdir(mode=0o755, parents=True, exist_ok=True)
        tmp = self._paths(name)["partial"]
        if spec.disk_snapshot is not None:
            image = snapshots.image_path(self.storage, spec.disk_snapshot)
            if not image.is_file():
                raise DriverError(f"snapshot {spec.disk_snapshot} has no image on this host ({image})")
            info = await _qemu_img(["info", "-U", "--output=json", str(image)], f"reading {image.name}")
            commands = snapshots.restore_commands(
                image, tmp, spec.storage_gb, json.loads(info)["virtual-size"]
            )
        else:
            commands = [_overlay_command(spec, tmp)]
        try:
            for command in commands:
                await _qemu_img(command, f"creating the disk of {name}")
        except DriverError:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, disk)

    def _prepare_seed(self, spec: VmSpec, name: str, *, fresh: bool = False) -> None:
        """The seed ISO, kept if there is one (a retried create) unless `fresh`."""
        seed = self._paths(name)["seed"]
        if seed.exists() and not fresh:
            return
        _write_atomically(seed, self._seed_iso(spec, name))

    def _seed_iso(self, spec: VmSpec, name: str) -> bytes:
        """The NoCloud seed of this install of the machine (see instance_id)."""
        mac = mac_address(name)
        files = seed_files(spec, instance_id=instance_id(name, spec), mac=mac, nameservers=self.nameservers)
        return build_iso(files)

    def _define_and_start(self, spec: VmSpec, name: str) -> None:
        """Define the domain unless it exists (a retry), start it unless it runs."""
        dom = self._lookup(name)
        if dom is None:
            if self._lookup_any(name) is not None:
                raise DriverError(
                    f"{name} is defined on this libvirtd with its disk outside {self.storage} "
                    "(another host's machine)"
                )
            dom = self._connection().defineXML(self._domain_xml(spec, name))
        if not dom.isActive():
            dom.create()

    def _domain_xml(self, spec: VmSpec, name: str) -> str:
        paths = self._paths(name)
        config = DomainConfig(
            name=name,
            virt_type=self._virt_type(),
            vcpus=spec.vcpus,
            memory_mib=spec.memory_mib,
            disk_path=str(paths["disk"]),
            seed_path=str(paths["seed"]),
            console_log=str(paths["console"]),
            mac=mac_address(name),
            network=self.network,
            bridge=self.bridge,
            kernel=spec.os_kernel,
            initrd=spec.os_initrd,
            kernel_args=spec.os_kernel_args,
        )
        return domain_xml(config)

    # -- waiting for the guest --------------------------------------------------------------

    def _probe(self, name: str) -> tuple[bool, str | None, bool]:
        """(domain running, boot id if known, guest up) per the configured boot check."""
        dom = self._need(name)
        if not dom.isActive():
            return False, None, False
        if self.boot_check == "none":
            return True, None, True
        try:
            if self.boot_check == "agent":
                agent.command(dom, "guest-ping", timeout=3)
                return True, None, True
            boot_id, done = agent.boot_state(dom)
            return True, boot_id, done
        except (libvirt.libvirtError, RuntimeError, TimeoutError, KeyError, ValueError):
            return True, None, False  # agent not (yet) answering

    async def _wait_until_up(self, name: str, previous_boot: str | None, rebooting: bool = False) -> None:
        """Until the guest is up in a boot other than `previous_boot`; DriverError on timeout.

        For `agent` checks, which know no boot id, a reboot waits for the agent to go away
        and come back."""
        deadline = time.monotonic() + self.boot_timeout
        seen_down = not rebooting
        while True:
            running, boot_id, up = await self._run(f"waiting for {name}", self._probe, name)
            if not running:
                raise DriverError(f"{name} powered off while booting{self._console_tail(name)}")
            if not up:
                seen_down = True
            elif (previous_boot is None or boot_id != previous_boot) and (
                seen_down or self.boot_check != "agent"
            ):
                self._cpu_samples.pop(name, None)
                return
            if time.monotonic() > deadline:
                raise DriverError(
                    f"{name} did not come up within {self.boot_timeout:g} s "
                    f"(boot check: {self.boot_check}){self._console_tail(name)}"
                )
            await asyncio.sleep(self._poll)

    def _console_tail(self, name: str) -> str:
        try:
            data = self._paths(name)["console"].read_bytes()[-4096:]
        except OSError:
            return ""
        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", data.decode(errors="replace"))  # colours
        lines = [re.sub(r"[^\x20-\x7e]+", "", line).strip() for line in text.splitlines()]
        lines = [line for line in lines if line]
        return f"; last console line: {lines[-1][:200]}" if lines else ""

    # -- power ------------------------------------------------------------------------------

    async def start(self, server_id: int) -> None:
        name = self._name(server_id)

        def start() -> None:
            dom = self._need(name)
            if not dom.isActive():
                dom.create()

        await self._run(f"starting {name}", start)
        await self._wait_until_up(name, previous_boot=None)

    async def stop(self, server_id: int) -> None:
        name = self._name(server_id)
        dom = await self._run(f"stopping {name}", self._need, name)
        deadline = time.monotonic() + self.shutdown_grace
        next_request = 0.0
        while await self._run(f"stopping {name}", dom.isActive):
            now = time.monotonic()
            if now >= deadline:
                log.info("%s ignored ACPI shutdown for %g s; forcing it off", name, self.shutdown_grace)
                await self._run(f"powering off {name}", _ignore_not_running, dom.destroy)
                break
            if now >= next_request:  # a guest still booting may miss the first press
                await self._run(f"stopping {name}", self._acpi_shutdown, dom)
                next_request = now + 10
            await asyncio.sleep(min(0.5, self._poll))
        self._cpu_samples.pop(name, None)

    @staticmethod
    def _acpi_shutdown(dom: libvirt.virDomain) -> None:
        try:
            dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
        except libvirt.libvirtError as e:
            if e.get_error_code() in (ERR_INVALID_ARG, ERR_NO_SUPPORT):
                _ignore_not_running(dom.shutdown)  # a hypervisor without the ACPI flag
            elif e.get_error_code() != ERR_OPERATION_INVALID:  # it went off meanwhile
                raise

    async def reboot(self, server_id: int) -> None:
        name = self._name(server_id)

        def reboot() -> str | None:
            dom = self._need(name)
            if not dom.isActive():
                dom.create()
                return None
            _, boot_id, _ = self._probe(name)
            try:
                dom.reboot(libvirt.VIR_DOMAIN_REBOOT_ACPI_POWER_BTN)
            except libvirt.libvirtError as e:
                if e.get_error_code() not in (ERR_INVALID_ARG, ERR_NO_SUPPORT):
                    raise
                dom.reboot(0)
            return boot_id or ""

        previous = await self._run(f"rebooting {name}", reboot)
        await self._wait_until_up(name, previous_boot=previous or None, rebooting=previous is not None)

    async def rebuild(self, spec: VmSpec) -> None:
        """See Driver.rebuild and vpsorg.drivers.libvirt.reinstall."""
        await reinstall.rebuild(self, spec)

    async def destroy(self, server_id: int) -> None:
        name = self._name(server_id)

        def destroy() -> None:
            # Only this host's domain: on a libvirtd shared with another host, a domain of
            # this name whose disk is elsewhere is that host's (migrated there) and stays.
            dom = self._lookup(name)
            if dom is not None:
                if dom.isActive():
                    _ignore_not_running(dom.destroy)
                try:
                    dom.undefineFlags(
                        libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                        | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                        | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
                    )
                except libvirt.libvirtError as e:
                    if e.get_error_code() == ERR_NO_DOMAIN:
                        pass
                    elif e.get_error_code() in (ERR_INVALID_ARG, ERR_NO_SUPPORT):
                        dom.undefine()
                    else:
                        raise
            if not self.local_storage:  # the files are on the libvirtd's host: through its pool
                pool = storage.find_pool(self._connection(), str(self.storage))
                if pool is not None and pool.isActive():
                    pool.refresh(0)
                    for path in self._paths(name).values():
                        storage.delete_volume(pool, path.name)
                return
            leftovers = self.storage.glob(f".{name}[.-]*")  # a crash inside _write_atomically
            for path in [*self._paths(name).values(), *leftovers]:
                path.unlink(missing_ok=True)

        await self._run(f"deleting {name}", destroy)
        self._cpu_samples.pop(name, None)

    # -- state ------------------------------------------------------------------------------

    async def info(self, server_id: int) -> VmInfo:
        name = self._name(server_id)

        def info() -> PowerState:
            dom = self._lookup(name)
            return PowerState.MISSING if dom is None else _power_state(dom)

        return VmInfo(server_id=server_id, power_state=await self._run(f"inspecting {name}", info))

    async def list_machines(self) -> list[VmInfo]:
        pattern = re.compile(re.escape(self.prefix) + r"([1-9][0-9]{0,9})")

        def machines() -> list[VmInfo]:
            found = []
            for dom in self._connection().listAllDomains(0):
                m = pattern.fullmatch(dom.name())
                if m and self._owns(dom):
                    found.append(VmInfo(server_id=int(m.group(1)), power_state=_power_state(dom)))
            return sorted(found, key=lambda vm: vm.server_id)

        return await self._run("listing machines", machines)

    async def usage(self, server_id: int) -> Usage | None:
        name = self._name(server_id)
        return await self._run(f"reading the usage of {name}", self._usage, name)

    def _usage(self, name: str) -> Usage | None:
        dom = self._lookup(name)
        if dom is None:
            return None
        running = bool(dom.isActive())
        cpu = self._cpu_percent(name, dom) if running else 0.0
        memory = _memory_used_mib(dom) if running else 0
        disk = self._disk_used_gib(name, dom, running)
        bandwidth = self._bandwidth_gib(name, dom if running else None)
        return Usage(cpu_percent=cpu, memory_used=memory, disk_used=disk, bandwidth_used=bandwidth)

    def _cpu_percent(self, name: str, dom: libvirt.virDomain) -> float:
        """CPU time used over wall time and the guest's vCPUs since the last sample; 0 at the
        first sample after a boot (there is nothing to compare with yet)."""
        _, _, _, vcpus, cpu_ns = dom.info()
        now = time.monotonic()
        previous = self._cpu_samples.get(name)
        self._cpu_samples[name] = (cpu_ns, now)
        if previous is None:
            return 0.0
        wall_ns = (now - previous[1]) * 1e9
        if wall_ns <= 0 or cpu_ns < previous[0]:
            return 0.0
        return round(min(100.0, 100.0 * (cpu_ns - previous[0]) / (wall_ns * max(vcpus, 1))), 1)

    def _disk_used_gib(self, name: str, dom: libvirt.virDomain, running: bool) -> int:
        """The guest's root filesystem use through the agent, else the disk's allocation on
        the host."""
        if running and self.boot_check != "none":
            try:
                fs = dom.guestInfo(libvirt.VIR_DOMAIN_GUEST_INFO_FILESYSTEM, 0)
                for i in range(int(fs.get("fs.count", 0))):
                    if fs.get(f"fs.{i}.mountpoint") == "/" and f"fs.{i}.used-bytes" in fs:
                        return _ceil_gib(int(fs[f"fs.{i}.used-bytes"]))
            except libvirt.libvirtError:
                pass
        try:
            return _ceil_gib(self._paths(name)["disk"].stat().st_blocks * 512)
        except OSError:
            return 0

    def _bandwidth_gib(self, name: str, dom: libvirt.virDomain | None) -> int:
        """Traffic in and out this calendar month. Tap counters restart with the guest, so
        the month's total is kept in a small file beside the disk."""
        path = self._paths(name)["net"]
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            state = {}
        counter = _interface_bytes(dom) if dom is not None else None
        state = count_traffic(state, counter, datetime.now(UTC).strftime("%Y-%m"))
        if counter is not None and path.parent.is_dir():
            _write_atomically(path, json.dumps(state).encode())
        return int(state["bytes"]) // GIB

    # -- cold migration ---------------------------------------------------------------------

    async def receive(self, spec: VmSpec, source: Driver) -> None:
        """Cold migration, this host's half: the machine defined here, shut off, with its disk
        copied from `source` (another libvirt host; its machine shut off). Everything goes
        through libvirt: storage pools on both hosts (their storage directories), the disk
        streamed from a download on the source's connection into an upload on this one's, so
        either may be local or qemu+ssh://.

        - The overlay disk is copied byte for byte: its header names the OS image as the
          backing file, at the same absolute path on every host (the operator's contract,
          checked here through libvirt). The seed ISO is rebuilt here from the spec (same
          instance id and MAC, so cloud-init sees the same instance); the month's traffic
          file comes along; the console log does not (QEMU truncates it at the next start).
        - What counts as here: this host's domain (its disk in this host's storage
          directory), defined only once every volume is complete. On a local pool the disk
          is uploaded to `<name>.qcow2.part` and renamed when complete, so a `<name>.qcow2`
          is always whole; a remote pool cannot rename (libvirt has no such call), so the
          disk is uploaded under its own name and only the domain's definition makes it
          count. A copy interrupted at any point leaves volumes that a retry replaces and
          `destroy` removes, and no domain of this host's.
        - On a libvirtd shared with the source host, defining the domain here replaces the
          source's definition of the same name: from then on the machine is this host's,
          and the source's `destroy` removes only the source's files.
        """
        if not isinstance(source, LibvirtDriver):
            raise DriverError(f"cannot migrate from a {source.name} host to a libvirt host")
        name = self._name(spec.server_id)
        try:
            await self._run(f"receiving {name}", self._receive, spec, source)
        except (RuntimeError, ValueError, OSError) as e:
            raise DriverError(f"receiving {name}: {e}") from None

    def _receive(self, spec: VmSpec, source: "LibvirtDriver") -> None:
        name, src_name = self._name(spec.server_id), source._name(spec.server_id)
        if self.uri == source.uri and self.storage == source.storage:
            raise DriverError(f"cannot migrate {name}: the source and the target are the same host")
        conn, paths, src_paths = self._connection(), self._paths(name), source._paths(src_name)
        pool = storage.ensure_pool(conn, str(self.storage))
        pool.refresh(0)
        if self._lookup(name) is not None and storage.volume(pool, paths["disk"].name) is not None:
            return  # here already: a retried migration, whether or not the source still has it

        src_conn = source._connection()
        src_pool = storage.ensure_pool(src_conn, str(source.storage))
        src_pool.refresh(0)
        src_disk = storage.volume(src_pool, src_paths["disk"].name)
        if src_disk is None:
            raise MachineNotFound(f"machine {name} is on neither host (no disk in {source.storage})")
        src_dom = source._lookup(src_name)
        if src_dom is not None and src_dom.isActive():
            raise DriverError(f"{src_name} is running on the source host; it must be shut off to migrate")
        backing = storage.backing_path(src_disk)
        if backing is not None and not storage.file_exists(conn, backing):
            raise DriverError(
                f"the OS image {backing} (the backing file of {name}'s disk) is not on the target "
                f"host; copy it there to the same path"
            )
        here = self._lookup_any(name)  # on a shared libvirtd: the source's, shut off (above)
        if here is not None and here.isActive():
            raise DriverError(f"{name} runs on the target's libvirtd with a disk outside {self.storage}")

        made: list[str] = []  # the volumes this call makes: removed again if it fails
        try:
            copied = self._copy_in(spec, source, pool, src_pool, src_disk, made)
            conn.defineXML(self._domain_xml(spec, name))  # the commit: from now on it is here
        except BaseException:
            for volume_name in made:  # best effort; a killed worker's leftovers are replaced by
                try:  # the next attempt, or removed by `destroy`
                    storage.delete_volume(pool, volume_name)
                except libvirt.libvirtError as e:
                    log.warning("removing %s after a failed receive: %s", volume_name, e)
            raise
        log.info("%s received from %s (%d bytes of disk)", name, source.uri, copied)

    def _copy_in(
        self,
        spec: VmSpec,
        source: "LibvirtDriver",
        pool: libvirt.virStoragePool,
        src_pool: libvirt.virStoragePool,
        src_disk: libvirt.virStorageVol,
        made: list[str],
    ) -> int:
        """The seed ISO, the traffic file and the disk into this host's pool (the disk last,
        complete under its own name only once whole); the disk's bytes copied."""
        name, src_name = self._name(spec.server_id), source._name(spec.server_id)
        conn, src_conn = self._connection(), source._connection()
        paths, src_paths = self._paths(name), source._paths(src_name)
        made.append(paths["seed"].name)
        seed = storage.new_volume(pool, paths["seed"].name)
        storage.upload_bytes(conn, seed, self._seed_iso(spec, name))
        src_net = storage.volume(src_pool, src_paths["net"].name)
        if src_net is not None:
            traffic = storage.download_bytes(src_conn, src_net, limit=1024 * 1024)
            made.append(paths["net"].name)
            storage.upload_bytes(conn, storage.new_volume(pool, paths["net"].name), traffic)
        else:
            storage.delete_volume(pool, paths["net"].name)

        landing = paths["partial"] if self.local_storage else paths["disk"]
        made.append(landing.name)
        disk = storage.new_volume(pool, landing.name)
        expected = storage.physical_size(src_disk)
        copied = storage.copy_volume(src_conn, src_disk, conn, disk)
        if expected is not None and copied != expected:
            raise DriverError(f"copying the disk of {name}: {copied} bytes arrived of {expected}")
        if self.local_storage:
            made.append(paths["disk"].name)
            os.replace(landing, paths["disk"])
        pool.refresh(0)
        return copied

    # -- resize -----------------------------------------------------------------------------

    async def resize(self, spec: VmSpec) -> None:
        """The disk grown first (the step that may fail for want of room; a disk larger than
        the plan's already is left alone), then the domain defined again from the spec (its
        vCPUs and memory). Both are idempotent; the guest's cloud-init grows its root
        partition and filesystem at the next boot (growpart and resize_rootfs)."""
        name = self._name(spec.server_id)
        dom = await self._run(f"resizing {name}", self._need, name)
        if await self._run(f"resizing {name}", dom.isActive):
            raise DriverError(f"{name} is running; it must be shut off to resize")
        await self._grow_disk(name, spec.storage_gb)
        await self._run(f"redefining {name}", self._connection().defineXML, self._domain_xml(spec, name))

    async def _grow_disk(self, name: str, gb: int) -> None:
        want = gb * 1024**3
        if not self.local_storage:  # through the host's storage pool (qemu-img there)
            await self._run(f"growing the disk of {name}", self._grow_volume, name, want)
            return
        disk = self._paths(name)["disk"]
        if not disk.exists():
            raise MachineNotFound(f"machine {name} has no disk in {self.storage}")
        doing = f"growing the disk of {name}"
        info = json.loads(await _qemu_img(["info", "--output=json", str(disk)], doing))
        if int(info["virtual-size"]) < want:
            await _qemu_img(["resize", "-q", str(disk), str(want)], doing)

    def _grow_volume(self, name: str, want: int) -> None:
        pool = storage.ensure_pool(self._connection(), str(self.storage))
        pool.refresh(0)
        vol = storage.volume(pool, self._paths(name)["disk"].name)
        if vol is None:
            raise MachineNotFound(f"machine {name} has no disk in {self.storage}")
        if vol.info()[1] < want:
            vol.resize(want, 0)

    # -- snapshots (vpsorg.drivers.libvirt.snapshots) ----------------------------------------

    async def snapshot(self, server_id: int, snapshot_id: int) -> int:
        """A running guest frozen (guest agent) around a flattened qcow2 copy of its disk; a
        shut-off one copied as it is. Local storage only: qemu-img runs here."""
        name = self._name(server_id)
        image = snapshots.image_path(self.storage, snapshot_id)
        if image.exists():
            return snapshots.size_gb(image)
        if not self.local_storage:
            raise DriverError(f"snapshots need the storage directory on this machine ({self.uri})")
        dom = await self._run(f"snapshotting {name}", self._need, name)
        guest = await self._run(f"snapshotting {name}", self._virt_type) != "test"  # test:///: no guest
        frozen = guest and await self._run(f"freezing {name}", snapshots.freeze, dom, name)
        try:
            disk = self._paths(name)["disk"]
            size = await self._run(f"snapshotting {name}", snapshots.copy_disk, disk, image)
        except OSError as e:
            raise DriverError(f"snapshotting {name}: {e}") from None
        finally:
            if frozen:
                await self._run(f"thawing {name}", snapshots.thaw, dom)
        log.info("%s: snapshot %s taken (%d GB)", name, snapshot_id, size)
        return size

    async def delete_snapshot(self, snapshot_id: int) -> None:
        image = snapshots.image_path(self.storage, snapshot_id)
        await self._run(f"deleting snapshot {snapshot_id}", snapshots.remove, image)

    async def open_console(self, server_id: int) -> Console:
        """The domain's serial console (its pty, logged to the console file as well), on a
        connection of its own (vpsorg.drivers.libvirt.console)."""
        name = self._name(server_id)

        def running() -> bool:
            dom = self._need(name)
            if self._connection().getType().lower() == "test":  # it has no virDomainOpenConsole
                raise DriverError("libvirt's test driver offers no serial console", code=ERR_NO_SUPPORT)
            return bool(dom.isActive())

        if not await self._run(f"opening {name}'s console", running):
            raise DriverError(f"{name} is not running")
        console = LibvirtConsole(self.uri, name)
        await asyncio.to_thread(console.open)
        return console

    async def close(self) -> None:
        with self._conn_lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                except libvirt.libvirtError:
                    pass
                self._conn = None


def _overlay_command(spec: VmSpec, tmp: Path) -> list[str]:
    """qemu-img's arguments for a new overlay on spec's OS image, of the plan's size."""
    if not spec.os_image:
        raise DriverError(
            "this operating system has no image configured on the hypervisor "
            "(set `image` for it in the catalog)"
        )
    base = Path(spec.os_image)
    if not base.is_absolute() or not base.is_file():
        raise DriverError(f"OS image {spec.os_image} is not a file on the hypervisor host")
    return ["create", "-q", "-f", "qcow2", "-b", str(base), "-F", "qcow2", str(tmp), f"{spec.storage_gb}G"]


async def _qemu_img(args: list[str], doing: str) -> str:
    """Run qemu-img with these arguments; its output, or DriverError saying what failed."""
    try:
        proc = await asyncio.create_subprocess_exec(
            "qemu-img", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
    except OSError as e:
        raise DriverError(f"{doing}: cannot run qemu-img ({e})") from None
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise DriverError(f"{doing}: {out.decode().strip()}")
    return out.decode()


def instance_id(name: str, spec: VmSpec) -> str:
    """cloud-init's instance id of the machine's current install: its name at create, and a
    new one per rebuild (`name-rN`), so cloud-init runs again on a fresh disk only."""
    return name if spec.generation == 0 else f"{name}-r{spec.generation}"


def count_traffic(state: dict[str, Any], counter: int | None, month: str) -> dict[str, Any]:
    """The month's byte total after reading the tap counter (None: the guest is off).

    `state` is {"month", "bytes" this month, "last" counter reading}; a counter below the
    last reading restarted with the guest, so all of it is new traffic."""
    if state.get("month") != month:
        state = {"month": month, "bytes": 0, "last": state.get("last", 0)}
    else:
        state = dict(state)
    if counter is not None:
        last = int(state.get("last", 0))
        state["bytes"] = int(state["bytes"]) + (counter - last if counter >= last else counter)
        state["last"] = counter
    return state


def _disk_path(xml: str) -> str | None:
    """The file behind the domain's first disk (vda), from its XML."""
    for disk in ET.fromstring(xml).findall("./devices/disk"):
        target = disk.find("target")
        source = disk.find("source")
        if target is not None and target.get("dev") == "vda" and source is not None:
            return source.get("file")
    return None


def _power_state(dom: libvirt.virDomain) -> PowerState:
    state = dom.state()[0]
    if state in _RUNNING_STATES:
        return PowerState.RUNNING
    if state in _OFF_STATES:
        return PowerState.SHUTOFF
    return PowerState.UNKNOWN


def _ignore_not_running(fn: Callable[[], object]) -> None:
    try:
        fn()
    except libvirt.libvirtError as e:
        if e.get_error_code() != ERR_OPERATION_INVALID:
            raise


def _memory_used_mib(dom: libvirt.virDomain) -> int:
    """Balloon statistics: what the guest uses (actual - unused); else what it was given."""
    try:
        stats = dom.memoryStats()
    except libvirt.libvirtError:
        stats = {}
    if "actual" in stats and "unused" in stats:
        return max(1, (stats["actual"] - stats["unused"]) // 1024)
    return max(1, dom.info()[2] // 1024)


def _interface_bytes(dom: libvirt.virDomain) -> int | None:
    try:
        root = ET.fromstring(dom.XMLDesc(0))
        total = 0
        for target in root.findall("./devices/interface/target"):
            stats = dom.interfaceStats(target.get("dev", ""))
            total += stats[0] + stats[4]  # rx_bytes + tx_bytes
        return total
    except (libvirt.libvirtError, ET.ParseError):
        return None


def _ceil_gib(n: int) -> int:
    return math.ceil(n / GIB) if n > 0 else 0


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
