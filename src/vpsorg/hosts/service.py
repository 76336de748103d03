"""Hosts: the hypervisors of each location, placement on them, and their workers' heartbeats.

Placement happens in the create's transaction: the host's row is updated with the plan's
resources under a condition that it still has room (under its overcommit ratios), so two
creates can never both take the last room of a host, with any number of API processes. On
PostgreSQL the chosen row is locked with SKIP LOCKED first (concurrent creates spread over
the hosts with room instead of queueing on one); if every host with room is locked, the
create waits its turn on each in the policy's order, and the condition is checked again
on the row as the other transaction left it. Capacity is given back when the worker has
torn the machine down (`release`)."""

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.actions.models import Action
from vpsorg.catalog.models import Location
from vpsorg.errors import CapacityExhausted, Conflict, InvalidState, NotFound, ValidationFailed
from vpsorg.hosts.models import Host
from vpsorg.servers.models import Server
from vpsorg.sqltypes import utcnow

DRIVERS = ("simulator", "libvirt")
# The capacity of the host a location gets by default (an install with one hypervisor):
# never what refuses a create (a million vCPUs, 2**40 MiB and GB); `vpsorg hosts update`
# sets the real one.
DEFAULT_CAPACITY = {"vcpus": 1_000_000, "memory_mib": 2**40, "disk_gb": 2**40}


class HostState(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    DRAINING = "draining"


class Policy(StrEnum):
    SPREAD = "spread"  # the host with the largest share of its memory free
    PACK = "pack"  # the host with the smallest share free that still fits


@dataclass(frozen=True)
class Need:
    """What a server takes of a host: its plan's vCPUs, memory (MiB) and disk (GB)."""

    vcpus: int
    memory_mib: int
    disk_gb: int


def _room(need: Need) -> Any:
    return (
        (Host.used_vcpus + need.vcpus <= Host.vcpus * Host.cpu_overcommit)
        & (Host.used_memory_mib + need.memory_mib <= Host.memory_mib * Host.memory_overcommit)
        & (Host.used_disk_gb + need.disk_gb <= Host.disk_gb * Host.disk_overcommit)
    )


def _order(policy: Policy) -> tuple[Any, ...]:
    share = Host.used_memory_mib / (Host.memory_mib * Host.memory_overcommit)
    return (share.asc() if policy == Policy.SPREAD else share.desc(), Host.id)


def _take(need: Need) -> dict[str, Any]:
    return {
        "used_vcpus": Host.used_vcpus + need.vcpus,
        "used_memory_mib": Host.used_memory_mib + need.memory_mib,
        "used_disk_gb": Host.used_disk_gb + need.disk_gb,
        "servers": Host.servers + 1,
    }


async def place(
    session: AsyncSession, *, location: Any, need: Need, policy: Policy, exclude: int | None = None
) -> int:
    """Reserve `need` on an enabled host of the location (not `exclude`); its id.

    CapacityExhausted (503) when no host of the location has room."""
    return await session.run_sync(
        lambda sync: place_on(sync.connection(), location=location, need=need, policy=policy, exclude=exclude)
    )


def place_on(
    conn: Connection,
    *,
    location: Any,
    need: Need,
    policy: Policy,
    exclude: int | None = None,
    prefer: int | None = None,
) -> int:
    """`place` on a connection (synchronous: a caller already in SQLAlchemy's sync layer,
    as the create is). `location` has `id` and `code`. Host `prefer` first, when it is one
    of the location's with room (a create from a snapshot: the host that keeps its image)."""
    fits = _fits(location.id, need, exclude or 0)
    if prefer is not None:
        taken = conn.execute(
            update(Host).where(Host.id == prefer, fits).values(_take(need)).returning(Host.id)
        ).scalar()
        if taken is not None:
            return int(taken)
    # The first host with room that no other transaction holds, in one statement.
    taken = conn.execute(_place_free(policy), _params(location.id, need, exclude)).scalar()
    if taken is not None:
        return int(taken)
    # Every host with room is being placed on (or none has room): wait on each in turn.
    candidates = select(Host.id).where(fits).order_by(*_order(policy))
    for host_id in list(conn.execute(candidates).scalars()):
        taken = conn.execute(
            update(Host).where(Host.id == host_id, fits).values(_take(need)).returning(Host.id)
        ).scalar()
        if taken is not None:
            return int(taken)
    raise CapacityExhausted(
        f"No host in location {location.code!r} has room for this plan; try another location or plan",
        details={"location": location.code},
    )


def _fits(location_id: Any, need: Any, exclude: Any) -> Any:
    return (
        (Host.location_id == location_id)
        & (Host.state == HostState.ENABLED)
        & _room(need)
        & (Host.id != exclude)
    )


_NEED = Need(bindparam("need_vcpus"), bindparam("need_memory_mib"), bindparam("need_disk_gb"))  # type: ignore[arg-type]


@functools.cache
def _place_free(policy: Policy) -> Any:
    """UPDATE the first host with room, in the policy's order, that no other transaction
    holds (SKIP LOCKED), taking the need; RETURNING its id. Built once per policy."""
    fits = _fits(bindparam("in_location"), _NEED, bindparam("exclude"))
    free = select(Host.id).where(fits).order_by(*_order(policy)).limit(1).with_for_update(skip_locked=True)
    return update(Host).where(Host.id == free.scalar_subquery()).values(_take(_NEED)).returning(Host.id)


def _params(location_id: int, need: Need, exclude: int | None) -> dict[str, Any]:
    return {
        "in_location": location_id,
        "need_vcpus": need.vcpus,
        "need_memory_mib": need.memory_mib,
        "need_disk_gb": need.disk_gb,
        "exclude": exclude or 0,
    }


async def reserve(session: AsyncSession, *, host: Host, need: Need) -> None:
    """Reserve `need` on this host (an operator chose it), under the same condition as
    `place`; CapacityExhausted (503) when it has no room left."""
    taken = await session.scalar(
        update(Host).where(Host.id == host.id, _room(need)).values(_take(need)).returning(Host.id),
        execution_options={"synchronize_session": False},
    )
    if taken is None:
        raise CapacityExhausted(
            f"Host {host.name!r} has no room for this server's plan", details={"host": host.name}
        )


def difference(new: Need, old: Need) -> Need:
    """What a server takes more of its host on plan `new` than on `old` (parts may be negative)."""
    return Need(new.vcpus - old.vcpus, new.memory_mib - old.memory_mib, new.disk_gb - old.disk_gb)


async def grow(session: AsyncSession, *, host_id: int, more: Need) -> bool:
    """Take `more` of a host for a server already on it (a resize: `difference`), under the
    same condition as `place`; False, taking nothing, when the host has no room for it."""
    taken = await session.scalar(
        update(Host)
        .where(Host.id == host_id, _room(more))
        .values(
            used_vcpus=Host.used_vcpus + more.vcpus,
            used_memory_mib=Host.used_memory_mib + more.memory_mib,
            used_disk_gb=Host.used_disk_gb + more.disk_gb,
        )
        .returning(Host.id),
        execution_options={"synchronize_session": False},
    )
    return taken is not None


async def shrink(session: AsyncSession, *, host_id: int, less: Need) -> None:
    """Give back what `grow` took (a failed resize)."""
    await session.execute(
        update(Host)
        .where(Host.id == host_id)
        .values(
            used_vcpus=Host.used_vcpus - less.vcpus,
            used_memory_mib=Host.used_memory_mib - less.memory_mib,
            used_disk_gb=Host.used_disk_gb - less.disk_gb,
        ),
        execution_options={"synchronize_session": False},
    )


async def settle_drained(session: AsyncSession, host_ids: Sequence[int | None]) -> None:
    """Draining hosts that hold no server any more, and expect none (no migration to them
    open), become disabled: the drain is over."""
    ids = [h for h in set(host_ids) if h is not None]
    if not ids:
        return
    await session.execute(
        update(Host)
        .where(
            Host.id.in_(ids),
            Host.state == HostState.DRAINING,
            ~select(Server.id).where(Server.host_id == Host.id).exists(),
            ~select(Action.id)
            .where(Action.target_host_id == Host.id, Action.status.in_(("queued", "running")))
            .exists(),
        )
        .values(state=HostState.DISABLED),
        execution_options={"synchronize_session": False},
    )


async def release(session: AsyncSession, *, host_id: int, need: Need) -> None:
    """Give back what a server took of its host (its machine is gone from it)."""
    await session.execute(
        update(Host)
        .where(Host.id == host_id)
        .values(
            used_vcpus=Host.used_vcpus - need.vcpus,
            used_memory_mib=Host.used_memory_mib - need.memory_mib,
            used_disk_gb=Host.used_disk_gb - need.disk_gb,
            servers=Host.servers - 1,
        ),
        execution_options={"synchronize_session": False},
    )


async def ensure_default_hosts(session: AsyncSession, *, codes: Sequence[str] | None = None) -> list[Host]:
    """Give each location (of `codes`, else any) without a host one, named after it, driven
    by the worker's own configuration (VPSORG_DRIVER); the hosts made."""
    q = select(Location).where(~select(Host.id).where(Host.location_id == Location.id).exists())
    if codes is not None:
        q = q.where(Location.code.in_(codes))
    bare = await session.scalars(q)
    made = []
    taken = set(await session.scalars(select(Host.name)))
    for location in bare:
        name = location.code
        n = 1
        while name in taken:
            n += 1
            name = f"{location.code}-{n}"
        taken.add(name)
        host = Host(name=name, location_id=location.id, state=HostState.ENABLED, **DEFAULT_CAPACITY)
        session.add(host)
        made.append(host)
    await session.flush()
    return made


@dataclass(frozen=True)
class NewHost:
    name: str
    location: str
    driver: str
    vcpus: int
    memory_mib: int
    disk_gb: int
    uri: str | None = None
    storage: str | None = None
    network: str | None = None
    bridge: str | None = None
    cpu_overcommit: float = 4.0
    memory_overcommit: float = 1.0
    disk_overcommit: float = 1.0


async def add_host(session: AsyncSession, new: NewHost) -> Host:
    if new.driver not in DRIVERS:
        raise ValidationFailed.field("driver", f"unknown driver {new.driver!r} (simulator or libvirt)")
    if new.network and new.bridge:
        raise ValidationFailed.field("bridge", "give a network or a bridge, not both")
    _check_capacity({f: getattr(new, f) for f in (*CAPACITY_FIELDS, *OVERCOMMIT_FIELDS)})
    location = await session.scalar(select(Location).where(Location.code == new.location))
    if location is None:
        raise ValidationFailed.field("location", f"no location {new.location!r}")
    if await session.scalar(select(Host.id).where(Host.name == new.name)) is not None:
        raise Conflict(f"A host named {new.name!r} exists already", details={"name": new.name})
    values = {k: v for k, v in new.__dict__.items() if k != "location"}
    host = Host(location_id=location.id, state=HostState.ENABLED, **values)
    session.add(host)
    await session.flush()
    return host


CAPACITY_FIELDS = ("vcpus", "memory_mib", "disk_gb")
OVERCOMMIT_FIELDS = ("cpu_overcommit", "memory_overcommit", "disk_overcommit")


def _check_capacity(values: dict[str, Any]) -> None:
    for field in CAPACITY_FIELDS:
        if field in values and not 1 <= values[field] <= 2**31 - 1:
            raise ValidationFailed.field(field, "must be at least 1 (and below 2^31)")
    for field in OVERCOMMIT_FIELDS:
        if field in values and not 0 < values[field] <= 100:
            raise ValidationFailed.field(field, "must be above 0 and at most 100")


async def update_host(session: AsyncSession, *, host_id: int, changes: dict[str, Any]) -> Host:
    """Set a host's capacity and overcommit ratios (any of CAPACITY_FIELDS and
    OVERCOMMIT_FIELDS). A host may be given less than its servers use: it takes no more
    until they leave (nothing is moved)."""
    unknown = set(changes) - set(CAPACITY_FIELDS) - set(OVERCOMMIT_FIELDS)
    if unknown:
        raise ValidationFailed.field(sorted(unknown)[0], "not a capacity or an overcommit ratio")
    _check_capacity(changes)
    host = await session.scalar(select(Host).where(Host.id == host_id).with_for_update())
    if host is None:
        raise NotFound(f"Host {host_id} not found")
    for field, value in changes.items():
        setattr(host, field, value)
    await session.flush()
    return host


async def get_host(session: AsyncSession, *, host_id: int | None = None, name: str | None = None) -> Host:
    where = Host.id == host_id if host_id is not None else Host.name == name
    host = await session.scalar(select(Host).where(where))
    if host is None:
        raise NotFound(f"Host {host_id if host_id is not None else repr(name)} not found")
    return host


async def list_hosts(session: AsyncSession, *, names: list[str] | None = None) -> list[Host]:
    q = select(Host).order_by(Host.id)
    if names is not None:
        q = q.where(Host.name.in_(names))
    return list(await session.scalars(q))


async def set_state(session: AsyncSession, *, host_id: int, state: HostState) -> Host:
    host = await session.scalar(select(Host).where(Host.id == host_id).with_for_update())
    if host is None:
        raise NotFound(f"Host {host_id} not found")
    host.state = state
    await session.flush()
    return host


async def remove_host(session: AsyncSession, *, host_id: int) -> None:
    host = await session.scalar(select(Host).where(Host.id == host_id).with_for_update())
    if host is None:
        raise NotFound(f"Host {host_id} not found")
    held = await session.scalar(select(func.count()).select_from(Server).where(Server.host_id == host_id))
    if held:
        raise InvalidState(
            f"Host {host.name!r} holds {held} servers; drain it first",
            details={"host": host.name, "servers": held},
        )
    if host.servers > 0:  # room reserved for servers on their way here (migrations)
        raise InvalidState(
            f"Host {host.name!r} has room reserved for {host.servers} servers moving to it; "
            "wait for their migrations",
            details={"host": host.name, "servers": host.servers},
        )
    await session.delete(host)
    await session.flush()


async def heartbeat(
    session: AsyncSession,
    *,
    host_ids: list[int],
    now: datetime | None = None,
    console_address: str | None = None,
) -> None:
    """The hosts' worker is alive (one statement for all), and takes console relays at
    `console_address` (when given)."""
    if host_ids:
        values: dict[str, object] = {"heartbeat_at": now or utcnow()}
        if console_address is not None:
            values["console_address"] = console_address
        await session.execute(
            update(Host).where(Host.id.in_(host_ids)).values(**values),
            execution_options={"synchronize_session": False},
        )


def shown_state(host: Host, *, now: datetime, down_after: float) -> str:
    """The state an operator sees: `down` when the host's worker has not been heard from
    within `down_after` seconds (or never), else the state set."""
    if host.heartbeat_at is None or now - host.heartbeat_at > timedelta(seconds=down_after):
        return "down"
    return host.state


def need_of(plan: Any) -> Need:
    """What a server of this plan takes of a host."""
    return Need(vcpus=plan.vcpus, memory_mib=plan.memory, disk_gb=plan.storage)
