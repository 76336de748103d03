"""Draining a host: every server migrated away, one at a time, and the host disabled; a server
with no room elsewhere stays where it was, running (real HTTP, the shared server's worker)."""

import time
from datetime import datetime
from itertools import pairwise

from sqlalchemy import select

from tests.conftest import Live
from tests.hosts import fleet
from tests.hosts.test_migration import admin_client, settle, two_hosts
from vpsorg.actions.models import Action


def test_a_drain_moves_every_server_one_at_a_time_and_disables_the_host(live: Live) -> None:
    admin = admin_client(live)
    customer = live.account()
    loc, a, b = two_hosts(live)
    ids = [customer.active_server(plan_id=fleet.STARTER, location=loc, name=f"d-{i}")["id"] for i in range(3)]
    assert customer.http.post(f"/api/v1/servers/{ids[1]}/stop/").status_code == 200
    customer.wait_status(ids[1], "stopped")
    fleet.set_state(live.settings, b, "enabled")
    host_a = fleet.host(live.settings, a)

    r = admin.post(f"/api/v1/admin/hosts/{host_a.id}/drain/")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["host"]["name"] == a and body["host"]["state"] == "draining"
    assert [q["server"]["id"] for q in body["queued"]] == ids and body["failed"] == []
    assert all(
        q["server"]["status"] == "migrating" and q["action"]["type"] == "migrate" for q in body["queued"]
    )
    for sid in ids:
        assert settle(customer, sid)[-1]["status"] == "success"
    for sid, status in zip(ids, ("active", "stopped", "active"), strict=True):
        assert customer.wait_status(sid, status)["status"] == status
    for sid, power in zip(ids, ("running", "shutoff", "running"), strict=True):
        assert fleet.server_host(live.settings, sid) == b
        assert fleet.machines(live.settings, sid) == [(b, power)]
    assert fleet.host(live.settings, a).state == "disabled"
    assert fleet.usage(live.settings, a) == (0, 0, 0, 0) and fleet.usage(live.settings, b) == (3, 3072, 75, 3)
    # One at a time: each migration was claimed only once the one before it had finished.
    q = select(Action.started_at, Action.finished_at).where(
        Action.type == "migrate", Action.server_id.in_(ids)
    )
    spans: list[tuple[datetime, datetime]] = sorted(live.db(lambda s: s.execute(q)).all())
    for (_, finished), (started, _) in pairwise(spans):
        assert started >= finished
    # Drained again: nothing to do, still disabled... once re-enabled, it takes servers again.
    again = admin.post(f"/api/v1/admin/hosts/{host_a.id}/drain/").json()
    assert again["queued"] == [] and again["host"]["state"] == "disabled"
    assert admin.post(f"/api/v1/admin/hosts/{host_a.id}/enable/").json()["state"] == "enabled"


def test_a_server_with_no_room_elsewhere_stays_running_and_the_host_stays_draining(live: Live) -> None:
    admin = admin_client(live)
    customer = live.account()
    loc = fleet.new_location(live.settings)
    a = fleet.add_host(live.settings, loc, fits=2)
    b = fleet.add_host(live.settings, loc, fits=1)
    fleet.set_state(live.settings, b, "disabled")
    sid = customer.active_server(plan_id=fleet.STARTER, location=loc)["id"]
    other = customer.active_server(plan_id=fleet.STARTER, location=loc, name="other")["id"]
    fleet.set_state(live.settings, b, "enabled")
    assert fleet.server_host(live.settings, other) == a and fleet.usage(live.settings, a)[3] == 2
    host_a = fleet.host(live.settings, a)
    # b fits one of the two: the first is queued, the second has no room
    r = admin.post(f"/api/v1/admin/hosts/{host_a.id}/drain/")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [q["server"]["id"] for q in body["queued"]] == [sid]
    assert [f["server"]["id"] for f in body["failed"]] == [other]
    assert "has room" in body["failed"][0]["error"] and body["host"]["state"] == "draining"
    settle(customer, sid)
    last = settle(customer, other)[-1]
    assert last["type"] == "migrate" and last["status"] == "error" and "room" in last["error"]
    assert a not in last["error"] and b not in last["error"]
    assert customer.http.get(f"/api/v1/servers/{other}/").json()["status"] == "active"
    assert fleet.machines(live.settings, other) == [(a, "running")]
    assert fleet.server_host(live.settings, sid) == b
    assert fleet.host(live.settings, a).state == "draining"
    assert fleet.usage(live.settings, a)[3] == 1
    # Its customer deletes it: the host is empty, and the drain is over.
    assert customer.http.delete(f"/api/v1/servers/{other}/").status_code == 204
    deadline = time.monotonic() + 30
    while fleet.host(live.settings, a).state != "disabled":
        assert time.monotonic() < deadline, "the host was not disabled"
        time.sleep(0.05)
    assert fleet.machines(live.settings, other) == []
