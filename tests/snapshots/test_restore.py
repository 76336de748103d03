"""Restoring a snapshot over real HTTP on the simulator: onto its server (a rebuild with
snapshot_id) and as a new server (a create with snapshot_id), the server taking the
snapshot's OS and its disk a copy of the snapshot's image; every refusal. On the database
under test (SQLite, or PostgreSQL with VPSORG_TEST_DATABASE_URL)."""

from pathlib import Path
from typing import Any

from sqlalchemy import delete, update

from tests.conftest import Customer, Live, prepare_database, run_db, serve_in_thread, test_settings
from tests.hosts.capacity import PLAN_ID, account_token, add_hosts, host_of
from tests.servers.test_rebuild import DEBIAN_12, UBUNTU, machine, rebuild
from tests.servers.test_validation import assert_field_error
from tests.snapshots.test_api import take, wait_snapshot
from vpsorg.drivers.simtables import SimSnapshot
from vpsorg.servers.models import Server
from vpsorg.snapshots.models import Snapshot

STARTER = 3  # the plan with the smallest disk: 25 GB


def snapshot_of(customer: Customer, server_id: int, name: str = "before") -> dict[str, Any]:
    done = wait_snapshot(customer, take(customer, server_id, name)["snapshot"]["id"])
    assert done["status"] == "available", done
    return done


def set_snapshot(live: Live, snapshot_id: int, **values: Any) -> None:
    live.db(lambda s: s.execute(update(Snapshot).where(Snapshot.id == snapshot_id).values(**values)))


def from_snapshot(customer: Customer, snapshot_id: int, **fields: Any) -> Any:
    body = {"name": "copy-1", "plan_id": 1, "snapshot_id": snapshot_id, "location": "us-west"} | fields
    return customer.http.post("/api/v1/servers/", json=body)


def test_restore_puts_the_snapshots_disk_and_os_back(customer: Customer) -> None:
    before = customer.active_server(os_id=UBUNTU)
    sid = before["id"]
    snap = snapshot_of(customer, sid)
    snap_row = customer.live.db(lambda s: s.get(Snapshot, snap["id"]))
    assert snap_row.os_id == UBUNTU  # the OS it was taken of, kept with it
    assert rebuild(customer, sid, os_id=DEBIAN_12).status_code == 200
    assert customer.wait_status(sid, "active")["os"]["id"] == DEBIAN_12
    assert machine(customer.live, sid).os_image != f"snapshot:{snap['id']}"

    r = rebuild(customer, sid, snapshot_id=snap["id"])
    assert r.status_code == 200, r.text
    assert r.json()["server"]["status"] == "rebuilding"
    action = customer.wait_action(r.json()["action"]["id"])
    assert (action["type"], action["status"]) == ("rebuild", "success")
    after = customer.wait_status(sid, "active")
    assert after["os"]["id"] == UBUNTU  # the snapshot's OS, not the one it had
    for kept in ("id", "name", "hostname", "ip_address", "ipv6_address", "plan", "location"):
        assert after[kept] == before[kept], kept
    m = machine(customer.live, sid)
    assert (m.os_image, m.disk_generation, m.power_state) == (f"snapshot:{snap['id']}", 2, "running")
    server = customer.live.db(lambda s: s.get(Server, sid))
    assert (server.source_snapshot_id, server.rebuilds) == (snap["id"], 2)
    # the snapshot stays, and a rebuild from an OS afterwards installs the OS image again
    assert customer.http.get(f"/api/v1/snapshots/{snap['id']}/").json()["status"] == "available"
    assert rebuild(customer, sid, os_id=DEBIAN_12).status_code == 200
    customer.wait_status(sid, "active")
    assert machine(customer.live, sid).os_image != f"snapshot:{snap['id']}"
    assert customer.live.db(lambda s: s.get(Server, sid)).source_snapshot_id is None


def test_a_backup_is_restored_the_same_way(customer: Customer) -> None:
    sid = customer.active_server()["id"]
    backup = snapshot_of(customer, sid, "daily")
    set_snapshot(customer.live, backup["id"], kind="backup")
    assert customer.http.get(f"/api/v1/snapshots/{backup['id']}/").json()["kind"] == "backup"
    r = rebuild(customer, sid, snapshot_id=backup["id"])
    assert r.status_code == 200, r.text
    customer.wait_status(sid, "active")
    assert machine(customer.live, sid).os_image == f"snapshot:{backup['id']}"


def test_rebuild_takes_exactly_one_of_os_id_and_snapshot_id(customer: Customer) -> None:
    sid = customer.active_server()["id"]
    snap = snapshot_of(customer, sid)
    both = assert_field_error(rebuild(customer, sid, os_id=DEBIAN_12, snapshot_id=snap["id"]), "os_id")
    assert "exactly one of os_id" in both["message"]
    for body in ({}, {"ssh_key_ids": []}, {"os_id": None, "snapshot_id": None}):
        neither = assert_field_error(rebuild(customer, sid, **body), "os_id")
        assert "or snapshot_id" in neither["message"] or "valid integer" in neither["message"], body
    assert customer.http.get(f"/api/v1/servers/{sid}/").json()["status"] == "active"
    assert machine(customer.live, sid).disk_generation == 0


def test_restore_refuses_what_is_not_the_accounts_available_and_fitting(customer: Customer) -> None:
    sid = customer.active_server(plan_id=STARTER)["id"]
    snap = snapshot_of(customer, sid)
    other = customer.live.account()
    theirs = snapshot_of(other, other.active_server()["id"], "theirs")
    for missing in (theirs["id"], 999_999):
        r = rebuild(customer, sid, snapshot_id=missing)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
    for status in ("creating", "error"):
        set_snapshot(customer.live, snap["id"], status=status)
        error = assert_field_error(rebuild(customer, sid, snapshot_id=snap["id"]), "snapshot_id")
        assert f"is {status}" in error["message"]
    set_snapshot(customer.live, snap["id"], status="available", size_gb=26)  # the plan's disk is 25 GB
    error = assert_field_error(rebuild(customer, sid, snapshot_id=snap["id"]), "snapshot_id")
    assert "26 GB" in error["message"] and "25 GB" in error["message"]
    set_snapshot(customer.live, snap["id"], size_gb=25)  # a snapshot as large as the disk fits
    assert rebuild(customer, sid, snapshot_id=snap["id"]).status_code == 200
    customer.wait_status(sid, "active")
    assert customer.http.delete(f"/api/v1/snapshots/{snap['id']}/").status_code == 204
    r = rebuild(customer, sid, snapshot_id=snap["id"])  # deleted: gone, as everywhere
    assert r.status_code == 404, r.text
    assert customer.live.db(lambda s: s.get(Server, sid)).rebuilds == 1  # only the good one ran


def test_a_restore_whose_image_is_gone_leaves_the_server_in_error(customer: Customer) -> None:
    sid = customer.active_server()["id"]
    snap = snapshot_of(customer, sid)
    customer.live.db(lambda s: s.execute(delete(SimSnapshot).where(SimSnapshot.snapshot_id == snap["id"])))
    r = rebuild(customer, sid, snapshot_id=snap["id"])
    assert r.status_code == 200, r.text
    action = customer.wait_action(r.json()["action"]["id"])
    assert action["status"] == "error" and f"snapshot {snap['id']} has no image" in action["error"]
    assert customer.wait_status(sid, "error")["error"] == action["error"]


def test_create_from_a_snapshot_copies_its_disk_and_os(customer: Customer) -> None:
    source = customer.active_server(os_id=DEBIAN_12)
    snap = snapshot_of(customer, source["id"])
    assert customer.http.delete(f"/api/v1/servers/{source['id']}/").status_code == 204  # may be gone
    r = from_snapshot(customer, snap["id"], plan_id=STARTER, labels={"from": "snapshot"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["os"] == {"id": DEBIAN_12, "name": "Debian 12", "slug": "debian-12"}
    active = customer.wait_status(created["id"], "active")
    assert active["os"]["id"] == DEBIAN_12 and active["plan"]["id"] == STARTER
    m = machine(customer.live, created["id"])
    assert (m.os_image, m.disk_generation, m.storage_gb) == (f"snapshot:{snap['id']}", 0, 25)
    assert customer.live.db(lambda s: s.get(Server, created["id"])).source_snapshot_id == snap["id"]


def test_create_takes_exactly_one_of_os_id_and_snapshot_id(customer: Customer) -> None:
    snap = snapshot_of(customer, customer.active_server()["id"])
    both = from_snapshot(customer, snap["id"], os_id=UBUNTU)
    neither = customer.http.post("/api/v1/servers/", json={"name": "x", "plan_id": 1, "location": "us-west"})
    assert "exactly one of os_id" in assert_field_error(both, "os_id")["message"]
    assert "or snapshot_id" in assert_field_error(neither, "os_id")["message"]
    assert customer.http.get("/api/v1/servers/").json()["count"] == 1


def test_create_and_its_dry_run_refuse_what_cannot_be_restored(customer: Customer) -> None:
    snap = snapshot_of(customer, customer.active_server()["id"])
    other = customer.live.account()
    theirs = snapshot_of(other, other.active_server()["id"], "theirs")
    set_snapshot(customer.live, snap["id"], size_gb=26)
    for dry in (False, True):
        params = {"dry_run": "true"} if dry else {}
        body = {"name": "copy", "location": "us-west"}
        r = customer.http.post(
            "/api/v1/servers/", params=params, json=body | {"plan_id": 1, "snapshot_id": 999_999}
        )
        assert r.status_code == 404, r.text
        r = customer.http.post(
            "/api/v1/servers/", params=params, json=body | {"plan_id": 1, "snapshot_id": theirs["id"]}
        )
        assert r.status_code == 404, r.text
        r = customer.http.post(
            "/api/v1/servers/", params=params, json=body | {"plan_id": STARTER, "snapshot_id": snap["id"]}
        )
        assert "26 GB" in assert_field_error(r, "snapshot_id")["message"]
    set_snapshot(customer.live, snap["id"], status="error")
    error = assert_field_error(from_snapshot(customer, snap["id"]), "snapshot_id")
    assert "is error" in error["message"]
    set_snapshot(customer.live, snap["id"], status="available")
    r = customer.http.post(
        "/api/v1/servers/",
        params={"dry_run": "true"},
        json={"name": "copy", "location": "us-west", "plan_id": 1, "snapshot_id": snap["id"]},
    )
    assert r.status_code == 200 and r.json()["would_create"] is True, r.text
    assert customer.http.get("/api/v1/servers/").json()["count"] == 1  # nothing was created
    assert from_snapshot(customer, snap["id"]).status_code == 201  # the 80 GB plan's disk fits


def test_a_create_from_a_snapshot_whose_image_is_gone_fails(customer: Customer) -> None:
    snap = snapshot_of(customer, customer.active_server()["id"])
    customer.live.db(lambda s: s.execute(delete(SimSnapshot).where(SimSnapshot.snapshot_id == snap["id"])))
    created = from_snapshot(customer, snap["id"])
    assert created.status_code == 201, created.text
    failed = customer.wait_status(created.json()["id"], "error")
    assert f"snapshot {snap['id']} has no image" in failed["error"]
    assert customer.live.db(lambda s: s.get(Server, created.json()["id"])).provisioned_at is None


def test_a_restore_onto_a_server_on_another_host_than_the_image_is_refused(customer: Customer) -> None:
    sid = customer.active_server()["id"]
    snap = snapshot_of(customer, sid)
    here = customer.live.db(lambda s: s.get(Server, sid)).host_id
    assert here is not None and customer.live.db(lambda s: s.get(Snapshot, snap["id"])).host_id == here
    set_snapshot(customer.live, snap["id"], host_id=here + 1000)  # as if the server moved since
    error = assert_field_error(rebuild(customer, sid, snapshot_id=snap["id"]), "snapshot_id")
    assert "another host" in error["message"]
    assert customer.live.db(lambda s: s.get(Server, sid)).rebuilds == 0


def test_a_create_from_a_snapshot_goes_to_the_host_that_keeps_its_image(tmp_path: Path) -> None:
    """Spread placement would take turns between the hosts; a create from a snapshot goes to
    the snapshot's host each time while it has room, and elsewhere once it has none."""
    settings = test_settings(tmp_path / "restore-placement.db", placement="spread")
    prepare_database(settings)
    room_for_two = {"vcpus": 8, "memory_mib": 2048, "disk_gb": 1000}
    ids = add_hosts(settings, "us-west", {"A": room_for_two, "B": room_for_two, "C": room_for_two})
    account_id, token = account_token(settings)
    order = {"plan_id": PLAN_ID, "location": "us-west"}
    with serve_in_thread(settings, run_worker=False) as live, live.client(token) as http:
        first = http.post("/api/v1/servers/", json=order | {"name": "source", "os_id": UBUNTU})
        assert first.status_code == 201, first.text

        async def snapshot_on_c(session: Any) -> int:
            row = Snapshot(
                account_id=account_id, server_id=first.json()["id"], host_id=ids["C"], name="s",
                os_id=UBUNTU, kind="snapshot", status="available", size_gb=2,
            )  # fmt: skip
            session.add(row)
            await session.flush()
            return int(row.id)

        snap_id = run_db(settings, snapshot_on_c)
        made = []
        for name in ("copy-1", "copy-2", "copy-3"):
            r = http.post("/api/v1/servers/", json=order | {"name": name, "snapshot_id": snap_id})
            assert r.status_code == 201, r.text
            made.append(r.json()["id"])
    placed = host_of(settings, made)
    assert [placed[sid] for sid in made[:2]] == [ids["C"], ids["C"]]
    assert placed[made[2]] != ids["C"]  # C is full: placed as any create
