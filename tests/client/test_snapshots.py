"""Snapshots in the SDK (sync and async, kept parallel) and in `vps snapshots`, against a
live API server on the simulator."""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.client.test_vps_cli import as_json, clean_env, ok, vps
from tests.conftest import Live
from vpsorg.client import ActionFailed, AsyncClient, Backoff, Client, InvalidState, NotFound, Snapshot
from vpsorg.drivers.simulator import inject_fault
from vpsorg.servers.models import Server

FAST = Backoff(initial=0.02, maximum=0.2)
ORDER = {"plan_id": 3, "os_id": 5, "location": "us-west"}


def test_sync_sdk_create_wait_list_get_delete(live: Live) -> None:
    api = Client(live.url, live.account(credit="1000").token, backoff=FAST, timeout=10)
    server = api.servers.create(name="snap-1", wait=True, **ORDER)  # type: ignore[call-overload]
    queued = api.snapshots.create(server.id, "first")
    assert isinstance(queued, Snapshot) and queued.status == "creating"
    assert queued.action is not None and queued.action.type == "snapshot"
    done = api.snapshots.create(server.id, "second", wait=True)
    assert done.status == "available" and done.size_gb is not None and done.size_gb >= 1
    assert done.price_monthly is not None and done.price_monthly > 0
    api.actions.wait(queued.action.id)
    listed = list(api.snapshots.list(server_id=server.id, page_size=1))  # across pages
    assert [s.name for s in listed] == ["first", "second"]
    assert list(api.snapshots.list(kind="backup")) == []
    assert api.snapshots.get(queued.id).status == "available"
    api.snapshots.delete(queued.id)
    with pytest.raises(NotFound):
        api.snapshots.get(queued.id)
    api.servers.stop(server.id, wait=True)
    api.servers.delete(server.id)
    with pytest.raises(NotFound):
        api.snapshots.create(server.id, "gone")


def test_async_sdk_and_the_errors(live: Live) -> None:
    customer = live.account(credit="1000")

    async def main() -> None:
        async with AsyncClient(live.url, customer.token, backoff=FAST, timeout=10) as api:
            server = await api.servers.create(name="snap-2", wait=True, **ORDER)  # type: ignore[call-overload]
            done = await api.snapshots.create(server.id, "a", wait=True)
            assert done.status == "available"
            assert [s.id async for s in api.snapshots.list(server_id=server.id)] == [done.id]
            assert (await api.snapshots.get(done.id)).name == "a"
            live.db(
                lambda s: inject_fault(s, op="snapshot", server_id=server.id, times=99, message="no room")
            )
            with pytest.raises(ActionFailed, match="no room"):
                await api.snapshots.create(server.id, "b", wait=True)
            await api.snapshots.delete(done.id)
            with pytest.raises(NotFound):
                await api.snapshots.delete(done.id)

    asyncio.run(main())
    api = Client(live.url, customer.token, backoff=FAST, timeout=10)
    (server,) = [s for s in api.servers.list() if s.name == "snap-2"]
    live.db(lambda s: s.execute(update(Server).where(Server.id == server.id).values(status="error")))
    with pytest.raises(InvalidState):
        api.snapshots.create(server.id, "c")


def test_vps_snapshots_commands(live: Live, tmp_path: Path) -> None:
    customer = live.account(credit="1000")
    env = clean_env(tmp_path, VPS_URL=live.url, VPS_TOKEN=customer.token)
    server = customer.active_server()
    sid = str(server["id"])
    taken = as_json(vps("-o", "json", "snapshots", "create", sid, "--name", "pre", "--wait", env=env))
    assert taken["status"] == "available" and taken["name"] == "pre" and taken["server_id"] == server["id"]
    quick = int(ok(vps("-q", "snapshots", "create", sid, "--name", "quick", env=env)))
    customer.wait_action(customer.http.get(f"/api/v1/servers/{sid}/actions/").json()["results"][-1]["id"])
    ids = ok(vps("-q", "snapshots", "list", "--server", sid, env=env)).split()
    assert ids == [str(taken["id"]), str(quick)]
    table = ok(vps("snapshots", "list", env=env))
    assert "pre" in table and "quick" in table and "available" in table
    assert ok(vps("-q", "snapshots", "list", "--kind", "backup", env=env)).split() == []
    assert vps("snapshots", "list", "--kind", "nope", env=env).returncode == 2
    assert as_json(vps("-o", "json", "snapshots", "get", str(quick), env=env))["id"] == quick
    ok(vps("snapshots", "delete", "--yes", str(quick), env=env))
    assert ok(vps("-q", "snapshots", "list", env=env)).split() == [str(taken["id"])]
    missing = vps("snapshots", "get", str(quick), env=env)
    assert missing.returncode == 1 and "not found" in missing.stderr.lower()
