"""Rebuild over real HTTP on the simulator: the server reinstalled from another OS image with
its id, addresses, hostname and plan kept, the keys chosen, the states it may be rebuilt
from, and every refusal. On the database under test (SQLite, or PostgreSQL with
VPSORG_TEST_DATABASE_URL)."""

import hashlib
from typing import Any

from sqlalchemy import select, update

from tests.conftest import Customer, Live, new_public_key
from tests.servers.test_validation import assert_field_error
from vpsorg.drivers.simtables import SimMachine
from vpsorg.drivers.simulator import inject_fault
from vpsorg.servers.models import Server

UBUNTU, DEBIAN_12, FEDORA = 5, 3, 7


def add_key(customer: Customer, name: str) -> tuple[int, str]:
    key = new_public_key()
    r = customer.http.post("/api/v1/ssh-keys/", json={"name": name, "public_key": key})
    assert r.status_code == 201, r.text
    return int(r.json()["id"]), key.strip()


def machine(live: Live, server_id: int) -> SimMachine:
    found = live.db(lambda s: s.get(SimMachine, server_id))
    assert found is not None
    return found  # type: ignore[no-any-return]


def keys_hash(*keys: str) -> str:
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


def rebuild(customer: Customer, server_id: int, **body: Any) -> Any:
    return customer.http.post(f"/api/v1/servers/{server_id}/rebuild/", json=body)


def set_status(live: Live, server_id: int, status: str) -> None:
    live.db(lambda s: s.execute(update(Server).where(Server.id == server_id).values(status=status)))


def test_rebuild_reinstalls_the_new_os_and_keeps_the_rest(customer: Customer) -> None:
    key_id, key = add_key(customer, "old")
    before = customer.active_server(
        os_id=UBUNTU, ssh_key_id=key_id, hostname="web1.example.com", labels={"env": "prod"}
    )
    sid = before["id"]
    assert machine(customer.live, sid).ssh_keys_sha256 == keys_hash(key)
    second, k2 = add_key(customer, "second")
    third, k3 = add_key(customer, "third")
    r = rebuild(customer, sid, os_id=DEBIAN_12, ssh_key_ids=[second, third, second])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success"
    assert body["message"] == "Server is being rebuilt. Everything on its disk will be erased."
    assert body["server"] == {"id": sid, "name": "web-1", "status": "rebuilding"}
    assert body["action"]["type"] == "rebuild" and body["action"]["status"] in (
        "queued",
        "running",
        "success",
    )
    assert customer.wait_action(body["action"]["id"])["status"] == "success"
    after = customer.wait_status(sid, "active")
    assert after["os"] == {"id": DEBIAN_12, "name": "Debian 12", "slug": "debian-12"}
    for kept in ("id", "name", "hostname", "ip_address", "ipv6_address", "plan", "labels", "location"):
        assert after[kept] == before[kept], kept
    listed = customer.http.get("/api/v1/servers/").json()["results"]
    assert [s["os"] for s in listed if s["id"] == sid] == [
        {"id": DEBIAN_12, "name": "Debian 12", "slug": "debian-12"}
    ]
    m = machine(customer.live, sid)
    assert (m.disk_generation, m.power_state) == (1, "running")  # a fresh disk, booted
    assert m.ssh_keys_sha256 == keys_hash(k2, k3)  # in the order given, a repeat once
    server = customer.live.db(lambda s: s.get(Server, sid))
    assert (server.rebuilds, server.ssh_key_id, server.ssh_public_keys) == (1, second, [k2, k3])
    actions = customer.http.get(f"/api/v1/servers/{sid}/actions/").json()["results"]
    assert [(a["type"], a["status"]) for a in actions] == [("create", "success"), ("rebuild", "success")]


def test_a_stopped_server_is_rebuilt_and_running(customer: Customer) -> None:
    sid = customer.active_server()["id"]
    assert customer.http.post(f"/api/v1/servers/{sid}/stop/").status_code == 200
    customer.wait_status(sid, "stopped")
    r = rebuild(customer, sid, os_id=FEDORA)
    assert r.status_code == 200 and r.json()["server"]["status"] == "rebuilding", r.text
    assert customer.wait_status(sid, "active")["os"]["id"] == FEDORA
    assert machine(customer.live, sid).power_state == "running"
    assert customer.live.db(lambda s: s.get(Server, sid)).power_state == "running"


def test_without_keys_the_server_keeps_its_own_and_an_empty_list_installs_none(customer: Customer) -> None:
    key_id, key = add_key(customer, "mine")
    sid = customer.active_server(ssh_key_id=key_id)["id"]
    assert rebuild(customer, sid, os_id=DEBIAN_12).status_code == 200
    customer.wait_status(sid, "active")
    assert machine(customer.live, sid).disk_generation == 1
    assert machine(customer.live, sid).ssh_keys_sha256 == keys_hash(key)  # the create's key again
    assert rebuild(customer, sid, os_id=DEBIAN_12, ssh_key_ids=[]).status_code == 200
    customer.wait_status(sid, "active")
    m = machine(customer.live, sid)
    assert (m.disk_generation, m.ssh_keys_sha256) == (2, None)
    assert rebuild(customer, sid, os_id=UBUNTU).status_code == 200  # none kept: still none
    customer.wait_status(sid, "active")
    assert machine(customer.live, sid).ssh_keys_sha256 is None


def test_only_active_and_stopped_servers_are_rebuilt(customer: Customer) -> None:
    sid = customer.active_server()["id"]
    for status in ("provisioning", "starting", "stopping", "rebooting", "rebuilding", "suspended", "error"):
        set_status(customer.live, sid, status)
        r = rebuild(customer, sid, os_id=DEBIAN_12)
        assert r.status_code == 400, (status, r.text)
        error = r.json()["error"]
        assert error["code"] == "invalid_state" and status in error["message"], error
        assert error["details"] == {"status": status, "action": "rebuild"}
    set_status(customer.live, sid, "active")
    server = customer.live.db(lambda s: s.get(Server, sid))
    assert (server.os_id, server.rebuilds) == (UBUNTU, 0)  # nothing of the refusals stuck
    actions = customer.http.get(f"/api/v1/servers/{sid}/actions/").json()["results"]
    assert [a["type"] for a in actions] == ["create"]


def test_other_accounts_servers_and_keys_and_unknown_oses_are_refused(customer: Customer, live: Live) -> None:
    sid = customer.active_server()["id"]
    other = live.account()
    theirs = other.active_server()["id"]
    their_key, _ = add_key(other, "theirs")
    mine, _ = add_key(customer, "mine")
    assert rebuild(customer, theirs, os_id=DEBIAN_12).status_code == 404
    assert rebuild(customer, 2**31 - 1, os_id=DEBIAN_12).status_code == 404
    error = assert_field_error(
        rebuild(customer, sid, os_id=DEBIAN_12, ssh_key_ids=[mine, their_key]), "ssh_key_ids"
    )
    assert str(their_key) in error["message"]
    assert_field_error(rebuild(customer, sid, os_id=DEBIAN_12, ssh_key_ids=[2**31 - 1]), "ssh_key_ids")
    assert_field_error(rebuild(customer, sid, os_id=999), "os_id")
    assert_field_error(rebuild(customer, sid), "os_id")
    assert_field_error(rebuild(customer, sid, os_id=DEBIAN_12, ssh_key_ids=[0]), "ssh_key_ids.0")
    assert_field_error(rebuild(customer, sid, os_id=DEBIAN_12, ssh_key_ids=list(range(1, 34))), "ssh_key_ids")
    assert_field_error(rebuild(customer, sid, os_id=DEBIAN_12, plan_id=2), "plan_id")
    assert customer.http.get(f"/api/v1/servers/{sid}/").json()["status"] == "active"
    assert machine(live, sid).disk_generation == 0
    assert machine(live, theirs).disk_generation == 0


def test_a_failed_rebuild_leaves_the_server_in_error(customer: Customer) -> None:
    sid = customer.active_server()["id"]
    customer.live.db(
        lambda s: inject_fault(s, op="rebuild", server_id=sid, message="image store unreachable")
    )
    action = rebuild(customer, sid, os_id=DEBIAN_12).json()["action"]
    done = customer.wait_action(action["id"])
    assert done["status"] == "error" and "image store unreachable" in done["error"], done
    server = customer.wait_status(sid, "error")
    assert "image store unreachable" in server["error"]
    r = rebuild(customer, sid, os_id=DEBIAN_12)
    assert r.status_code == 400 and "error" in r.json()["error"]["message"]


def test_the_worker_reads_the_os_image_and_keys_of_the_rebuild(live: Live) -> None:
    """The spec the driver gets: the new OS's image, every key, the install number."""
    from vpsorg.catalog.models import OperatingSystem
    from vpsorg.servers import lifecycle

    customer = live.account()
    sid = customer.active_server()["id"]
    live.db(
        lambda s: s.execute(
            update(OperatingSystem).where(OperatingSystem.id == FEDORA).values(image="/img/f41.qcow2")
        )
    )
    k1, key1 = add_key(customer, "a")
    k2, key2 = add_key(customer, "b")
    assert rebuild(customer, sid, os_id=FEDORA, ssh_key_ids=[k2, k1]).status_code == 200
    customer.wait_status(sid, "active")
    spec = live.db(lambda s: lifecycle.vm_specs(s, [sid]))[sid]
    assert (spec.os_image, spec.ssh_public_keys, spec.generation) == ("/img/f41.qcow2", (key2, key1), 1)
    assert machine(live, sid).os_image == "/img/f41.qcow2"
    hostnames = live.db(lambda s: s.scalar(select(Server.hostname).where(Server.id == sid)))
    assert spec.hostname == hostnames


def test_a_server_suspended_while_rebuilding_comes_back_active(customer: Customer, live: Live) -> None:
    from tests.admin.operators import operator

    sid = customer.active_server()["id"]
    set_status(live, sid, "rebuilding")  # as if its rebuild were still queued
    op = operator(live)
    r = op.http.post(f"/api/v1/admin/servers/{sid}/suspend/", json={"reason": "abuse"})
    assert r.status_code == 200, r.text
    server = live.db(lambda s: s.get(Server, sid))
    assert (server.status, server.resume_status) == ("suspended", "active")
    assert op.http.post(f"/api/v1/admin/servers/{sid}/unsuspend/").status_code == 200
    assert customer.wait_status(sid, "active")["status"] == "active"
