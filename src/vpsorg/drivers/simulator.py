"""The simulator: a real driver whose machines are rows in the control plane's database.

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
from datetime import datetime

from sqlalchemy import ForeignKey, String, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from vpsorg.db import Base, UTCDateTime, utcnow
from vpsorg.drivers.base import DriverError, MachineNotFound, Usage, VmInfo, VmSpec
from vpsorg.servers.states import PowerState

# Seconds each operation takes at time scale 1.
DURATIONS = {"create": 5.0, "start": 2.0, "stop": 2.0, "reboot": 3.0, "destroy": 1.0}
# Bandwidth a running machine uses, GB per hour: enough to see it grow.
GB_PER_HOUR = 0.5


class SimMachine(Base):
    __tablename__ = "sim_machines"

    server_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(63))
    vcpus: Mapped[int]
    memory_mib: Mapped[int]
    storage_gb: Mapped[int]
    power_state: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    booted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Seconds the machine ran this month before booted_at, and which month that was.
    run_seconds: Mapped[float] = mapped_column(default=0.0)
    run_month: Mapped[str] = mapped_column(String(7), default="")


class SimCall(Base):
    """Every operation the simulator was asked to do, so tests can count driver calls."""

    __tablename__ = "sim_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(index=True)
    op: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SimFault(Base):
    __tablename__ = "sim_faults"

    id: Mapped[int] = mapped_column(primary_key=True)
    op: Mapped[str] = mapped_column(String(20))
    server_id: Mapped[int | None] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(10))  # error | crash
    phase: Mapped[str] = mapped_column(String(10), default="before")  # before | after
    remaining: Mapped[int] = mapped_column(default=1)
    message: Mapped[str] = mapped_column(String(200), default="simulated failure")


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
    session.add(
        SimFault(op=op, mode=mode, phase=phase, server_id=server_id, remaining=times, message=message)
    )
    await session.flush()


class SimulatorDriver:
    name = "simulator"

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, time_scale: float = 1.0) -> None:
        self._sessions = sessions
        self._scale = time_scale

    async def _fault(self, op: str, server_id: int, phase: str) -> None:
        async with self._sessions() as s, s.begin():
            fault = await s.scalar(
                select(SimFault)
                .where(
                    SimFault.op == op,
                    SimFault.phase == phase,
                    SimFault.remaining > 0,
                    (SimFault.server_id == server_id) | SimFault.server_id.is_(None),
                )
                .order_by(SimFault.id)
                .limit(1)
            )
            if fault is None:
                return
            fault.remaining -= 1
            mode, message = fault.mode, fault.message
        if mode == "crash":
            os._exit(70)  # as abrupt as a kill -9: no cleanup, no commit
        raise DriverError(f"{op} failed: {message}")

    async def _run(self, op: str, server_id: int) -> None:
        """Wait as long as the operation takes; failures injected 'before' fire first."""
        async with self._sessions() as s, s.begin():
            s.add(SimCall(server_id=server_id, op=op, at=utcnow()))
        await self._fault(op, server_id, "before")
        if self._scale > 0:
            await asyncio.sleep(DURATIONS[op] * self._scale)

    async def _set_power(self, server_id: int, state: PowerState, *, reboot: bool = False) -> None:
        async with self._sessions() as s, s.begin():
            m = await s.get(SimMachine, server_id)
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

    async def create(self, spec: VmSpec) -> None:
        await self._run("create", spec.server_id)
        async with self._sessions() as s, s.begin():
            m = await s.get(SimMachine, spec.server_id)
            if m is None:
                now = utcnow()
                s.add(
                    SimMachine(
                        server_id=spec.server_id,
                        name=spec.name,
                        vcpus=spec.vcpus,
                        memory_mib=spec.memory_mib,
                        storage_gb=spec.storage_gb,
                        power_state=PowerState.RUNNING,
                        booted_at=now,
                        run_month=_month(now),
                    )
                )
        await self._set_power(spec.server_id, PowerState.RUNNING)
        await self._fault("create", spec.server_id, "after")

    async def start(self, server_id: int) -> None:
        await self._run("start", server_id)
        await self._set_power(server_id, PowerState.RUNNING)
        await self._fault("start", server_id, "after")

    async def stop(self, server_id: int) -> None:
        await self._run("stop", server_id)
        await self._set_power(server_id, PowerState.SHUTOFF)
        await self._fault("stop", server_id, "after")

    async def reboot(self, server_id: int) -> None:
        await self._run("reboot", server_id)
        await self._set_power(server_id, PowerState.RUNNING, reboot=True)
        await self._fault("reboot", server_id, "after")

    async def destroy(self, server_id: int) -> None:
        await self._run("destroy", server_id)
        async with self._sessions() as s, s.begin():
            await s.execute(delete(SimMachine).where(SimMachine.server_id == server_id))
        await self._fault("destroy", server_id, "after")

    async def info(self, server_id: int) -> VmInfo:
        async with self._sessions() as s:
            state = await s.scalar(select(SimMachine.power_state).where(SimMachine.server_id == server_id))
        return VmInfo(server_id, PowerState(state) if state else PowerState.MISSING)

    async def list_machines(self) -> list[VmInfo]:
        async with self._sessions() as s:
            rows = await s.execute(
                select(SimMachine.server_id, SimMachine.power_state).order_by(SimMachine.server_id)
            )
        return [VmInfo(sid, PowerState(state)) for sid, state in rows]

    async def usage(self, server_id: int) -> Usage | None:
        async with self._sessions() as s:
            m = await s.get(SimMachine, server_id)
        if m is None:
            return None
        now = utcnow()
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

    async def close(self) -> None:
        return None

    # Test helpers: simulate what happens behind the control plane's back.
    async def set_power_behind_our_back(self, server_id: int, state: PowerState) -> None:
        await self._set_power(server_id, state)

    async def remove_behind_our_back(self, server_id: int) -> None:
        async with self._sessions() as s, s.begin():
            await s.execute(delete(SimMachine).where(SimMachine.server_id == server_id))


def _run_seconds(m: SimMachine, now: datetime) -> float:
    """Seconds the machine has run this calendar month, including the current boot."""
    month = _month(now)
    before = m.run_seconds if m.run_month == month else 0.0
    if m.power_state == PowerState.RUNNING and m.booted_at is not None:
        since = max(m.booted_at, now.replace(day=1, hour=0, minute=0, second=0, microsecond=0))
        before += max(0.0, (now - since).total_seconds())
    return before
