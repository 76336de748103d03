"""IPv4/IPv6 address allocation from a location's pools, in O(log n) per create.

A pool's host addresses (every address `ipaddress`'s `hosts()` yields) are numbered 0, 1,
2, ... in order. Per location and family the allocator keeps a counter of the hosts ever
handed out (`Location.ipv4_next_host` / `ipv6_next_host`) and a free list of released
ones (`released_addresses`). Allocating takes the lowest released host (one indexed row,
removed), else the counter's host (the counter bumped), never the gateway: the lowest
free address of the pool either way. Releasing inserts the host into the free list.

The location's row is locked (FOR UPDATE; SQLite's write lock already serializes) while
a create allocates, so two creates never take the same host. The unique constraints on
servers.ipv4_address and servers.ipv6_address still decide who holds an address (pools of
two locations may overlap); the caller retries a lost one under a savepoint. A deleted
server keeps its addresses until the worker has torn its machine down, then `release`.
"""

import functools
import ipaddress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.catalog.models import Location
from vpsorg.errors import CapacityExhausted
from vpsorg.ipam.models import ReleasedAddress
from vpsorg.servers.models import Server

# A counter is a signed 64-bit integer: a /64's hosts beyond 2**63 are never reached.
MAX_HOSTS = 2**63 - 1


@dataclass(frozen=True)
class Pool:
    """A pool's host addresses as indexes: address = network + first + host."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    first: int  # offset from the network address of hosts()[0]
    size: int  # how many hosts
    gateway: int  # the gateway's host index

    @classmethod
    def of(cls, pool: str, gateway: str) -> "Pool":
        net = ipaddress.ip_network(pool)
        # hosts(): all but the network (and, in IPv4, the broadcast) address, except that
        # a /31 or /32 (/127 or /128) is all hosts.
        small = net.prefixlen >= net.max_prefixlen - 1
        first = 0 if small else 1
        last = net.num_addresses - 1 - (1 if net.version == 4 and not small else 0)
        gw = int(ipaddress.ip_address(gateway)) - int(net.network_address) - first
        return cls(net, first, last - first + 1, gw)

    def address(self, host: int) -> str:
        return ipaddress.ip_address(int(self.network.network_address) + self.first + host).compressed

    def host(self, address: str) -> int | None:
        """The host index of an address, or None if it is not one of the pool's hosts."""
        host = int(ipaddress.ip_address(address)) - int(self.network.network_address) - self.first
        return host if 0 <= host < self.size else None


def pools(location: Location) -> dict[int, tuple[Pool, Any, Any]]:
    """Per family: the pool, the location's counter column and the servers' address column."""
    return {
        4: (Pool.of(location.ipv4_pool, location.ipv4_gateway), Location.ipv4_next_host, Server.ipv4_address),
        6: (Pool.of(location.ipv6_pool, location.ipv6_gateway), Location.ipv6_next_host, Server.ipv6_address),
    }


_locations = Location.__table__.c
_released_rows = ReleasedAddress.__table__.c
_LOCATION_ID: Any = bindparam("location_id")


def _lowest(family: int) -> Any:
    return (
        select(_released_rows.host)
        .where(_released_rows.location_id == _LOCATION_ID, _released_rows.family == family)
        .order_by(_released_rows.host)
        .limit(1)
        .scalar_subquery()
    )


# The allocator's statements, built once (see allocate).
_COUNTERS = (
    select(_locations.ipv4_next_host, _locations.ipv6_next_host)
    .where(_locations.id == _LOCATION_ID)
    .with_for_update()
)
# The lowest released host of each family, both removed in one statement: each branch of the
# OR is an equality on the whole primary key (an index lookup on either database).
_TAKE_RELEASED = (
    delete(ReleasedAddress.metadata.tables["released_addresses"])
    .where(
        or_(
            *(
                (_released_rows.location_id == _LOCATION_ID)
                & (_released_rows.family == family)
                & (_released_rows.host == _lowest(family))
                for family in (4, 6)
            )
        )
    )
    .returning(_released_rows.family, _released_rows.host)
)
_MOVE = {
    keys: update(Location.metadata.tables["locations"])
    .where(_locations.id == _LOCATION_ID)
    .values({key: bindparam(key) for key in keys})
    for keys in (("ipv4_next_host",), ("ipv6_next_host",), ("ipv4_next_host", "ipv6_next_host"))
}


@functools.lru_cache(maxsize=256)
def _pool(pool: str, gateway: str) -> Pool:
    return Pool.of(pool, gateway)


def take(conn: Connection, *, location: Any) -> tuple[str, str]:
    """Reserve an IPv4 and an IPv6 address in the location's pools: the lowest free ones.

    `location` has the Location's id, code and pools (an entity or a row). Two or three
    statements however many servers there are: the location's counters read with its row
    locked, the lowest released host of each family taken (one statement), and the counters
    moved past what the counter handed out, if it handed out any. Raises CapacityExhausted
    when a pool is full; the caller's transaction is then rolled back with whatever this took."""
    params = {"location_id": location.id}
    # Read under the location's row lock, not from a possibly stale entity.
    counters = conn.execute(_COUNTERS, params).one()
    released = dict(conn.execute(_TAKE_RELEASED, params).all())
    taken, moved = [], {}
    for family, next_host, pool_text, gateway, key in (
        (4, counters[0], location.ipv4_pool, location.ipv4_gateway, "ipv4_next_host"),
        (6, counters[1], location.ipv6_pool, location.ipv6_gateway, "ipv6_next_host"),
    ):
        pool = _pool(pool_text, gateway)
        host = released.get(family)
        if host is None:
            host = next_host + (1 if next_host == pool.gateway else 0)
            if host >= min(pool.size, MAX_HOSTS):
                raise CapacityExhausted(
                    f"No free IPv{family} address in location {location.code!r}; try another location",
                    details={"location": location.code},
                )
            moved[key] = host + 1
        taken.append(pool.address(host))
    if moved:
        conn.execute(_MOVE[tuple(moved)], params | moved)  # type: ignore[index]
    return taken[0], taken[1]


async def allocate(session: AsyncSession, *, location: Location) -> tuple[str, str]:
    """`take` on the session's connection."""
    return await session.run_sync(lambda s: take(s.connection(), location=location))


async def release(session: AsyncSession, *, server: Server) -> None:
    """Give a torn-down server's addresses back to its location's free lists."""
    location = await session.get(Location, server.location_id)
    assert location is not None
    for family, (pool, counter, column) in pools(location).items():
        address = getattr(server, column.key)
        host = None if address is None else pool.host(address)
        # An address outside today's pool (the pool was changed since) is not ours to reuse;
        # one at or past the counter is handed out by the counter anyway.
        if host is None or host == pool.gateway:
            continue
        below = await session.scalar(select(counter).where(Location.id == location.id))
        listed = await session.get(ReleasedAddress, (location.id, family, host))
        if below is not None and host < below and listed is None:
            await session.execute(
                insert(ReleasedAddress).values(location_id=location.id, family=family, host=host)
            )
    server.ipv4_address = server.ipv6_address = None


async def rebuild(session: AsyncSession, *, location: Location) -> None:
    """Recount a location's counters and free lists from the addresses servers hold.

    For when the pools changed (a catalog load) or rows were written behind the allocator's
    back. Reads every address in the database: O(n), never on a create."""
    await session.execute(select(Location.id).where(Location.id == location.id).with_for_update())
    await session.execute(delete(ReleasedAddress).where(ReleasedAddress.location_id == location.id))
    for family, (pool, counter, column) in pools(location).items():
        held = await session.scalars(select(column).where(column.is_not(None)))
        used = {h for h in map(pool.host, held) if h is not None}
        next_host = max(used) + 1 if used else 0
        used.add(pool.gateway)
        free = [
            {"location_id": location.id, "family": family, "host": h}
            for h in range(next_host)
            if h not in used
        ]
        if free:
            await session.execute(insert(ReleasedAddress), free)
        await session.execute(
            update(Location).where(Location.id == location.id).values({counter.key: next_host}),
            execution_options={"synchronize_session": False},
        )


def prefix_length(pool: str) -> int:
    return ipaddress.ip_network(pool).prefixlen
