"""Resize over real HTTP, on the simulator: a stopped server takes another plan."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from tests.conftest import Customer, Live
from tests.hosts import fleet
from vpsorg.billing import service as billing
from vpsorg.billing.models import LedgerEntry
from vpsorg.db import utcnow
from vpsorg.drivers.simtables import SimMachine
from vpsorg.drivers.simulator import inject_fault
from vpsorg.servers.models import Server

STANDARD, PERFORMANCE, STARTER, BASIC = 1, 2, 3, 4  # the default catalog's plans


def stopped_server(customer: Customer, **fields: Any) -> dict[str, Any]:
    sid = customer.active_server(**fields)["id"]
    r = customer.http.post(f"/api/v1/servers/{sid}/stop/")
    assert r.status_code == 200, r.text
    return customer.wait_status(sid, "stopped")


def resize(customer: Customer, server_id: int, plan_id: Any) -> Any:
    return customer.http.post(f"/api/v1/servers/{server_id}/resize/", json={"plan_id": plan_id})


def machine_sizes(live: Live, server_id: int) -> tuple[int, int, int]:
    q = select(SimMachine.vcpus, SimMachine.memory_mib, SimMachine.storage_gb).where(
        SimMachine.server_id == server_id
    )

    async def run(s: Any) -> tuple[int, int, int]:
        return tuple((await s.execute(q)).one())  # type: ignore[return-value]

    return live.db(run)


def row(live: Live, server_id: int) -> Server:
    return live.db(lambda s: s.get(Server, server_id))


def charges(live: Live, server_id: int) -> list[Decimal]:
    q = select(LedgerEntry.amount).where(LedgerEntry.server_id == server_id).order_by(LedgerEntry.id)
    return list(live.db(lambda s: s.scalars(q)))


def test_a_stopped_server_takes_a_bigger_plan(live: Live, customer: Customer) -> None:
    sid = stopped_server(customer, plan_id=STANDARD)["id"]
    r = resize(customer, sid, PERFORMANCE)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success" and body["message"] == "Server is being resized"
    assert body["server"] == {"id": sid, "name": "web-1", "status": "resizing"}
    assert body["action"]["type"] == "resize"
    assert customer.wait_action(body["action"]["id"])["status"] == "success"
    server = customer.wait_status(sid, "stopped")
    assert server["plan"] == {
        "id": PERFORMANCE,
        "name": "Performance VPS",
        "vcpus": 4,
        "memory": 8192,
        "storage": 160,
        "bandwidth": 4096,
    }
    assert server["error"] is None
    assert machine_sizes(live, sid) == (4, 8192, 160)
    after = row(live, sid)
    assert (after.price_hourly, after.price_monthly) == (Decimal("0.0714"), Decimal("48.00"))
    # it starts on its new plan
    assert customer.http.post(f"/api/v1/servers/{sid}/start/").status_code == 200
    customer.wait_status(sid, "active")
    types = [a["type"] for a in customer.http.get(f"/api/v1/servers/{sid}/actions/").json()["results"]]
    assert types == ["create", "stop", "resize", "start"]


def test_only_a_stopped_server_is_resized(customer: Customer) -> None:
    sid = customer.active_server()["id"]
    r = resize(customer, sid, PERFORMANCE)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "invalid_state"
    assert "active" in error["message"]
    assert error["details"] == {"status": "active", "action": "resize"}
    assert customer.http.get(f"/api/v1/servers/{sid}/").json()["plan"]["id"] == STANDARD


def test_the_disk_only_grows_and_the_plan_must_be_another_known_one(customer: Customer) -> None:
    sid = stopped_server(customer, plan_id=STANDARD)["id"]  # 80 GB
    for plan_id, says in (
        (BASIC, "a disk only grows"),  # 50 GB
        (STANDARD, "already"),
        (999, "no plan with id 999"),  # as a create answers an unknown plan
    ):
        r = resize(customer, sid, plan_id)
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["code"] == "validation_error"
        assert error["details"]["fields"][0]["name"] == "plan_id"
        assert says in error["message"]
    for bad in ({}, {"plan_id": "two"}, {"plan_id": 0}, {"plan_id": 2, "extra": 1}):
        r = customer.http.post(f"/api/v1/servers/{sid}/resize/", json=bad)
        assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error", (bad, r.text)
    assert resize(customer, 10**9, PERFORMANCE).status_code == 404
    server = customer.http.get(f"/api/v1/servers/{sid}/").json()
    assert server["status"] == "stopped" and server["plan"]["id"] == STANDARD
    types = [a["type"] for a in customer.http.get(f"/api/v1/servers/{sid}/actions/").json()["results"]]
    assert "resize" not in types


def test_a_month_of_the_difference_must_be_available(live: Live) -> None:
    # Starter costs 6.00 a month, Standard 24.00: the difference is 18.00; 23.99 leaves 17.99.
    poor = live.account(credit="23.99")
    sid = stopped_server(poor, plan_id=STARTER)["id"]
    r = resize(poor, sid, STANDARD)
    assert r.status_code == 402, r.text
    error = r.json()["error"]
    assert error["code"] == "insufficient_credit"
    assert error["details"]["required"] == "18.00"
    assert Decimal(error["details"]["available"]) < Decimal("18.00")
    assert poor.http.get(f"/api/v1/servers/{sid}/").json()["plan"]["id"] == STARTER
    # Basic costs 12.00: 6.00 more fits
    r = resize(poor, sid, BASIC)
    assert r.status_code == 200, r.text
    assert poor.wait_action(r.json()["action"]["id"])["status"] == "success"


def test_no_room_on_the_host_is_503_and_never_a_migration(live: Live, customer: Customer) -> None:
    loc = fleet.new_location(live.settings)
    full = fleet.add_host(live.settings, loc, fits=1)  # 1024 MiB: one Starter server
    other = fleet.add_host(live.settings, loc, fits=8)
    fleet.set_state(live.settings, other, "disabled")
    sid = stopped_server(customer, plan_id=STARTER, location=loc)["id"]
    fleet.set_state(live.settings, other, "enabled")  # room elsewhere: still no migration
    assert fleet.usage(live.settings, full) == (1, 1024, 25, 1)
    r = resize(customer, sid, BASIC)  # 2048 MiB
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "capacity_exhausted"
    assert full not in r.text and other not in r.text  # customers never see host names
    assert fleet.usage(live.settings, full) == (1, 1024, 25, 1)
    assert fleet.server_host(live.settings, sid) == full
    server = customer.http.get(f"/api/v1/servers/{sid}/").json()
    assert server["status"] == "stopped" and server["plan"]["id"] == STARTER


def test_the_host_counts_the_new_plan_and_gets_it_back_on_failure(live: Live, customer: Customer) -> None:
    loc = fleet.new_location(live.settings)
    host = fleet.add_host(live.settings, loc, fits=2)
    sid = stopped_server(customer, plan_id=STARTER, location=loc)["id"]
    live.db(
        lambda s: inject_fault(s, op="resize", mode="error", server_id=sid, message="no room on the pool")
    )
    r = resize(customer, sid, BASIC)
    assert r.status_code == 200, r.text
    action = customer.wait_action(r.json()["action"]["id"])
    assert action["status"] == "error" and "no room on the pool" in action["error"]
    server = customer.wait_status(sid, "stopped")  # stopped, on its old plan, with the error
    assert server["plan"]["id"] == STARTER and "no room on the pool" in server["error"]
    assert fleet.usage(live.settings, host) == (1, 1024, 25, 1)
    assert machine_sizes(live, sid) == (1, 1024, 25)
    assert row(live, sid).price_monthly == Decimal("6.00")

    r = resize(customer, sid, BASIC)  # asked again: the fault is used up
    assert customer.wait_action(r.json()["action"]["id"])["status"] == "success"
    server = customer.wait_status(sid, "stopped")
    assert server["plan"]["id"] == BASIC and server["error"] is None
    assert fleet.usage(live.settings, host) == (1, 2048, 50, 1)
    assert machine_sizes(live, sid) == (1, 2048, 50)
    # a deleted server gives its host the new plan's room back
    assert customer.http.delete(f"/api/v1/servers/{sid}/").status_code == 204
    fleet_deadline = utcnow() + timedelta(seconds=15)
    while fleet.usage(live.settings, host) != (0, 0, 0, 0):
        assert utcnow() < fleet_deadline, fleet.usage(live.settings, host)


def test_the_hour_of_the_resize_is_charged_at_the_old_price(live: Live, customer: Customer) -> None:
    """Standard (0.0360 an hour) to Performance (0.0714): the hour that started at the
    provisioning, the resize's hour, is charged at 0.04; the later ones at the new price."""
    sid = stopped_server(customer, plan_id=STANDARD)["id"]
    r = resize(customer, sid, PERFORMANCE)
    assert customer.wait_action(r.json()["action"]["id"])["status"] == "success"
    customer.wait_status(sid, "stopped")
    assert charges(live, sid) == [Decimal("-0.04")]  # its first hour, at the old price
    after = row(live, sid)
    assert after.month_carried == Decimal("0.04") and after.month_hours == 0
    assert after.billed_until is not None and after.billed_until > after.updated_at - timedelta(seconds=1)

    later = after.billed_until + timedelta(hours=1, minutes=30)  # two more hours have started
    live.db(lambda s: billing.charge_account(s, account_id=customer.account_id, now=later))
    assert charges(live, sid) == [Decimal("-0.04"), Decimal("-0.14")]  # round(2 * 0.0714)
    month = live.db(lambda s: billing.month_so_far(s, account_id=customer.account_id, now=later))
    (mine,) = [m for m in month if m.server_id == sid]
    assert mine.charged == Decimal("0.18") and mine.hours == 2


def test_a_resize_takes_the_room_another_one_then_lacks(live: Live, customer: Customer) -> None:
    loc = fleet.new_location(live.settings)
    host = fleet.add_host(live.settings, loc, fits=3)  # 3072 MiB: three Starter servers
    a = stopped_server(customer, plan_id=STARTER, location=loc, name="a")["id"]
    b = stopped_server(customer, plan_id=STARTER, location=loc, name="b")["id"]
    assert fleet.usage(live.settings, host) == (2, 2048, 50, 2)
    r = resize(customer, a, BASIC)  # 1024 MiB more: the host's last
    assert r.status_code == 200, r.text
    assert fleet.usage(live.settings, host) == (2, 3072, 75, 2)  # at once, whatever the worker does
    assert resize(customer, b, BASIC).status_code == 503
    assert customer.wait_action(r.json()["action"]["id"])["status"] == "success"
    assert fleet.usage(live.settings, host) == (2, 3072, 75, 2)
