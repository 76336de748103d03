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

import ipaddress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
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


def _released(location_id: int, family: int) -> Any:
    return (ReleasedAddress.location_id == location_id) & (ReleasedAddress.family == family)


async def _take_released(session: AsyncSession, location_id: int, family: int) -> int | None:
    """Remove and return the lowest host of the free list, if any (one statement)."""
    lowest = (
        select(ReleasedAddress.host)
        .where(_released(location_id, family))
        .order_by(ReleasedAddress.host)
        .limit(1)
        .scalar_subquery()
    )
    return await session.scalar(
        delete(ReleasedAddress)
        .where(_released(location_id, family), ReleasedAddress.host == lowest)
        .returning(ReleasedAddress.host)
    )


async def allocate(session: AsyncSession, *, location: Location) -> tuple[str, str]:
    """Reserve an IPv4 and an IPv6 address in the location's pools: the lowest free ones.

    Four statements however many servers there are: the location's counters read with its
    row locked, the lowest released host of each family taken, and the counters moved
    past what was handed out. Raises CapacityExhausted when a pool is full; the caller's
    transaction is then rolled back with whatever this took."""
    # Read under the location's row lock, not from the possibly stale entity.
    counters = (
        await session.execute(
            select(Location.ipv4_next_host, Location.ipv6_next_host)
            .where(Location.id == location.id)
            .with_for_update()
        )
    ).one()
    taken, moved = [], {}
    for family, next_host in zip((4, 6), counters, strict=True):
        pool, counter, _ = pools(location)[family]
        host = await _take_released(session, location.id, family)
        if host is None:
            host = next_host + (1 if next_host == pool.gateway else 0)
            if host >= min(pool.size, MAX_HOSTS):
                raise CapacityExhausted(
                    f"No free IPv{family} address in location {location.code!r}; try another location",
                    details={"location": location.code},
                )
            moved[counter.key] = host + 1
        taken.append(pool.address(host))
    if moved:
        await session.execute(
            update(Location).where(Location.id == location.id).values(moved),
            execution_options={"synchronize_session": False},
        )
    return taken[0], taken[1]


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
