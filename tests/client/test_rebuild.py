"""Rebuild in the SDK (sync and async) and in `vps servers rebuild`, against a live API
server on the simulator."""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.client.test_sdk import FAST, ORDER
from tests.client.test_vps_cli import as_json, clean_env, vps
from tests.conftest import Live, new_public_key
from vpsorg.client import AsyncClient, Client, InvalidState, ValidationError
from vpsorg.drivers.simtables import SimMachine
from vpsorg.servers.models import Server


def generation(live: Live, server_id: int) -> int:
    return int(live.db(lambda s: s.get(SimMachine, server_id)).disk_generation)


def test_sync_rebuild_waits_and_installs_the_keys(live: Live) -> None:
    api = Client(live.url, live.account().token, backoff=FAST, timeout=10)
    server = api.servers.create("sdk-r", **ORDER, wait=True)
    key = api.ssh_keys.create("k", new_public_key())
    action = api.servers.rebuild(server.id, os_id=3, ssh_key_ids=[key.id], wait=True)
    assert (action.type, action.status, action.server_id) == ("rebuild", "success", server.id)
    again = api.servers.get(server.id)
    assert (again.status, again.os.id, again.ip_address) == ("active", 3, server.ip_address)
    assert live.db(lambda s: s.get(Server, server.id)).ssh_public_keys == [key.public_key]
    queued = again.rebuild(os_id=7)  # the bound method; without wait, the queued action
    assert queued.type == "rebuild" and queued.wait().status == "success"
    assert generation(live, server.id) == 2
    with pytest.raises(ValidationError, match="os_id"):
        api.servers.rebuild(server.id, os_id=999)
    live.db(lambda s: s.execute(update(Server).where(Server.id == server.id).values(status="error")))
    with pytest.raises(InvalidState, match="error"):
        api.servers.rebuild(server.id, os_id=3)


def test_async_rebuild(live: Live) -> None:
    token = live.account().token

    async def run() -> tuple[int, str, int]:
        async with AsyncClient(live.url, token, backoff=FAST, timeout=10) as api:
            server = await api.servers.create("async-r", **ORDER, wait=True)
            action = await server.rebuild(os_id=7, ssh_key_ids=[], wait=True)
            return server.id, action.status, (await api.servers.get(server.id)).os.id

    sid, status, os_id = asyncio.run(run())
    assert (status, os_id) == ("success", 7)
    assert live.db(lambda s: s.get(Server, sid)).ssh_public_keys == []
    assert generation(live, sid) == 1


def test_vps_servers_rebuild_asks_first_unless_yes(live: Live, tmp_path: Path) -> None:
    customer = live.account(credit="1000")
    e = clean_env(tmp_path, VPS_URL=live.url, VPS_TOKEN=customer.token)
    sid = customer.active_server()["id"]
    refused = vps("servers", "rebuild", str(sid), "--os", "3", env=e, stdin="n\n")
    assert refused.returncode != 0 and "erased" in refused.stdout + refused.stderr
    assert generation(live, sid) == 0  # nothing was sent
    k1 = customer.http.post("/api/v1/ssh-keys/", json={"name": "a", "public_key": new_public_key()}).json()
    k2 = customer.http.post("/api/v1/ssh-keys/", json={"name": "b", "public_key": new_public_key()}).json()
    args = ("--os", "3", "--ssh-key", str(k2["id"]), "--ssh-key", str(k1["id"]), "--wait")
    done = as_json(vps("-o", "json", "servers", "rebuild", str(sid), *args, "--yes", env=e))
    assert (done["type"], done["status"]) == ("rebuild", "success")
    assert generation(live, sid) == 1
    keys = live.db(lambda s: s.get(Server, sid)).ssh_public_keys
    assert keys == [k2["public_key"], k1["public_key"]]
    confirmed = vps("-o", "json", "servers", "rebuild", str(sid), "--os", "7", env=e, stdin="y\n")
    assert confirmed.returncode == 0, confirmed.stderr
    assert customer.wait_status(sid, "active")["os"]["id"] == 7
    bad = vps("servers", "rebuild", str(sid), "--os", "999", "--yes", env=e)
    assert bad.returncode == 1 and "os_id" in bad.stderr


def test_vps_servers_rebuild_takes_names_and_slugs(live: Live, tmp_path: Path) -> None:
    customer = live.account(credit="1000")
    e = clean_env(tmp_path, VPS_URL=live.url, VPS_TOKEN=customer.token)
    server = customer.active_server()
    key = customer.http.post(
        "/api/v1/ssh-keys/", json={"name": "laptop", "public_key": new_public_key()}
    ).json()
    args = ("--os", "fedora-41", "--ssh-key", "laptop", "--yes", "--wait")
    done = as_json(vps("-o", "json", "servers", "rebuild", server["name"], *args, env=e))
    assert (done["type"], done["status"], done["server_id"]) == ("rebuild", "success", server["id"])
    assert customer.http.get(f"/api/v1/servers/{server['id']}/").json()["os"]["id"] == 7
    assert live.db(lambda s: s.get(Server, server["id"])).ssh_public_keys == [key["public_key"]]
    unknown = vps("servers", "rebuild", "no-such-server", "--os", "3", "--yes", env=e)
    assert unknown.returncode == 1 and "no server named 'no-such-server'" in unknown.stderr
