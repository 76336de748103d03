"""Helpers for the fleet's tests: a location of their own, with simulator hosts of their own."""

import itertools
import os
import uuid
from typing import Any

from sqlalchemy import select

from tests.conftest import run_db
from vpsorg.catalog import service as catalog
from vpsorg.catalog.schemas import CatalogIn
from vpsorg.config import Settings
from vpsorg.drivers.simtables import SimMachine
from vpsorg.hosts import service as hosts
from vpsorg.hosts.models import Host
from vpsorg.servers.models import Server

_n = itertools.count(1)
# Starter VPS (plan 3): 1 vCPU, 1024 MiB, 25 GB. A host of ROOM_FOR(n) fits n of them.
STARTER = 3


def new_location(settings: Settings) -> str:
    """A location with no host, and address pools of its own (10.<k>.0.0/24)."""
    k = (os.getpid() * 7 + next(_n) * 13) % 250 + 1
    code = f"fl-{uuid.uuid4().hex[:8]}"
    loc = {
        "code": code,
        "name": "Fleet test",
        "country": "ZZ",
        "ipv4_pool": f"10.{k}.{next(_n) % 250}.0/24",
        "ipv4_gateway": "",
        "ipv6_pool": f"2001:db8:{k:x}{next(_n) % 250:02x}::/64",
        "ipv6_gateway": "",
    }
    v4 = loc["ipv4_pool"].rsplit(".", 1)[0]
    loc["ipv4_gateway"] = f"{v4}.1"
    loc["ipv6_gateway"] = loc["ipv6_pool"].replace("::/64", "::1")
    data = CatalogIn.model_validate({"locations": [loc]})
    run_db(settings, lambda s: catalog.load_catalog(s, catalog=data, default_hosts=False))
    return code


def add_host(settings: Settings, location: str, *, fits: int = 4, name: str | None = None) -> str:
    """A simulator host of `location` with room for `fits` Starter servers; its name."""
    name = name or f"h-{uuid.uuid4().hex[:8]}"
    new = hosts.NewHost(
        name=name,
        location=location,
        driver="simulator",
        vcpus=64,
        memory_mib=1024 * fits,
        disk_gb=1000,
    )
    run_db(settings, lambda s: hosts.add_host(s, new))
    return name


def host(settings: Settings, name: str) -> Host:
    return run_db(settings, lambda s: s.scalar(select(Host).where(Host.name == name)))


def set_state(settings: Settings, name: str, state: str) -> None:
    async def run(s: Any) -> None:
        h = await hosts.get_host(s, name=name)
        await hosts.set_state(s, host_id=h.id, state=hosts.HostState(state))

    run_db(settings, run)


def server_host(settings: Settings, server_id: int) -> str | None:
    """The name of the host the server is on."""
    q = select(Host.name).join(Server, Server.host_id == Host.id).where(Server.id == server_id)
    return run_db(settings, lambda s: s.scalar(q))


def machines(settings: Settings, server_id: int) -> list[tuple[str | None, str]]:
    """The simulator's machines of the server: (host, power state) each."""
    q = select(SimMachine.host, SimMachine.power_state).where(SimMachine.server_id == server_id)

    async def run(s: Any) -> list[tuple[str | None, str]]:
        return [(h, p) for h, p in (await s.execute(q)).all()]

    return list(run_db(settings, run))


def server_row(settings: Settings, server_id: int) -> Server:
    return run_db(settings, lambda s: s.get(Server, server_id))


def usage(settings: Settings, name: str) -> tuple[int, int, int, int]:
    h = host(settings, name)
    return (h.used_vcpus, h.used_memory_mib, h.used_disk_gb, h.servers)
