"""Credit and address capacity are checked at create time, in the create transaction."""

import time

from sqlalchemy import select

from tests.conftest import Live
from vpsorg.servers.models import Server


def test_exhausted_pool_answers_503_and_creates_nothing(live: Live) -> None:
    first, second = live.account(), live.account()
    # The tiny-test location has exactly one assignable IPv4 address.
    taken = first.create_server(location="tiny-test")
    r = second.http.post(
        "/api/v1/servers/", json={"name": "x", "plan_id": 1, "os_id": 5, "location": "tiny-test"}
    )
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "capacity_exhausted"
    assert second.http.get("/api/v1/servers/").json()["count"] == 0

    server = first.wait_status(taken["id"], "active")
    assert server["ip_address"] == "192.0.2.254"
    # Deleting frees the address once the machine is torn down; then it can be had again.
    assert first.http.delete(f"/api/v1/servers/{taken['id']}/").status_code == 204
    deadline = time.monotonic() + 15
    while live.db(lambda s: s.scalar(select(Server.ipv4_address).where(Server.id == taken["id"]))):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    again = second.create_server(location="tiny-test")
    assert second.wait_status(again["id"], "active")["ip_address"] == "192.0.2.254"
    second.http.delete(f"/api/v1/servers/{again['id']}/")


def test_addresses_are_never_shared(live: Live) -> None:
    customer = live.account()
    ids = [customer.create_server(name=f"n{i}", location="us-east")["id"] for i in range(6)]
    addresses = [customer.wait_status(i, "active") for i in ids]
    v4 = [a["ip_address"] for a in addresses]
    v6 = [a["ipv6_address"] for a in addresses]
    assert len(set(v4)) == 6 and len(set(v6)) == 6
    assert "198.51.100.1" not in v4  # the gateway is never handed out


def test_insufficient_credit_is_402(live: Live) -> None:
    poor = live.account(credit="23.99")  # plan 1 costs 24.00 a month
    r = poor.http.post(
        "/api/v1/servers/", json={"name": "x", "plan_id": 1, "os_id": 5, "location": "us-west"}
    )
    assert r.status_code == 402
    assert r.json()["error"]["code"] == "insufficient_credit"
    assert poor.http.get("/api/v1/servers/").json()["count"] == 0
    assert poor.create_server(plan_id=3)["status"] == "provisioning"  # 6.00 a month fits
