"""Snapshots over HTTP on the simulator, on the database under test (SQLite, or PostgreSQL
with VPSORG_TEST_DATABASE_URL): taken through an action by the worker, listed, filtered,
deleted (the image removed by the purge), another account's a 404 everywhere."""

import asyncio
import time
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update

from tests.conftest import Customer, Live
from vpsorg.db import make_engine, make_sessionmaker
from vpsorg.drivers.simulator import SimMachine, SimSnapshot, SimulatorDriver, inject_fault
from vpsorg.servers.models import Server
from vpsorg.snapshots import jobs
from vpsorg.snapshots.models import Snapshot


def take(customer: Customer, server_id: int, name: str = "before-upgrade") -> dict[str, Any]:
    r = customer.http.post(f"/api/v1/servers/{server_id}/snapshots/", json={"name": name})
    assert r.status_code == 202, r.text
    return dict(r.json())


def wait_snapshot(customer: Customer, snapshot_id: int, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = customer.http.get(f"/api/v1/snapshots/{snapshot_id}/")
        assert r.status_code == 200, r.text
        if r.json()["status"] != "creating":
            return dict(r.json())
        assert time.monotonic() < deadline, f"snapshot {snapshot_id} still creating"
        time.sleep(0.05)


def test_a_snapshot_of_a_running_server_becomes_available_with_its_size(customer: Customer) -> None:
    server = customer.active_server()
    taken = take(customer, server["id"])
    assert taken["snapshot"]["status"] == "creating" and taken["snapshot"]["kind"] == "snapshot"
    assert taken["snapshot"]["server_id"] == server["id"] and taken["snapshot"]["size_gb"] is None
    assert taken["action"]["type"] == "snapshot" and taken["action"]["status"] == "queued"
    assert customer.wait_action(taken["action"]["id"])["status"] == "success"
    done = wait_snapshot(customer, taken["snapshot"]["id"])
    assert done["status"] == "available" and done["error"] is None
    assert done["size_gb"] >= 1
    assert Decimal(done["price_monthly"]) == (done["size_gb"] * Decimal("0.06")).quantize(Decimal("0.01"))
    # the server was left as it was, and its action log shows the snapshot
    assert customer.http.get(f"/api/v1/servers/{server['id']}/").json()["status"] == "active"
    actions = customer.http.get(f"/api/v1/servers/{server['id']}/actions/").json()["results"]
    assert [a["type"] for a in actions] == ["create", "snapshot"]


def test_a_stopped_server_can_be_snapshotted_and_stays_stopped(customer: Customer) -> None:
    server = customer.active_server()
    assert customer.http.post(f"/api/v1/servers/{server['id']}/stop/").status_code == 200
    customer.wait_status(server["id"], "stopped")
    done = wait_snapshot(customer, take(customer, server["id"])["snapshot"]["id"])
    assert done["status"] == "available"
    assert customer.http.get(f"/api/v1/servers/{server['id']}/").json()["status"] == "stopped"


def test_only_an_active_or_stopped_server_can_be_snapshotted(customer: Customer) -> None:
    server = customer.active_server()
    customer.live.db(
        lambda s: s.execute(update(Server).where(Server.id == server["id"]).values(status="error"))
    )
    r = customer.http.post(f"/api/v1/servers/{server['id']}/snapshots/", json={"name": "x"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_state" and "error" in r.json()["error"]["message"]
    assert customer.http.get("/api/v1/snapshots/").json()["count"] == 0


def test_a_bad_name_is_refused(customer: Customer) -> None:
    server = customer.active_server()
    for name in ("", "-x", "a" * 64, "has space"):
        r = customer.http.post(f"/api/v1/servers/{server['id']}/snapshots/", json={"name": name})
        assert r.status_code == 400, (name, r.text)
        assert r.json()["error"]["code"] == "validation_error"


def test_the_drivers_error_fails_the_snapshot_not_the_server(customer: Customer) -> None:
    server = customer.active_server()
    customer.live.db(
        lambda s: inject_fault(s, op="snapshot", server_id=server["id"], times=99, message="disk on fire")
    )
    done = wait_snapshot(customer, take(customer, server["id"])["snapshot"]["id"])
    assert done["status"] == "error" and "disk on fire" in done["error"]
    assert done["size_gb"] is None and done["price_monthly"] is None
    got = customer.http.get(f"/api/v1/servers/{server['id']}/").json()
    assert got["status"] == "active"


def test_list_filters_and_another_accounts_snapshot_is_404_everywhere(customer: Customer) -> None:
    one, two = customer.active_server(), customer.active_server(name="web-2")
    a = wait_snapshot(customer, take(customer, one["id"], "a")["snapshot"]["id"])
    b = wait_snapshot(customer, take(customer, two["id"], "b")["snapshot"]["id"])
    listed = customer.http.get("/api/v1/snapshots/").json()
    assert listed["count"] == 2 and [s["id"] for s in listed["results"]] == [a["id"], b["id"]]
    by_server = customer.http.get("/api/v1/snapshots/", params={"server_id": two["id"]}).json()
    assert [s["name"] for s in by_server["results"]] == ["b"]
    assert customer.http.get("/api/v1/snapshots/", params={"kind": "backup"}).json()["count"] == 0
    assert customer.http.get("/api/v1/snapshots/", params={"kind": "snapshot"}).json()["count"] == 2
    assert customer.http.get("/api/v1/snapshots/", params={"kind": "nope"}).status_code == 400

    other = customer.live.account()
    assert other.http.get(f"/api/v1/snapshots/{a['id']}/").status_code == 404
    assert other.http.delete(f"/api/v1/snapshots/{a['id']}/").status_code == 404
    r = other.http.post(f"/api/v1/servers/{one['id']}/snapshots/", json={"name": "mine"})
    assert r.status_code == 404
    assert other.http.get("/api/v1/snapshots/").json()["count"] == 0
    assert other.http.get("/api/v1/snapshots/", params={"server_id": one["id"]}).json()["count"] == 0
    assert customer.http.get(f"/api/v1/snapshots/{a['id']}/").status_code == 200  # still there


def test_a_snapshot_outlives_its_server(customer: Customer) -> None:
    server = customer.active_server()
    snap = wait_snapshot(customer, take(customer, server["id"])["snapshot"]["id"])
    assert customer.http.delete(f"/api/v1/servers/{server['id']}/").status_code == 204
    deadline = time.monotonic() + 15
    while customer.live.db(lambda s: s.get(SimMachine, server["id"])) is not None:  # torn down
        assert time.monotonic() < deadline, "the machine was not destroyed"
        time.sleep(0.05)
    got = customer.http.get(f"/api/v1/snapshots/{snap['id']}/")
    assert got.status_code == 200 and got.json()["status"] == "available"
    assert got.json()["server_id"] == server["id"]
    image = customer.live.db(lambda s: s.get(SimSnapshot, snap["id"]))
    assert image is not None  # the machine is gone; its snapshot's image is not


def test_delete_hides_it_and_the_purge_removes_the_image(customer: Customer) -> None:
    server = customer.active_server()
    snap = wait_snapshot(customer, take(customer, server["id"])["snapshot"]["id"])
    assert customer.live.db(lambda s: s.get(SimSnapshot, snap["id"])) is not None
    assert customer.http.delete(f"/api/v1/snapshots/{snap['id']}/").status_code == 204
    assert customer.http.get(f"/api/v1/snapshots/{snap['id']}/").status_code == 404
    assert customer.http.delete(f"/api/v1/snapshots/{snap['id']}/").status_code == 404
    assert customer.http.get("/api/v1/snapshots/").json()["count"] == 0

    async def purge() -> int:
        engine = make_engine(customer.live.settings)
        try:
            sessions = make_sessionmaker(engine)
            driver = SimulatorDriver(sessions, time_scale=0)

            async def driver_for(_host: int | None) -> SimulatorDriver:
                return driver

            first = await jobs.purge(sessions, driver_for)
            again = await jobs.purge(sessions, driver_for)  # nothing left to remove
            return first * 100 + again
        finally:
            await engine.dispose()

    assert asyncio.run(purge()) >= 100  # ours (and perhaps other tests' deleted ones) once
    assert customer.live.db(lambda s: s.get(SimSnapshot, snap["id"])) is None
    row = customer.live.db(lambda s: s.scalar(select(Snapshot).where(Snapshot.id == snap["id"])))
    assert row.deleted_at is not None and row.removed_at is not None


def test_turning_backups_on_needs_credit_for_the_surcharge(live: Live) -> None:
    # plan 3: 6.00 a month; its backups 1.20 more
    poor = live.account(credit="7.00")
    server = poor.create_server(plan_id=3)
    for method in (poor.http.patch, poor.http.put):
        body: dict[str, Any] = {"backups_enabled": True}
        if method == poor.http.put:
            body |= {"name": server["name"], "hostname": "web-1.example.com"}
        r = method(f"/api/v1/servers/{server['id']}/", json=body)
        assert r.status_code == 402, r.text
        assert r.json()["error"]["details"]["required"] == "1.20"
        assert r.json()["error"]["details"]["available"] == "1.00"
    assert poor.http.get(f"/api/v1/servers/{server['id']}/").json()["backups_enabled"] is False
    # turning them off, or another change, needs nothing
    r = poor.http.patch(f"/api/v1/servers/{server['id']}/", json={"backups_enabled": False, "name": "b"})
    assert r.status_code == 200, r.text

    enough = live.account(credit="7.20")
    server = enough.create_server(plan_id=3)
    r = enough.http.patch(f"/api/v1/servers/{server['id']}/", json={"backups_enabled": True})
    assert r.status_code == 200, r.text
    assert r.json()["backups_enabled"] is True
    # on already: asking again is no new commitment
    r = enough.http.patch(f"/api/v1/servers/{server['id']}/", json={"backups_enabled": True})
    assert r.status_code == 200, r.text
