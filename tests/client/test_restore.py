"""Restore and create from a snapshot in the SDK (sync and async) and in `vps`, against a
live API server on the simulator."""

import asyncio
from pathlib import Path

import pytest

from tests.client.test_sdk import FAST, ORDER
from tests.client.test_vps_cli import as_json, clean_env, vps
from tests.conftest import Live
from vpsorg.client import AsyncClient, Client, ValidationError
from vpsorg.drivers.simtables import SimMachine


def image_of(live: Live, server_id: int) -> str:
    return str(live.db(lambda s: s.get(SimMachine, server_id)).os_image)


def test_sync_restore_and_create_from_a_snapshot(live: Live) -> None:
    api = Client(live.url, live.account().token, backoff=FAST, timeout=10)
    server = api.servers.create("sdk-s", **ORDER, wait=True)
    snap = api.snapshots.create(server.id, "base", wait=True)
    assert snap.status == "available"
    api.servers.rebuild(server.id, os_id=3, wait=True)
    action = api.servers.rebuild(server.id, snapshot_id=snap.id, wait=True)
    assert (action.type, action.status) == ("rebuild", "success")
    assert api.servers.get(server.id).os.id == ORDER["os_id"]  # the snapshot's OS again
    assert image_of(live, server.id) == f"snapshot:{snap.id}"
    quote = api.servers.create("sdk-copy", 3, None, "us-west", snapshot_id=snap.id, dry_run=True)
    assert quote.would_create is True
    copy = api.servers.create("sdk-copy", 3, None, "us-west", snapshot_id=snap.id, wait=True)
    assert (copy.status, copy.os.id) == ("active", ORDER["os_id"])
    assert image_of(live, copy.id) == f"snapshot:{snap.id}"
    with pytest.raises(ValidationError, match="os_id"):
        api.servers.rebuild(server.id, os_id=3, snapshot_id=snap.id)


def test_async_restore_through_the_bound_method(live: Live) -> None:
    token = live.account().token

    async def run() -> tuple[int, int, str]:
        async with AsyncClient(live.url, token, backoff=FAST, timeout=10) as api:
            server = await api.servers.create("async-s", **ORDER, wait=True)
            snap = await api.snapshots.create(server.id, "base", wait=True)
            action = await server.rebuild(snapshot_id=snap.id, wait=True)
            assert action.status == "success"
            copy = await api.servers.create("async-c", 3, None, "us-west", snapshot_id=snap.id, wait=True)
            return server.id, snap.id, copy.status

    sid, snap_id, status = asyncio.run(run())
    assert status == "active" and image_of(live, sid) == f"snapshot:{snap_id}"


def test_vps_rebuild_snapshot_and_create_from_snapshot(live: Live, tmp_path: Path) -> None:
    customer = live.account(credit="1000")
    e = clean_env(tmp_path, VPS_URL=live.url, VPS_TOKEN=customer.token)
    server = customer.active_server()
    snap = customer.http.post(f"/api/v1/servers/{server['id']}/snapshots/", json={"name": "s"}).json()
    assert customer.wait_action(snap["action"]["id"])["status"] == "success"
    sid, snap_id = server["id"], snap["snapshot"]["id"]

    restored = as_json(
        vps(
            "-o", "json", "servers", "rebuild", str(sid), "--snapshot", str(snap_id), "--yes", "--wait", env=e
        )
    )
    assert (restored["type"], restored["status"]) == ("rebuild", "success")
    assert image_of(live, sid) == f"snapshot:{snap_id}"
    for both in (("--os", "3", "--snapshot", str(snap_id)), ()):
        refused = vps("servers", "rebuild", str(sid), *both, "--yes", env=e)
        assert refused.returncode == 2 and "one of the two" in refused.stderr

    order = ("--name", "from-snap", "--plan", "3", "--location", "us-west")
    created = as_json(
        vps("-o", "json", "servers", "create", *order, "--from-snapshot", str(snap_id), "--wait", env=e)
    )
    assert created["status"] == "active" and created["os"]["id"] == server["os"]["id"]
    assert image_of(live, created["id"]) == f"snapshot:{snap_id}"
    neither = vps("servers", "create", *order, env=e)
    assert neither.returncode == 2 and "one of the two" in neither.stderr
