"""Migrations between simulator hosts, through the admin API, with the shared server's worker
(real HTTP, real database; the simulator at time scale 0)."""

import time
from typing import Any

import httpx
from sqlalchemy import func, select

from tests.conftest import Customer, Live
from tests.hosts import fleet
from vpsorg.billing.models import LedgerEntry
from vpsorg.drivers.simulator import inject_fault


def admin_client(live: Live) -> httpx.Client:
    operator = live.account()
    return live.client(live.token(operator.account_id, "admin"))


def settle(customer: Customer, server_id: int, timeout: float = 30) -> list[dict[str, Any]]:
    """Wait for the server's actions to be over; the actions."""
    deadline = time.monotonic() + timeout
    while True:
        acts = customer.http.get(f"/api/v1/servers/{server_id}/actions/").json()["results"]
        if all(a["status"] in ("success", "error") for a in acts):
            return list(acts)
        assert time.monotonic() < deadline, f"actions still open: {acts}"
        time.sleep(0.05)


def two_hosts(live: Live, fits: int = 4) -> tuple[str, str, str]:
    """A location with host A (enabled) and host B (disabled until the servers are placed)."""
    loc = fleet.new_location(live.settings)
    a = fleet.add_host(live.settings, loc, fits=fits)
    b = fleet.add_host(live.settings, loc, fits=fits)
    fleet.set_state(live.settings, b, "disabled")
    return loc, a, b


def ledger_entries(live: Live, server_id: int) -> int:
    q = select(func.count()).select_from(LedgerEntry).where(LedgerEntry.server_id == server_id)
    return int(live.db(lambda s: s.scalar(q)))


def test_an_active_server_moves_and_keeps_its_id_addresses_and_billing(live: Live) -> None:
    admin = admin_client(live)
    customer = live.account()
    loc, a, b = two_hosts(live)
    server = customer.active_server(plan_id=fleet.STARTER, location=loc)
    sid = server["id"]
    fleet.set_state(live.settings, b, "enabled")
    assert fleet.server_host(live.settings, sid) == a
    assert fleet.machines(live.settings, sid) == [(a, "running")]
    before = fleet.server_row(live.settings, sid)
    assert fleet.usage(live.settings, a) == (1, 1024, 25, 1) and fleet.usage(live.settings, b) == (0, 0, 0, 0)
    entries = ledger_entries(live, sid)

    r = admin.post(f"/api/v1/admin/servers/{sid}/migrate/", json={"host": b})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["server"] == {"id": sid, "name": server["name"], "status": "migrating"}
    assert body["action"]["type"] == "migrate" and body["host"] == b
    acts = settle(customer, sid)
    assert [x["type"] for x in acts] == ["create", "migrate"]
    assert acts[-1]["status"] == "success" and acts[-1]["error"] is None
    assert a not in str(acts) and b not in str(acts)  # customers never see host names

    after = customer.wait_status(sid, "active")
    for field in ("id", "name", "hostname", "ip_address", "ipv6_address", "location", "plan", "created_at"):
        assert after[field] == server[field], field
    assert fleet.server_host(live.settings, sid) == b
    assert fleet.machines(live.settings, sid) == [(b, "running")]  # on the target only
    assert fleet.usage(live.settings, a) == (0, 0, 0, 0) and fleet.usage(live.settings, b) == (1, 1024, 25, 1)
    row = fleet.server_row(live.settings, sid)
    assert (row.price_hourly, row.price_monthly, row.provisioned_at, row.billed_until) == (
        before.price_hourly,
        before.price_monthly,
        before.provisioned_at,
        before.billed_until,
    )
    assert ledger_entries(live, sid) == entries  # moving is not charged
    detail = admin.get(f"/api/v1/admin/servers/{sid}/").json()
    assert detail["host"] == b and detail["actions"][0]["type"] == "migrate"


def test_a_stopped_server_moves_where_placement_says_and_stays_stopped(live: Live) -> None:
    admin = admin_client(live)
    customer = live.account()
    loc, a, b = two_hosts(live)
    sid = customer.active_server(plan_id=fleet.STARTER, location=loc)["id"]
    fleet.set_state(live.settings, b, "enabled")
    assert customer.http.post(f"/api/v1/servers/{sid}/stop/").status_code == 200
    customer.wait_status(sid, "stopped")
    settle(customer, sid)

    r = admin.post(f"/api/v1/admin/servers/{sid}/migrate/")  # no body: placement chooses
    assert r.status_code == 200, r.text
    assert r.json()["host"] == b and r.json()["server"]["status"] == "migrating"
    assert settle(customer, sid)[-1]["status"] == "success"
    assert customer.wait_status(sid, "stopped")["status"] == "stopped"
    assert fleet.machines(live.settings, sid) == [(b, "shutoff")]
    assert fleet.usage(live.settings, a)[3] == 0 and fleet.usage(live.settings, b)[3] == 1
    # and it starts on its new host
    assert customer.http.post(f"/api/v1/servers/{sid}/start/").status_code == 200
    customer.wait_status(sid, "active")
    assert fleet.machines(live.settings, sid) == [(b, "running")]


def test_no_room_is_503_and_changes_nothing(live: Live) -> None:
    admin = admin_client(live)
    customer = live.account()
    loc, a, b = two_hosts(live, fits=1)
    sid = customer.active_server(plan_id=fleet.STARTER, location=loc)["id"]
    fleet.set_state(live.settings, b, "enabled")
    customer.active_server(plan_id=fleet.STARTER, location=loc, name="fills-b")  # b is full now
    for body in ({"host": b}, None):
        r = admin.post(f"/api/v1/admin/servers/{sid}/migrate/", json=body)
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "capacity_exhausted"
    assert customer.http.get(f"/api/v1/servers/{sid}/").json()["status"] == "active"
    assert [x["type"] for x in settle(customer, sid)] == ["create"]  # nothing queued
    assert fleet.server_host(live.settings, sid) == a
    assert fleet.usage(live.settings, a) == (1, 1024, 25, 1) and fleet.usage(live.settings, b) == (
        1,
        1024,
        25,
        1,
    )


def test_targets_that_cannot_take_it_are_refused(live: Live) -> None:
    admin = admin_client(live)
    customer = live.account()
    loc, a, b = two_hosts(live)
    elsewhere = fleet.add_host(live.settings, fleet.new_location(live.settings))
    sid = customer.active_server(plan_id=fleet.STARTER, location=loc)["id"]
    url = f"/api/v1/admin/servers/{sid}/migrate/"
    for target, says in (
        (b, "disabled"),
        (elsewhere, "another location"),
        (a, "already"),
        ("nope", "no host"),
    ):
        r = admin.post(url, json={"host": target})
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["code"] == "validation_error" and says in error["message"], error
        assert error["details"]["fields"][0]["name"] == "host"
    assert admin.post(url, json={"host": ""}).status_code == 400
    assert admin.post(url, json={"hots": b}).status_code == 400
    assert admin.post("/api/v1/admin/servers/2147483647/migrate/").status_code == 404
    assert customer.http.post(url).status_code == 403  # a customer's token
    fleet.set_state(live.settings, b, "enabled")
    assert customer.http.post(f"/api/v1/servers/{sid}/stop/").status_code == 200
    r = admin.post(url, json={"host": b})  # stopping: not now
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert r.json()["error"]["code"] == "invalid_state"
    settle(customer, sid)
    assert customer.http.get(f"/api/v1/servers/{sid}/").json()["status"] == "stopped"


def test_a_failed_copy_rolls_back_and_the_server_runs_where_it_was(live: Live) -> None:
    admin = admin_client(live)
    customer = live.account()
    loc, a, b = two_hosts(live)
    sid = customer.active_server(plan_id=fleet.STARTER, location=loc)["id"]
    fleet.set_state(live.settings, b, "enabled")
    live.db(lambda s: inject_fault(s, op="receive", server_id=sid, message="disk copy broke"))
    r = admin.post(f"/api/v1/admin/servers/{sid}/migrate/", json={"host": b})
    assert r.status_code == 200, r.text
    last = settle(customer, sid)[-1]
    assert last["type"] == "migrate" and last["status"] == "error"
    assert "disk copy broke" in last["error"] and a not in last["error"] and b not in last["error"]
    server = customer.wait_status(sid, "active")
    assert server["error"] is None
    assert fleet.server_host(live.settings, sid) == a
    assert fleet.machines(live.settings, sid) == [(a, "running")]  # started again where it was
    assert fleet.usage(live.settings, a)[3] == 1 and fleet.usage(live.settings, b) == (0, 0, 0, 0)


def test_a_suspended_server_moves_and_stays_suspended(live: Live) -> None:
    admin = admin_client(live)
    customer = live.account()
    loc, a, b = two_hosts(live)
    sid = customer.active_server(plan_id=fleet.STARTER, location=loc)["id"]
    fleet.set_state(live.settings, b, "enabled")
    assert admin.post(f"/api/v1/admin/servers/{sid}/suspend/").status_code == 200
    settle(customer, sid)
    r = admin.post(f"/api/v1/admin/servers/{sid}/migrate/", json={"host": b})
    assert r.status_code == 200, r.text
    assert settle(customer, sid)[-1]["status"] == "success"
    assert customer.wait_status(sid, "suspended")["status"] == "suspended"
    assert fleet.machines(live.settings, sid) == [(b, "shutoff")]
    assert admin.post(f"/api/v1/admin/servers/{sid}/unsuspend/").status_code == 200
    customer.wait_status(sid, "active")
    assert fleet.machines(live.settings, sid) == [(b, "running")]
