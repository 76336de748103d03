"""The simulator: a real driver whose machines are rows in its own tables (vpsorg.drivers.simtables).

Machines survive restarts, operations take realistic time (scaled by
VPSORG_SIMULATOR_TIME_SCALE; 0 makes them immediate), usage is plausible and live, and
failures are injected with `inject_fault` (a row in sim_faults, so any process can do it):
`error` makes the operation raise DriverError, `crash` kills the process before or after
the operation, as a worker dying mid-action would.
"""

import asyncio
import hashlib
import math
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, true
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vpsorg.batches import Batches
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
from vpsorg.drivers.simconsole import SimConsole
from vpsorg.drivers.simtables import SimCall, SimFault, SimMachine, SimSnapshot, create_tables
from vpsorg.sqltypes import utcnow

__all__ = ["SimCall", "SimFault", "SimMachine", "SimSnapshot", "SimulatorDriver", "inject_fault"]

# Seconds each operation takes at time scale 1.
DURATIONS = {
    "create": 5.0,
    "start": 2.0,
    "stop": 2.0,
    "reboot": 3.0,
    "destroy": 1.0,
    "receive": 4.0,
    "resize": 2.0,
    "snapshot": 3.0,
    "delete_snapshot": 0.5,
    "rebuild": 6.0,
}
# Bandwidth a running machine uses, GB per hour: enough to see it grow.
GB_PER_HOUR = 0.5


def _month(now: datetime) -> str:
    return now.strftime("%Y-%m")


def _wave(server_id: int, t: float, period: float) -> float:
    """A smooth value in [0, 1] that differs per server and drifts with time."""
    phase = int(hashlib.sha256(str(server_id).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return 0.5 + 0.5 * math.sin(2 * math.pi * (t / period + phase))


async def inject_fault(
    session: AsyncSession,
    *,
    op: str,
    mode: str = "error",
    phase: str = "before",
    server_id: int | None = None,
    times: int = 1,
    message: str = "simulated failure",
) -> None:
    if op not in DURATIONS or mode not in ("error", "crash") or phase not in ("before", "after"):
        raise ValueError("unknown op, mode or phase")
    await create_tables(session)  # a process that never ran the driver may inject first
    session.add(
        SimFault(op=op, mode=mode, phase=phase, server_id=server_id, remaining=times, message=message)
    )
    await session.flush()


# A machine's change in an operation: given the machine (None: there is none), the machine
# after it (None: there is none now); raises DriverError for the hypervisor's refusal.
Change = Callable[[AsyncSession, "SimMachine | None"], Awaitable["SimMachine | None"]]


@dataclass(frozen=True)
class _Step:
    """One transaction's part of an operation: the call logged (`log`), the armed faults of
    `phases` looked up, and, unless a fault 'before' fires, the machine's `change`."""

    op: str
    server_id: int
    log: bool
    phases: tuple[str, ...]
    change: Change | None


@dataclass(frozen=True)
class _Done:
    before: "Fault | None"
    failure: DriverError | None
    after: "Fault | None"


class SimulatorDriver:
    """Each operation is a call logged in sim_calls, a fault check, the time it takes, and the
    machine's change, in that order. At time scale 0 the operation takes no time, and the
    call, the check and the change are one transaction (committed before an injected crash
    or error fires, as a hypervisor's own state outlives the caller); otherwise the change
    is a second transaction once the time has passed. A failure 'before' fires with only the
    call logged; one 'after' fires once the change is committed.

    Operations that arrive while another batch of them is being written share the next
    transaction (`vpsorg.batches`), each step applied in order, as if one after another:
    under a fleet-wide reboot the simulator does not cost a write transaction per machine."""

    name = "simulator"

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, time_scale: float = 1.0, host: str | None = None
    ) -> None:
        self._sessions = sessions
        self._scale = time_scale
        # The simulated host this driver is (its machines are the rows of that host); None:
        # every machine, as one hypervisor.
        self.host = host
        # Reads take no write lock on SQLite (the sessions given are the worker's writing ones).
        bind = sessions.kw.get("bind")
        self._reads = (
            async_sessionmaker(bind.execution_options(sqlite_begin="DEFERRED"), expire_on_commit=False)
            if bind is not None
            else sessions
        )
        self._steps = Batches(self._write_steps, what="simulator operations")
        self._usage_reads = Batches(self._read_usage, what="simulator usage")
        self._tables_ready = False
        self._tables_lock = asyncio.Lock()

    async def _tables(self) -> None:
        """Create the simulator's tables, if the database lacks them, before its first use here."""
        if self._tables_ready:
            return
        async with self._tables_lock:
            if self._tables_ready:
                return
            try:
                async with self._sessions.begin() as s:
                    await create_tables(s)
            except DBAPIError:  # another process created them meanwhile (PostgreSQL): look again
                async with self._sessions.begin() as s:
                    await create_tables(s)
            self._tables_ready = True

    async def _write_steps(self, steps: list[_Step]) -> list[_Done]:
        """The steps in one transaction: one read of the armed faults and of the machines for
        all, the calls logged in one INSERT, the changes written at the session's flush."""
        ids = {step.server_id for step in steps}
        async with self._sessions.begin() as s:
            faults = list(
                await s.scalars(
                    select(SimFault)
                    .where(SimFault.op.in_({step.op for step in steps}), SimFault.remaining > 0)
                    .order_by(SimFault.id)
                )
            )
            machines: dict[int, SimMachine | None] = dict.fromkeys(ids)
            if any(step.change is not None for step in steps):
                for m in await s.scalars(select(SimMachine).where(SimMachine.server_id.in_(ids))):
                    if self.host is not None and m.host not in (None, self.host):
                        # on another host: not a machine of this one (a create here is refused)
                        machines[m.server_id] = _Elsewhere(m.host)  # type: ignore[assignment]
                        continue
                    if self.host is not None and m.host is None:
                        m.host = self.host  # made before hosts existed: this host takes it
                    machines[m.server_id] = m
            now = utcnow()
            calls = [{"server_id": st.server_id, "op": st.op, "at": now} for st in steps if st.log]
            if calls:  # one statement for all (added to the session, each would be an INSERT)
                await s.execute(insert(SimCall), calls)
            done = []
            for step in steps:
                armed = _armed(faults, step)
                before, failure, after = _use(armed.get("before")), None, None
                if before is None and step.change is not None:
                    try:
                        found = machines[step.server_id]
                        if isinstance(found, _Elsewhere):
                            if step.op == "create":
                                raise DriverError(
                                    f"machine for server {step.server_id} exists on host {found.host}"
                                )
                            found = None  # not here: stop/start find nothing, destroy has nothing to do
                        machines[step.server_id] = await step.change(s, found)
                    except DriverError as exc:  # the hypervisor's refusal: raised once logged
                        failure = exc
                    else:
                        after = _use(armed.get("after"))
                done.append(_Done(before, failure, after))
        return done

    async def _operate(self, op: str, server_id: int, change: Change) -> None:
        await self._tables()
        if self._scale <= 0:
            done = await self._steps.submit(_Step(op, server_id, True, ("before", "after"), change))
            _fire(op, done.before)
        else:
            done = await self._steps.submit(_Step(op, server_id, True, ("before",), None))
            _fire(op, done.before)
            await asyncio.sleep(DURATIONS[op] * self._scale)
            done = await self._steps.submit(_Step(op, server_id, False, ("after",), change))
        if done.failure is not None:
            raise done.failure
        _fire(op, done.after)

    async def _set_power(self, server_id: int, state: PowerState, *, reboot: bool = False) -> None:
        await self._tables()
        async with self._sessions.begin() as s:
            _power(await s.get(SimMachine, server_id), server_id, state, reboot=reboot)

    async def create(self, spec: VmSpec) -> None:
        async def build(s: AsyncSession, m: SimMachine | None) -> SimMachine:
            if m is not None:  # a retried create: the machine is there, make sure it runs
                _power(m, spec.server_id, PowerState.RUNNING)
                return m
            now = utcnow()
            m = SimMachine(
                server_id=spec.server_id,
                host=self.host,
                name=spec.name,
                vcpus=spec.vcpus,
                memory_mib=spec.memory_mib,
                storage_gb=spec.storage_gb,
                power_state=PowerState.RUNNING,
                booted_at=now,
                run_month=_month(now),
            )
            await _need_image(s, spec)
            _install(m, spec)
            s.add(m)
            return m

        await self._operate("create", spec.server_id, build)

    async def rebuild(self, spec: VmSpec) -> None:
        """A fresh disk of spec's image (disk_generation one more, what it was installed
        with recorded again), booted; a retry gives it another fresh disk."""

        async def reinstall(s: AsyncSession, m: SimMachine | None) -> SimMachine:
            if m is None:
                raise MachineNotFound(f"machine for server {spec.server_id} does not exist")
            await _need_image(s, spec)
            _power(m, spec.server_id, PowerState.SHUTOFF)
            _install(m, spec)
            m.disk_generation += 1
            m.vcpus, m.memory_mib, m.storage_gb = spec.vcpus, spec.memory_mib, spec.storage_gb
            _power(m, spec.server_id, PowerState.RUNNING)
            return m

        await self._operate("rebuild", spec.server_id, reinstall)

    async def _power_op(self, op: str, server_id: int, state: PowerState, *, reboot: bool = False) -> None:
        async def power(s: AsyncSession, m: SimMachine | None) -> SimMachine | None:
            _power(m, server_id, state, reboot=reboot)
            return m

        await self._operate(op, server_id, power)

    async def start(self, server_id: int) -> None:
        await self._power_op("start", server_id, PowerState.RUNNING)

    async def stop(self, server_id: int) -> None:
        await self._power_op("stop", server_id, PowerState.SHUTOFF)

    async def reboot(self, server_id: int) -> None:
        await self._power_op("reboot", server_id, PowerState.RUNNING, reboot=True)

    async def destroy(self, server_id: int) -> None:
        async def remove(s: AsyncSession, m: SimMachine | None) -> None:
            if m is not None:
                await s.delete(m)
                await s.flush()  # gone before a create of the same machine in this batch

        await self._operate("destroy", server_id, remove)

    async def resize(self, spec: VmSpec) -> None:
        """The machine's row takes the spec's sizes (tests read them there, and usage follows)."""

        async def grow(s: AsyncSession, m: SimMachine | None) -> SimMachine:
            if m is None:
                raise MachineNotFound(f"machine for server {spec.server_id} does not exist")
            if m.power_state != PowerState.SHUTOFF:
                raise DriverError(f"machine for server {spec.server_id} is {m.power_state}, not shut off")
            m.vcpus, m.memory_mib = spec.vcpus, spec.memory_mib
            m.storage_gb = max(m.storage_gb, spec.storage_gb)
            return m

        await self._operate("resize", spec.server_id, grow)

    async def snapshot(self, server_id: int, snapshot_id: int) -> int:
        """The image is a row in sim_snapshots, sized by the machine's disk use now; a
        retry finds the row and returns its size. Faults: op `snapshot`."""
        size: list[int] = []

        async def take(s: AsyncSession, m: SimMachine | None) -> SimMachine | None:
            image = await s.get(SimSnapshot, snapshot_id)
            if image is None:
                if m is None:
                    raise MachineNotFound(f"machine for server {server_id} does not exist")
                image = SimSnapshot(
                    snapshot_id=snapshot_id, server_id=server_id, size_gb=_usage(m, utcnow()).disk_used
                )
                s.add(image)
            size.append(image.size_gb)
            return m

        await self._operate("snapshot", server_id, take)
        return size[-1]

    async def delete_snapshot(self, snapshot_id: int) -> None:
        """Remove the row; none is fine. Logged (and faults checked) under the snapshot's
        server, or server 0 when the image is gone already."""
        await self._tables()
        async with self._reads() as s:
            server_id = await s.scalar(
                select(SimSnapshot.server_id).where(SimSnapshot.snapshot_id == snapshot_id)
            )

        async def remove(s: AsyncSession, m: SimMachine | None) -> SimMachine | None:
            await s.execute(delete(SimSnapshot).where(SimSnapshot.snapshot_id == snapshot_id))
            return m

        await self._operate("delete_snapshot", server_id or 0, remove)

    def _here(self) -> Any:
        """This host's machines (with those made before hosts, which any host may take)."""
        if self.host is None:
            return true()
        return or_(SimMachine.host == self.host, SimMachine.host.is_(None))

    async def receive(self, spec: VmSpec, source: "Driver") -> None:
        """The machine moves to this host: its row is the source host's, and becomes this
        one's, shut off (the disk goes with it); one transaction, so there is never a copy
        on both hosts nor on none. Already here: nothing to do."""
        if not isinstance(source, SimulatorDriver):
            raise DriverError(f"cannot migrate from a {source.name} host to a simulator host")
        await self._tables()
        if self._scale > 0:  # the disk's copy
            await asyncio.sleep(DURATIONS["receive"] * self._scale)
        before = after = None
        async with self._sessions.begin() as s:
            m = await s.get(SimMachine, spec.server_id, with_for_update=True)
            if m is not None and m.host == self.host:
                return
            if m is None or (source.host is not None and m.host not in (None, source.host)):
                raise MachineNotFound(f"machine for server {spec.server_id} is on neither host")
            s.add(SimCall(server_id=spec.server_id, op="receive", at=utcnow()))
            faults = await s.scalars(
                select(SimFault).where(SimFault.op == "receive", SimFault.remaining > 0).order_by(SimFault.id)
            )
            armed = _armed(list(faults), _Step("receive", spec.server_id, True, ("before", "after"), None))
            before = _use(armed.get("before"))
            if before is None:
                _power(m, spec.server_id, PowerState.SHUTOFF)
                m.host = self.host
                after = _use(armed.get("after"))
        # as the other operations: a failure 'before' with only the call logged, 'after' once moved
        _fire("receive", before)
        _fire("receive", after)

    async def info(self, server_id: int) -> VmInfo:
        await self._tables()
        async with self._reads() as s:
            state = await s.scalar(
                select(SimMachine.power_state).where(SimMachine.server_id == server_id, self._here())
            )
        return VmInfo(server_id, PowerState(state) if state else PowerState.MISSING)

    async def list_machines(self) -> list[VmInfo]:
        await self._tables()
        async with self._reads() as s:
            rows = await s.execute(
                select(SimMachine.server_id, SimMachine.power_state)
                .where(self._here())
                .order_by(SimMachine.server_id)
            )
        return [VmInfo(sid, PowerState(state)) for sid, state in rows]

    async def usage(self, server_id: int) -> Usage | None:
        """One machine's usage; asked for many at once (the worker asks after each action),
        they share one read."""
        return await self._usage_reads.submit(server_id)

    async def _read_usage(self, server_ids: list[int]) -> list[Usage | None]:
        found = await self.usage_many(server_ids)
        return [found.get(sid) for sid in server_ids]

    async def usage_many(self, server_ids: list[int]) -> dict[int, Usage]:
        """The usage of each of these machines that exists, in one read (as a hypervisor's
        bulk statistics call, libvirt's virConnectGetAllDomainStats, answers for all)."""
        await self._tables()
        found: dict[int, Usage] = {}
        now = utcnow()
        async with self._reads() as s:
            for start in range(0, len(server_ids), 1000):
                chunk = server_ids[start : start + 1000]
                machines = select(SimMachine).where(SimMachine.server_id.in_(chunk), self._here())
                for m in await s.scalars(machines):
                    found[m.server_id] = _usage(m, now)
                s.expunge_all()
        return found

    async def open_console(self, server_id: int) -> Console:
        """A simulated serial console (vpsorg.drivers.simconsole: boot lines, then a login
        prompt), freshly booted for each session; the machine must be running."""
        await self._tables()
        async with self._reads() as s:
            row = (
                await s.execute(
                    select(SimMachine.power_state, SimMachine.hostname, SimMachine.name).where(
                        SimMachine.server_id == server_id, self._here()
                    )
                )
            ).first()
        if row is None:
            raise MachineNotFound(f"machine for server {server_id} does not exist")
        if row.power_state != PowerState.RUNNING:
            raise DriverError(f"machine for server {server_id} is not running")
        return SimConsole(row.hostname or row.name)

    async def close(self) -> None:
        return None

    # Test helpers: simulate what happens behind the control plane's back.
    async def set_power_behind_our_back(self, server_id: int, state: PowerState) -> None:
        await self._set_power(server_id, state)

    async def remove_behind_our_back(self, server_id: int) -> None:
        await self._tables()
        async with self._sessions() as s, s.begin():
            await s.execute(delete(SimMachine).where(SimMachine.server_id == server_id))


@dataclass(frozen=True)
class _Elsewhere:
    """A machine that exists, on another host than the driver's."""

    host: str | None


@dataclass(frozen=True)
class Fault:
    mode: str
    message: str


def _use(fault: SimFault | None) -> Fault | None:
    """Use up one firing of an armed fault (written with the operation's transaction)."""
    if fault is None:
        return None
    fault.remaining -= 1
    return Fault(fault.mode, fault.message)


def _fire(op: str, fault: Fault | None) -> None:
    if fault is None:
        return
    if fault.mode == "crash":
        os._exit(70)  # as abrupt as a kill -9: no cleanup, no commit
    raise DriverError(f"{op} failed: {fault.message}")


def _armed(faults: list[SimFault], step: _Step) -> dict[str, SimFault]:
    """The first armed fault of each of the step's phases for its operation and machine
    (`faults`: those armed for the batch's operations, oldest first; _use counts them down
    as the batch's steps fire them, so a fault used up by an earlier step is passed over)."""
    armed: dict[str, SimFault] = {}
    for fault in faults:
        if (
            fault.op == step.op
            and fault.phase in step.phases
            and fault.remaining > 0
            and fault.server_id in (None, step.server_id)
        ):
            armed.setdefault(fault.phase, fault)
    return armed


async def _need_image(s: AsyncSession, spec: VmSpec) -> None:
    """A disk from a snapshot needs the snapshot's image (its sim_snapshots row)."""
    if spec.disk_snapshot is not None and await s.get(SimSnapshot, spec.disk_snapshot) is None:
        raise DriverError(f"snapshot {spec.disk_snapshot} has no image on this host")


def _install(m: SimMachine, spec: VmSpec) -> None:
    """Record on the machine what its disk was installed with (hashes: nothing secret kept):
    the OS image, or `snapshot:<id>` for a copy of a snapshot's image."""
    m.hostname = spec.hostname
    m.os_image = spec.os_image if spec.disk_snapshot is None else f"snapshot:{spec.disk_snapshot}"
    m.user_data_sha256 = _sha256(spec.user_data)
    m.ssh_keys_sha256 = _sha256("\n".join(spec.ssh_public_keys) if spec.ssh_public_keys else None)


def _sha256(text: str | None) -> str | None:
    return hashlib.sha256(text.encode()).hexdigest() if text is not None else None


def _power(m: SimMachine | None, server_id: int, state: PowerState, *, reboot: bool = False) -> None:
    if m is None:
        raise MachineNotFound(f"machine for server {server_id} does not exist")
    now = utcnow()
    if (
        m.power_state == PowerState.RUNNING
        and m.booted_at is not None
        and (state == PowerState.SHUTOFF or reboot)
    ):
        m.run_seconds = _run_seconds(m, now)
        m.run_month = _month(now)
        m.booted_at = None
    if state == PowerState.RUNNING and m.booted_at is None:
        m.booted_at = now
    m.power_state = state


def _usage(m: SimMachine, now: datetime) -> Usage:
    server_id = m.server_id
    t = now.timestamp()
    running = m.power_state == PowerState.RUNNING
    age_days = (now - m.created_at).total_seconds() / 86400
    disk = m.storage_gb * min(0.9, 0.08 + 0.01 * age_days + 0.02 * _wave(server_id, t, 86400))
    return Usage(
        cpu_percent=round(2 + 60 * _wave(server_id, t, 300) * _wave(server_id + 1, t, 37), 1)
        if running
        else 0.0,
        memory_used=int(m.memory_mib * (0.2 + 0.5 * _wave(server_id, t, 600))) if running else 0,
        disk_used=max(1, math.ceil(disk)),
        bandwidth_used=int(_run_seconds(m, now) / 3600 * GB_PER_HOUR),
    )


def _run_seconds(m: SimMachine, now: datetime) -> float:
    """Seconds the machine has run this calendar month, including the current boot."""
    month = _month(now)
    before = m.run_seconds if m.run_month == month else 0.0
    if m.power_state == PowerState.RUNNING and m.booted_at is not None:
        since = max(m.booted_at, now.replace(day=1, hour=0, minute=0, second=0, microsecond=0))
        before += max(0.0, (now - since).total_seconds())
    return before
