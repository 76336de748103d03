"""IPv4/IPv6 address allocation from a location's pools.

The unique constraints on servers.ipv4_address and servers.ipv6_address are what make an
address belong to one server only; this module picks the lowest free one. A deleted
server keeps its addresses until the worker has torn its machine down.
"""

import ipaddress
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from vpsorg.catalog.models import Location
from vpsorg.errors import CapacityExhausted
from vpsorg.servers.models import Server


def pool_hosts(pool: str, gateway: str) -> Iterator[str]:
    """Assignable addresses of a pool in order: every host address except the gateway."""
    net = ipaddress.ip_network(pool)
    gw = ipaddress.ip_address(gateway)
    for host in net.hosts():
        if host != gw:
            yield host.compressed


async def _lowest_free(
    session: AsyncSession, column: InstrumentedAttribute[str | None], pool: str, gateway: str
) -> str | None:
    net = ipaddress.ip_network(pool)
    rows = await session.scalars(select(column).where(column.is_not(None)))
    used = {addr.compressed for addr in map(ipaddress.ip_address, filter(None, rows)) if addr in net}
    return next((a for a in pool_hosts(pool, gateway) if a not in used), None)


async def allocate(session: AsyncSession, *, location: Location) -> tuple[str, str]:
    """Reserve an IPv4 and an IPv6 address in the location's pools."""
    v4 = await _lowest_free(session, Server.ipv4_address, location.ipv4_pool, location.ipv4_gateway)
    v6 = await _lowest_free(session, Server.ipv6_address, location.ipv6_pool, location.ipv6_gateway)
    if v4 is None or v6 is None:
        family = "IPv4" if v4 is None else "IPv6"
        raise CapacityExhausted(
            f"No free {family} address in location {location.code!r}; try another location",
            details={"location": location.code},
        )
    return v4, v6


def prefix_length(pool: str) -> int:
    return ipaddress.ip_network(pool).prefixlen
