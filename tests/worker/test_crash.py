"""A worker killed mid-action loses nothing: real processes, real HTTP, one database."""

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import run_db
from tests.production.cluster import Cluster
from vpsorg.actions.models import Action
from vpsorg.drivers.simulator import inject_fault


class Plant(Cluster):
    """An API process without a worker, one customer, and workers the test starts and kills."""

    def __init__(self, tmp: Path, **overrides: Any) -> None:
        super().__init__(tmp, **overrides)
        self.http = self.client(self.token(credit="10000", email="crash@example.com"), timeout=30)


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
