"""The operators' fleet API: hosts (list, detail, enable, disable), every account's servers
(filtered, paged, with their host), 403 for customers' tokens, 404s, filters validated."""

from datetime import timedelta

from tests.conftest import Live
from tests.hosts import fleet
from tests.hosts.test_migration import admin_client, settle
from vpsorg.hosts import service as hosts
from vpsorg.sqltypes import utcnow


def test_hosts_are_listed_shown_enabled_and_disabled(live: Live) -> None:
    admin = admin_client(live)
    customer = live.account()
    loc = fleet.new_location(live.settings)
    a = fleet.add_host(live.settings, loc, fits=2)
    sid = customer.active_server(plan_id=fleet.STARTER, location=loc)["id"]
    host_id = fleet.host(live.settings, a).id
    r = admin.get(f"/api/v1/admin/hosts/{host_id}/")
    assert r.status_code == 200, r.text
    h = r.json()
    assert (h["name"], h["location"], h["driver"], h["state"]) == (a, loc, "simulator", "enabled")
    assert (h["vcpus"], h["memory_mib"], h["disk_gb"], h["cpu_overcommit"]) == (64, 2048, 1000, 4.0)
    assert (h["used_vcpus"], h["used_memory_mib"], h["used_disk_gb"], h["servers"]) == (1, 1024, 25, 1)
    # down: no heartbeat within VPSORG_HOST_DOWN_SECONDS. The shared worker heartbeats every
    # host now and then: a read that shows its heartbeat instead of ours is tried again.
    for age, down in ((3600, True), (0, False)):
        for _ in range(5):
            when = utcnow() - timedelta(seconds=age)
            live.db(lambda s, when=when: hosts.heartbeat(s, host_ids=[host_id], now=when))
            h = admin.get(f"/api/v1/admin/hosts/{host_id}/").json()
            if h["heartbeat_at"] == when.strftime("%Y-%m-%dT%H:%M:%SZ"):
                break
        else:
            raise AssertionError("the worker's heartbeat came between ours and the read 5 times")
        assert h["down"] is down, h
    page = admin.get("/api/v1/admin/hosts/", params={"page_size": 1}).json()
    assert page["count"] >= 2 and len(page["results"]) == 1 and page["next"]
    every = admin.get("/api/v1/admin/hosts/", params={"page_size": 200}).json()["results"]
    assert a in [x["name"] for x in every]
    r = admin.post(f"/api/v1/admin/hosts/{host_id}/disable/")
    assert r.status_code == 200 and r.json()["state"] == "disabled"
    r = customer.http.post("/api/v1/servers/", json={"name": "x", "plan_id": 3, "os_id": 5, "location": loc})
    assert r.status_code == 503 and r.json()["error"]["code"] == "capacity_exhausted"
    assert customer.http.get(f"/api/v1/servers/{sid}/").json()["status"] == "active"  # stays
    assert admin.post(f"/api/v1/admin/hosts/{host_id}/enable/").json()["state"] == "enabled"
    for path in ("", "enable/", "disable/", "drain/"):
        method = admin.get if not path else admin.post
        assert method(f"/api/v1/admin/hosts/2147483647/{path}").status_code == 404
        r = (customer.http.get if not path else customer.http.post)(f"/api/v1/admin/hosts/{host_id}/{path}")
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert customer.http.get("/api/v1/admin/hosts/").status_code == 403
    assert admin.get("/api/v1/admin/hosts/0/").status_code == 400


def test_every_accounts_servers_with_their_host_filtered_and_paged(live: Live) -> None:
    admin = admin_client(live)
    customer = live.account()
    loc = fleet.new_location(live.settings)
    a = fleet.add_host(live.settings, loc)
    one = customer.active_server(plan_id=fleet.STARTER, location=loc)
    two = customer.active_server(plan_id=fleet.STARTER, location=loc, name="web-2")
    assert customer.http.post(f"/api/v1/servers/{two['id']}/stop/").status_code == 200
    customer.wait_status(two["id"], "stopped")
    settle(customer, two["id"])
    r = admin.get("/api/v1/admin/servers/", params={"host": a})
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["count"] == 2 and [s["id"] for s in page["results"]] == [one["id"], two["id"]]
    first = page["results"][0]
    assert (first["host"], first["location"], first["account_id"], first["status"]) == (
        a,
        loc,
        customer.account_id,
        "active",
    )
    assert first["ip_address"] == one["ip_address"] and first["power_state"] == "running"
    by = {
        "location": admin.get("/api/v1/admin/servers/", params={"location": loc}).json(),
        "account": admin.get("/api/v1/admin/servers/", params={"account": customer.account_id}).json(),
        "status": admin.get("/api/v1/admin/servers/", params={"host": a, "status": "stopped"}).json(),
        "paged": admin.get("/api/v1/admin/servers/", params={"host": a, "page_size": 1, "page": 2}).json(),
    }
    assert by["location"]["count"] == 2 and by["account"]["count"] == 2
    assert [s["id"] for s in by["status"]["results"]] == [two["id"]]
    assert [s["id"] for s in by["paged"]["results"]] == [two["id"]] and by["paged"]["previous"]
    r = admin.get("/api/v1/admin/servers/", params={"status": "migrating", "host": a})
    assert r.status_code == 200 and r.json()["count"] == 0
    for params, name in (
        ({"host": "no-such-host"}, "host"),
        ({"location": "nowhere"}, "location"),
        ({"account": 2147483647}, "account"),
        ({"status": "asleep"}, "status"),
        ({"account": 0}, "account"),
    ):
        r = admin.get("/api/v1/admin/servers/", params=params)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["error"]["code"] == "validation_error"
        assert name in str(r.json()["error"]["details"]), r.text
    detail = admin.get(f"/api/v1/admin/servers/{two['id']}/").json()
    assert detail["host"] == a and [x["type"] for x in detail["actions"]] == ["stop", "create"]
    assert admin.get("/api/v1/admin/servers/2147483647/").status_code == 404
    assert customer.http.get("/api/v1/admin/servers/").status_code == 403
    assert customer.http.get(f"/api/v1/admin/servers/{two['id']}/").status_code == 403
    # customers' own views never name a host
    assert a not in customer.http.get(f"/api/v1/servers/{two['id']}/").text
    assert a not in customer.http.get("/api/v1/servers/").text
    r = customer.http.get("/api/v1/servers/", params={"status": "migrating"})
    assert r.status_code == 200 and r.json()["count"] == 0
