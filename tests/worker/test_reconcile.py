"""Reconcile: the hypervisor is the authority on power state."""

import asyncio
import time
from typing import Any

from tests.conftest import Customer, Live
from vpsorg.db import make_engine, make_sessionmaker
from vpsorg.drivers.simulator import SimulatorDriver
from vpsorg.servers.states import PowerState


def behind_our_back(live: Live, fn: Any) -> None:
    """Change the simulated hypervisor directly, as an operator or a crash would."""

    async def main() -> None:
        engine = make_engine(live.settings)
        try:
            await fn(SimulatorDriver(make_sessionmaker(engine), time_scale=0))
        finally:
            await engine.dispose()

    asyncio.run(main())


def wait_for(customer: Customer, sid: int, status: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = customer.http.get(f"/api/v1/servers/{sid}/").json()
        if body["status"] == status:
            return dict(body)
        time.sleep(0.05)
    raise AssertionError(f"server {sid} did not become {status}")


def sync_actions(customer: Customer, sid: int) -> list[dict[str, Any]]:
    actions = customer.http.get(f"/api/v1/servers/{sid}/actions/").json()["results"]
    return [a for a in actions if a["type"] == "sync"]


def test_machine_shut_off_behind_our_back_becomes_stopped(customer: Customer, live: Live) -> None:
    sid = customer.active_server()["id"]
    behind_our_back(live, lambda d: d.set_power_behind_our_back(sid, PowerState.SHUTOFF))
    wait_for(customer, sid, "stopped")
    [sync] = sync_actions(customer, sid)
    assert sync["status"] == "success" and "shutoff" in sync["reason"]
    # and the server can be started again through the API
    assert customer.http.post(f"/api/v1/servers/{sid}/start/").status_code == 200
    customer.wait_status(sid, "active")


def test_machine_started_behind_our_back_becomes_active(customer: Customer, live: Live) -> None:
    sid = customer.active_server()["id"]
    customer.http.post(f"/api/v1/servers/{sid}/stop/")
    customer.wait_status(sid, "stopped")
    behind_our_back(live, lambda d: d.set_power_behind_our_back(sid, PowerState.RUNNING))
    wait_for(customer, sid, "active")
    assert len(sync_actions(customer, sid)) == 1


def test_vanished_machine_puts_the_server_in_error(customer: Customer, live: Live) -> None:
    sid = customer.active_server()["id"]
    behind_our_back(live, lambda d: d.remove_behind_our_back(sid))
    body = wait_for(customer, sid, "error")
    assert "vanished" in body["error"]
    [sync] = sync_actions(customer, sid)
    assert sync["status"] == "error"
    assert customer.http.delete(f"/api/v1/servers/{sid}/").status_code == 204


def test_servers_in_step_with_the_hypervisor_are_left_alone(customer: Customer) -> None:
    sid = customer.active_server()["id"]
    time.sleep(1.5)  # three reconcile intervals
    assert customer.http.get(f"/api/v1/servers/{sid}/").json()["status"] == "active"
    assert sync_actions(customer, sid) == []
