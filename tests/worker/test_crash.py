"""A worker killed mid-action loses nothing: real processes, real HTTP, one SQLite file."""

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import Proc, free_port, prepare_database, run_db, spawn, test_settings, wait_http
from vpsorg.accounts import service as accounts
from vpsorg.actions.models import Action
from vpsorg.config import Settings
from vpsorg.drivers.simulator import SimMachine, inject_fault


class Plant:
    """An API process without a worker, and workers the test starts and kills."""

    def __init__(self, tmp: Path, **overrides: Any) -> None:
        self.tmp = tmp
        self.settings: Settings = test_settings(tmp / "crash.db", worker_lease_seconds=1.5, **overrides)
        prepare_database(self.settings)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.api = spawn(["serve", "--no-worker", "--port", str(port)], self.settings, tmp / "api.log")
        self.procs: list[Proc] = [self.api]
        wait_http(self.url + "/healthz")

        async def make(session: Any) -> str:
            account = await accounts.create_account(session, email="crash@example.com", credit=Decimal(100))
            return await accounts.create_token(session, account_id=account.id)

        token = run_db(self.settings, make)
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def worker(self) -> Proc:
        proc = spawn(["worker"], self.settings, self.tmp / f"worker{len(self.procs)}.log")
        self.procs.append(proc)
        return proc

    def action(self, action_id: int) -> Action:
        return run_db(self.settings, lambda s: s.get(Action, action_id))

    def machines(self, server_id: int) -> int:
        q = select(func.count()).select_from(SimMachine).where(SimMachine.server_id == server_id)
        return int(run_db(self.settings, lambda s: s.scalar(q)))

    def wait(self, predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)

    def close(self) -> None:
        for proc in self.procs:
            proc.stop()


@pytest.fixture
def plant(tmp_path: Path):  # type: ignore[no-untyped-def]
    p = Plant(tmp_path)
    yield p
    p.close()


def create(plant: Plant) -> tuple[int, int]:
    r = plant.http.post(
        "/api/v1/servers/", json={"name": "crash", "plan_id": 1, "os_id": 5, "location": "us-west"}
    )
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["action"]["id"]


def test_worker_killed_after_the_machine_was_built_but_before_recording(plant: Plant) -> None:
    sid, aid = create(plant)
    run_db(plant.settings, lambda s: inject_fault(s, op="create", mode="crash", phase="after", server_id=sid))

    first = plant.worker()
    assert first.popen.wait(timeout=30) == 70  # died inside the driver call, as kill -9 would
    action = plant.action(aid)
    assert action.status == "running" and action.attempts == 1
    assert plant.machines(sid) == 1  # the machine exists; the database does not know yet
    assert plant.http.get(f"/api/v1/servers/{sid}/").json()["status"] == "provisioning"

    plant.worker()
    plant.wait(lambda: plant.action(aid).status == "success", 2 * 1.5 + 15, "the action to complete")
    action = plant.action(aid)
    assert action.attempts == 2 and action.fence == 2
    server = plant.http.get(f"/api/v1/servers/{sid}/").json()
    assert server["status"] == "active" and server["ip_address"]
    assert plant.machines(sid) == 1  # the retried create did not build a second machine


def test_worker_killed_mid_action_with_kill_9(tmp_path: Path) -> None:
    plant = Plant(tmp_path, simulator_time_scale=0.6)  # create takes 3 s
    try:
        sid, aid = create(plant)
        first = plant.worker()
        plant.wait(lambda: plant.action(aid).status == "running", 20, "the claim")
        first.kill()  # SIGKILL in the middle of the create
        assert plant.action(aid).status == "running"

        plant.worker()
        plant.wait(lambda: plant.action(aid).status == "success", 30, "the action to complete")
        assert plant.action(aid).attempts == 2
        assert plant.http.get(f"/api/v1/servers/{sid}/").json()["status"] == "active"
        assert plant.machines(sid) == 1
    finally:
        plant.close()


def test_injected_driver_error_puts_the_server_in_error_and_it_can_be_deleted(plant: Plant) -> None:
    sid, aid = create(plant)
    run_db(plant.settings, lambda s: inject_fault(s, op="create", server_id=sid, message="image not found"))
    plant.worker()
    plant.wait(lambda: plant.action(aid).status == "error", 20, "the action to fail")
    assert "image not found" in (plant.action(aid).error or "")
    server = plant.http.get(f"/api/v1/servers/{sid}/").json()
    assert server["status"] == "error" and "image not found" in server["error"]
    assert server["ip_address"] is None  # never provisioned
    assert plant.machines(sid) == 0
    r = plant.http.post(f"/api/v1/servers/{sid}/start/")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_state"
    assert plant.http.delete(f"/api/v1/servers/{sid}/").status_code == 204
    q = select(Action.id).where(Action.server_id == sid, Action.type == "delete")
    delete_id = run_db(plant.settings, lambda s: s.scalar(q))
    plant.wait(lambda: plant.action(delete_id).status == "success", 20, "the delete")
    assert plant.http.get(f"/api/v1/actions/{delete_id}/").json()["status"] == "success"
