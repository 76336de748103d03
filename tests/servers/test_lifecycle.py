"""The lifecycle over real HTTP: create, power actions, delete, actions."""

import re

from tests.conftest import Customer, Live

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_create_answers_the_seed_shape(customer: Customer) -> None:
    r = customer.http.post(
        "/api/v1/servers/",
        json={
            "name": "web-server-02",
            "plan_id": 1,
            "os_id": 5,
            "location": "us-west",
            "hostname": "web02.example.com",
            "backups_enabled": True,
        },
    )
    assert r.status_code == 201
    body = r.json()
    assert r.headers["location"].endswith(f"/api/v1/servers/{body['id']}/")
    assert body["status"] == "provisioning"
    assert body["ip_address"] is None
    assert body["plan"] == {"id": 1, "name": "Standard VPS", "vcpus": 2, "memory": 4096, "storage": 80}
    assert body["os"] == {"id": 5, "name": "Ubuntu 22.04 LTS", "slug": "ubuntu-22.04"}
    assert body["backups_enabled"] is True
    assert body["message"] == "Server is being provisioned. This may take 2-5 minutes."
    assert body["action"]["type"] == "create" and body["action"]["status"] in ("queued", "running", "success")
    assert TIMESTAMP.match(body["created_at"]) and TIMESTAMP.match(body["updated_at"])
    for key in ("name", "hostname", "location"):
        assert (
            body[key]
            == {"name": "web-server-02", "hostname": "web02.example.com", "location": "us-west"}[key]
        )


def test_provisioning_becomes_active_with_addresses_and_usage(customer: Customer) -> None:
    created = customer.create_server(name="db-1", plan_id=2, os_id=3, location="us-east")
    server = customer.wait_status(created["id"], "active")
    assert server["ip_address"].startswith("198.51.100.")
    assert server["ipv6_address"].startswith("2001:db8:2::")
    assert server["plan"]["bandwidth"] == 4096
    usage = server["resource_usage"]
    assert 0 <= usage["cpu_percent"] <= 100
    assert 0 < usage["memory_used"] <= 8192
    assert 0 < usage["disk_used"] <= 160
    assert usage["bandwidth_used"] >= 0
    assert server["hostname"] == "db-1"  # hostname defaults to the name
    action = customer.http.get(f"/api/v1/servers/{created['id']}/actions/").json()["results"][0]
    assert action["type"] == "create" and action["status"] == "success" and action["finished_at"]


def test_stop_start_reboot_cycle(customer: Customer) -> None:
    sid = customer.active_server()["id"]
    for verb, during, after in (
        ("stop", "stopping", "stopped"),
        ("start", "starting", "active"),
        ("reboot", "rebooting", "active"),
    ):
        r = customer.http.post(f"/api/v1/servers/{sid}/{verb}/")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "success"
        assert body["message"] == f"Server is {during}"
        assert body["server"] == {"id": sid, "name": "web-1", "status": during}
        assert body["action"]["type"] == verb
        assert customer.wait_action(body["action"]["id"])["status"] == "success"
        assert customer.wait_status(sid, after)["status"] == after
    types = [a["type"] for a in customer.http.get(f"/api/v1/servers/{sid}/actions/").json()["results"]]
    assert types == ["create", "stop", "start", "reboot"]


def test_power_actions_in_the_wrong_state_are_invalid_state(customer: Customer) -> None:
    sid = customer.active_server()["id"]
    r = customer.http.post(f"/api/v1/servers/{sid}/start/")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_state"
    assert "active" in r.json()["error"]["message"]
    customer.http.post(f"/api/v1/servers/{sid}/stop/")
    customer.wait_status(sid, "stopped")
    for verb in ("stop", "reboot"):
        r = customer.http.post(f"/api/v1/servers/{sid}/{verb}/")
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_state"
        assert "stopped" in r.json()["error"]["message"]


def test_power_actions_while_provisioning_are_invalid_state(live: Live) -> None:
    customer = live.account()
    sid = customer.create_server()["id"]
    # At time scale 0 provisioning may already be over; only judge while it lasts.
    r = customer.http.post(f"/api/v1/servers/{sid}/reboot/")
    status = customer.http.get(f"/api/v1/servers/{sid}/").json()["status"]
    if r.status_code == 400:
        assert r.json()["error"]["code"] == "invalid_state"
    else:
        assert r.status_code == 200 and status in ("rebooting", "active")


def test_delete_is_204_then_404_and_frees_the_addresses(customer: Customer, live: Live) -> None:
    server = customer.active_server(location="eu-central")
    r = customer.http.delete(f"/api/v1/servers/{server['id']}/")
    assert r.status_code == 204 and r.content == b""
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "stop/"), ("GET", "actions/")):
        assert customer.http.request(method, f"/api/v1/servers/{server['id']}/{path}").status_code == 404
    listed = customer.http.get("/api/v1/servers/").json()["results"]
    assert server["id"] not in [s["id"] for s in listed]


def test_delete_during_provisioning(live: Live) -> None:
    from sqlalchemy import select

    from vpsorg.drivers.simulator import SimMachine
    from vpsorg.servers.models import Server

    customer = live.account()
    sid = customer.create_server(location="ap-southeast")["id"]
    assert customer.http.delete(f"/api/v1/servers/{sid}/").status_code == 204
    assert customer.http.get(f"/api/v1/servers/{sid}/").status_code == 404

    import time

    deadline = time.monotonic() + 15
    while True:
        row = live.db(
            lambda s: s.execute(select(Server.ipv4_address, Server.ipv6_address).where(Server.id == sid))
        )
        addresses = tuple(row.one())
        machine = live.db(lambda s: s.get(SimMachine, sid))
        if addresses == (None, None) and machine is None:
            break
        assert time.monotonic() < deadline, (addresses, machine)
        time.sleep(0.05)


def test_put_and_patch(customer: Customer) -> None:
    sid = customer.active_server()["id"]
    r = customer.http.put(
        f"/api/v1/servers/{sid}/",
        json={
            "name": "web-server-updated",
            "hostname": "web-updated.example.com",
            "backups_enabled": True,
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["name"], body["hostname"], body["backups_enabled"]) == (
        "web-server-updated",
        "web-updated.example.com",
        True,
    )
    assert "resource_usage" in body and "ipv6_address" in body
    r = customer.http.patch(f"/api/v1/servers/{sid}/", json={"name": "new-server-name"})
    assert r.status_code == 200
    assert r.json()["name"] == "new-server-name"
    assert r.json()["hostname"] == "web-updated.example.com"
    assert customer.http.get(f"/api/v1/servers/{sid}/").json()["name"] == "new-server-name"


def test_list_pagination_and_filters(live: Live) -> None:
    customer = live.account()
    ids = [
        customer.create_server(name=f"s{i}", location="us-west" if i % 2 else "us-east")["id"]
        for i in range(5)
    ]
    for sid in ids:
        customer.wait_status(sid, "active")
    customer.http.post(f"/api/v1/servers/{ids[0]}/stop/")
    customer.wait_status(ids[0], "stopped")

    everything = customer.http.get("/api/v1/servers/").json()
    assert everything["count"] == 5 and [s["id"] for s in everything["results"]] == ids
    assert everything["next"] is None and everything["previous"] is None

    page1 = customer.http.get("/api/v1/servers/", params={"page_size": 2}).json()
    assert page1["count"] == 5 and [s["id"] for s in page1["results"]] == ids[:2]
    page2 = customer.http.get(page1["next"].replace(live.url, "")).json()
    assert [s["id"] for s in page2["results"]] == ids[2:4]
    assert page2["previous"] and page2["next"]
    page3 = customer.http.get("/api/v1/servers/", params={"page_size": 2, "page": 3}).json()
    assert [s["id"] for s in page3["results"]] == ids[4:] and page3["next"] is None

    stopped = customer.http.get("/api/v1/servers/", params={"status": "stopped"}).json()
    assert [s["id"] for s in stopped["results"]] == [ids[0]]
    west = customer.http.get("/api/v1/servers/", params={"location": "us-west"}).json()
    assert [s["id"] for s in west["results"]] == [ids[1], ids[3]]
    both = customer.http.get("/api/v1/servers/", params={"location": "us-east", "status": "active"}).json()
    assert [s["id"] for s in both["results"]] == [ids[2], ids[4]]
    none = customer.http.get("/api/v1/servers/", params={"location": "nowhere"}).json()
    assert none["count"] == 0 and none["results"] == []
    item = everything["results"][1]
    assert set(item) == {
        "id",
        "name",
        "hostname",
        "status",
        "ip_address",
        "location",
        "plan",
        "os",
        "labels",
        "created_at",
        "updated_at",
    }


def test_actions_are_account_scoped(live: Live) -> None:
    alice, bob = live.account(), live.account()
    created = alice.create_server()
    action_id = created["action"]["id"]
    assert alice.http.get(f"/api/v1/actions/{action_id}/").status_code == 200
    r = bob.http.get(f"/api/v1/actions/{action_id}/")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
