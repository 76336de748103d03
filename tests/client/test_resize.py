"""Resize in the SDK (sync and async: the client's method and the server object's) and in
`vps servers resize`, against a live API server."""

import asyncio
from pathlib import Path

import pytest

from tests.client.test_sdk import FAST
from tests.client.test_vps_cli import as_json, clean_env, vps
from tests.conftest import Live
from vpsorg.client import AsyncClient, Client, InvalidState, ValidationError

ORDER = {"plan_id": 3, "os_id": 5, "location": "us-west"}  # Starter: 1 vCPU, 1024 MiB, 25 GB
BASIC, STANDARD = 4, 1  # 1 vCPU, 2048 MiB, 50 GB; 2 vCPUs, 4096 MiB, 80 GB


def test_sync_resize_waits_and_the_server_has_the_new_plan(live: Live) -> None:
    api = Client(live.url, live.account().token, backoff=FAST, timeout=10)
    server = api.servers.create("web", **ORDER)
    api.actions.wait(server.action.id, timeout=30)
    with pytest.raises(InvalidState, match="active"):
        api.servers.resize(server.id, BASIC)
    api.servers.stop(server.id, wait=True, timeout=30)
    action = api.servers.resize(server.id, BASIC, wait=True, timeout=30)
    assert action.type == "resize" and action.status == "success"
    got = api.servers.get(server.id)
    assert got.status == "stopped" and got.plan.id == BASIC and got.plan.memory == 2048
    with pytest.raises(ValidationError, match="already"):
        got.resize(BASIC)
    again = got.resize(STANDARD, wait=True, timeout=30)  # the object's method
    assert again.status == "success"
    assert got.refresh().plan.vcpus == 2


def test_async_resize(live: Live) -> None:
    token = live.account().token

    async def run() -> tuple[str, int, int]:
        async with AsyncClient(live.url, token, backoff=FAST, timeout=10) as api:
            server = await api.servers.create("web", **ORDER)
            await api.actions.wait(server.action.id, timeout=30)
            await api.servers.stop(server.id, wait=True, timeout=30)
            queued = await api.servers.resize(server.id, BASIC)
            assert queued.type == "resize"
            await api.actions.wait(queued.id, timeout=30)
            got = await api.servers.get(server.id)
            done = await got.resize(STANDARD, wait=True, timeout=30)
            return done.status, (await got.refresh()).plan.id, got.plan.id

    assert asyncio.run(run()) == ("success", STANDARD, BASIC)


def test_vps_servers_resize(live: Live, tmp_path: Path) -> None:
    customer = live.account(credit="1000")
    e = clean_env(tmp_path, VPS_URL=live.url, VPS_TOKEN=customer.token)
    sid = customer.active_server(plan_id=3)["id"]
    refused = vps("servers", "resize", str(sid), "--plan", str(BASIC), env=e)
    assert refused.returncode != 0 and "active" in refused.stderr, refused
    assert customer.http.post(f"/api/v1/servers/{sid}/stop/").status_code == 200
    customer.wait_status(sid, "stopped")
    done = as_json(vps("-o", "json", "servers", "resize", str(sid), "--plan", str(BASIC), "--wait", env=e))
    assert done["type"] == "resize" and done["status"] == "success"
    assert customer.http.get(f"/api/v1/servers/{sid}/").json()["plan"]["id"] == BASIC
    missing = vps("servers", "resize", str(sid), env=e)
    assert missing.returncode == 2 and "--plan" in missing.stderr, missing
