"""Address allocation (vpsorg.ipam): the lowest free address of the location's own pool,
never the gateway; a released address is handed out again, lowest first; a full pool
answers 503 capacity_exhausted."""

import ipaddress
import threading
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from tests.conftest import Customer, Live
from vpsorg.catalog import service as catalog
from vpsorg.catalog.schemas import CatalogIn
from vpsorg.ipam import service as ipam
from vpsorg.servers import service as servers
from vpsorg.servers.models import Server
from vpsorg.servers.schemas import ServerCreate


def new_location(live: Live, **pools: str) -> str:
    code = f"alloc-{uuid.uuid4().hex[:8]}"
    location = {"code": code, "name": "Allocation", "country": "ZZ"} | pools
    live.db(lambda s: catalog.load_catalog(s, catalog=CatalogIn.model_validate({"locations": [location]})))
    return code


def addresses(live: Live, sid: int) -> tuple[str | None, str | None]:
    row = live.db(
        lambda s: s.execute(select(Server.ipv4_address, Server.ipv6_address).where(Server.id == sid))
    )
    return tuple(row.one())  # type: ignore[return-value]


def create(customer: Customer, code: str) -> tuple[int, tuple[str | None, str | None]]:
    sid = customer.create_server(name="a", plan_id=3, location=code)["id"]
    return sid, addresses(customer.live, sid)


def delete_and_wait_released(customer: Customer, sid: int) -> None:
    assert customer.http.delete(f"/api/v1/servers/{sid}/").status_code == 204
    deadline = time.monotonic() + 15
    while addresses(customer.live, sid) != (None, None):
        assert time.monotonic() < deadline, "the worker did not release the addresses"
        time.sleep(0.05)


def test_lowest_free_first_gateway_skipped_released_reused_then_exhausted(live: Live) -> None:
    # Six IPv4 hosts (.1 to .6) with the gateway in the middle: five assignable.
    code = new_location(
        live,
        ipv4_pool="198.19.7.0/29",
        ipv4_gateway="198.19.7.3",
        ipv6_pool="2001:db8:a11::/64",
        ipv6_gateway="2001:db8:a11::2",
    )
    customer = live.account()
    first = [create(customer, code) for _ in range(3)]
    assert [a for _, a in first] == [
        ("198.19.7.1", "2001:db8:a11::1"),
        ("198.19.7.2", "2001:db8:a11::3"),
        ("198.19.7.4", "2001:db8:a11::4"),
    ]
    # Released (once the machine is torn down), then handed out again, lowest first.
    delete_and_wait_released(customer, first[1][0])
    delete_and_wait_released(customer, first[0][0])
    again = [create(customer, code)[1] for _ in range(4)]
    assert again == [
        ("198.19.7.1", "2001:db8:a11::1"),
        ("198.19.7.2", "2001:db8:a11::3"),
        ("198.19.7.5", "2001:db8:a11::5"),
        ("198.19.7.6", "2001:db8:a11::6"),
    ]
    r = customer.http.post("/api/v1/servers/", json={"name": "x", "plan_id": 3, "os_id": 5, "location": code})
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "capacity_exhausted"
    assert "IPv4" in r.json()["error"]["message"]
    # Exhaustion took nothing: a release makes exactly that address available.
    delete_and_wait_released(customer, first[2][0])
    assert create(customer, code)[1] == ("198.19.7.4", "2001:db8:a11::4")


def test_an_exhausted_ipv6_pool_is_503(live: Live) -> None:
    code = new_location(
        live,
        ipv4_pool="198.19.8.0/24",
        ipv4_gateway="198.19.8.1",
        ipv6_pool="2001:db8:a12::/126",  # ::1 to ::3; ::1 is the gateway
        ipv6_gateway="2001:db8:a12::1",
    )
    customer = live.account()
    assert [create(customer, code)[1] for _ in range(2)] == [
        ("198.19.8.2", "2001:db8:a12::2"),
        ("198.19.8.3", "2001:db8:a12::3"),
    ]
    r = customer.http.post("/api/v1/servers/", json={"name": "x", "plan_id": 3, "os_id": 5, "location": code})
    assert r.status_code == 503 and r.json()["error"]["code"] == "capacity_exhausted"
    assert "IPv6" in r.json()["error"]["message"]


def test_a_changed_pool_is_allocated_from_its_start(live: Live) -> None:
    """Loading the catalog with a new pool recounts the location: allocation starts at the
    new pool's lowest host, and an address of the old pool is not reused once released."""
    old = {"ipv6_pool": "2001:db8:a13::/64", "ipv6_gateway": "2001:db8:a13::1"}
    code = new_location(live, ipv4_pool="198.19.9.0/24", ipv4_gateway="198.19.9.1", **old)
    customer = live.account()
    kept, (v4, _) = create(customer, code)
    assert v4 == "198.19.9.2"
    new = {"code": code, "name": "Allocation", "country": "ZZ"} | old
    new |= {"ipv4_pool": "198.19.10.0/24", "ipv4_gateway": "198.19.10.254"}
    live.db(lambda s: catalog.load_catalog(s, catalog=CatalogIn.model_validate({"locations": [new]})))
    delete_and_wait_released(customer, kept)
    assert [create(customer, code)[1][0] for _ in range(2)] == ["198.19.10.1", "198.19.10.2"]


def test_a_create_reads_no_other_servers_addresses(customer: Customer, live: Live) -> None:
    """What made a create O(n): reading every server's address. Now none is read (the
    allocator reads the location's counters and the lowest row of its free list)."""
    customer.create_server(name="earlier")
    statements: list[str] = []

    here = threading.get_ident()  # not the live server's own (worker) statements: its thread

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.get_ident() == here:
            statements.append(" ".join(statement.split()))

    async def create(session: Any) -> str | None:
        data = ServerCreate.model_validate({"name": "next", "plan_id": 3, "os_id": 5, "location": "us-west"})
        server, _ = await servers.create_server(session, account_id=customer.account_id, data=data)
        return server.ipv4_address

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        assert live.db(create)
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    reads = [s for s in statements if not s.startswith("INSERT") and "FROM servers" in s]
    # Reading back the new server's own row (by its id) is fine; any other read of addresses is not.
    scans = [s for s in reads if ("ipv4_address" in s or "ipv6_address" in s) and "servers.id = " not in s]
    assert reads and not scans, scans


@pytest.mark.parametrize(
    ("pool", "gateway"),
    [
        ("192.0.2.0/29", "192.0.2.1"),
        ("192.0.2.252/30", "192.0.2.253"),
        ("192.0.2.254/31", "192.0.2.255"),
        ("192.0.2.7/32", "192.0.2.7"),
        ("2001:db8::/125", "2001:db8::4"),
        ("2001:db8::/127", "2001:db8::"),
        ("2001:db8::1/128", "2001:db8::1"),
    ],
)
def test_host_numbering_is_the_order_of_hosts(pool: str, gateway: str) -> None:
    numbered = ipam.Pool.of(pool, gateway)
    hosts = [h.compressed for h in ipaddress.ip_network(pool).hosts()]
    assert [numbered.address(i) for i in range(numbered.size)] == hosts
    assert [numbered.host(h) for h in hosts] == list(range(len(hosts)))
    assert numbered.address(numbered.gateway) == ipaddress.ip_address(gateway).compressed


def test_a_64_is_counted_not_enumerated() -> None:
    pool: Any = ipam.Pool.of("2001:db8:1::/64", "2001:db8:1::1")
    assert pool.size == 2**64 - 1 and pool.gateway == 0
    assert pool.address(1) == "2001:db8:1::2" and pool.host("2001:db8:1::ffff:ffff:ffff:ffff") == 2**64 - 2
