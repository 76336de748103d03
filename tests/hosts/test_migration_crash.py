"""Migrations with real worker processes: a worker killed mid-migration (kill -9 at a named
step, VPSORG_FAILPOINTS), a delete queued behind a migration, and one migration at a time
off a host, on one database with an API process and no worker of its own."""

from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import run_db
from tests.hosts import fleet
from tests.production.cluster import Cluster
from vpsorg.accounts import service as accounts
from vpsorg.actions import service as actions
from vpsorg.actions.models import Action

TIMEOUT = 60  # a bound on each wait, not an expectation


class Fleet(Cluster):
    """us-west's default host (the workers' simulator) and a second simulator host `b`."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.b = fleet.add_host(self.settings, "us-west", fits=4, name="us-west-b")
        fleet.set_state(self.settings, self.b, "disabled")  # the servers go to us-west first
        self.http = self.client(self.token(credit="10000"), timeout=30)

        async def admin(session: Any) -> str:
            account = await accounts.create_account(session, email="ops@example.com", credit=Decimal(0))
            return await accounts.create_token(session, account_id=account.id, scope=accounts.Scope.ADMIN)

        self.admin = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.db(admin)}"}, timeout=30
        )

    def active_servers(self, n: int) -> list[int]:
        ids = []
        for i in range(n):
            r = self.http.post(
                "/api/v1/servers/",
                json={"name": f"m-{i}", "plan_id": fleet.STARTER, "os_id": 5, "location": "us-west"},
            )
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        worker = self.worker()
        for sid in ids:
            self.wait(lambda sid=sid: self.status(sid) == "active", TIMEOUT, f"server {sid} to be active")
        worker.stop()
        fleet.set_state(self.settings, self.b, "enabled")
        return ids

    def status(self, server_id: int) -> str:
        return str(self.http.get(f"/api/v1/servers/{server_id}/").json()["status"])

    def migrate(self, server_id: int) -> int:
        r = self.admin.post(f"/api/v1/admin/servers/{server_id}/migrate/", json={"host": self.b})
        assert r.status_code == 200, r.text
        return int(r.json()["action"]["id"])


@pytest.fixture
def plant(tmp_path: Path):  # type: ignore[no-untyped-def]
    p = Fleet(tmp_path)
    yield p
    p.close()


def test_a_worker_killed_mid_migration_leaves_one_machine_and_the_next_one_finishes(plant: Fleet) -> None:
    (sid,) = plant.active_servers(1)
    aid = plant.migrate(sid)
    assert plant.status(sid) == "migrating"  # what the customer sees while it waits and runs
    acts = plant.http.get(f"/api/v1/servers/{sid}/actions/").json()["results"]
    assert acts[-1]["type"] == "migrate" and acts[-1]["status"] == "queued"

    first = plant.worker(failpoint="worker.migrate_received")  # dies once the target has it
    assert first.popen.wait(timeout=TIMEOUT) == 70
    assert plant.action(aid).status == "running"
    assert fleet.machines(plant.settings, sid) == [(plant.b, "shutoff")]  # one machine, on the target
    assert fleet.server_host(plant.settings, sid) == "us-west"  # not recorded yet
    assert plant.status(sid) == "migrating"

    plant.worker()
    plant.wait(lambda: plant.action(aid).status == "success", TIMEOUT, "the migration to complete")
    assert plant.action(aid).attempts == 2
    assert plant.status(sid) == "active"
    assert fleet.machines(plant.settings, sid) == [(plant.b, "running")]
    assert fleet.server_host(plant.settings, sid) == plant.b
    assert fleet.usage(plant.settings, "us-west")[3] == 0 and fleet.usage(plant.settings, plant.b)[3] == 1


def test_deletes_behind_migrations_and_one_migration_at_a_time_off_a_host(plant: Fleet) -> None:
    moving, queued, *drained = plant.active_servers(4)
    # A delete behind a running migration (its worker killed after stopping the machine)
    # runs once the migration is over, on the host the server is on then: the target.
    aid = plant.migrate(moving)
    first = plant.worker(failpoint="worker.migrate_stopped")
    assert first.popen.wait(timeout=TIMEOUT) == 70
    assert plant.action(aid).status == "running"
    assert fleet.machines(plant.settings, moving) == [("us-west", "shutoff")]
    assert plant.http.delete(f"/api/v1/servers/{moving}/").status_code == 204
    # A delete of a server whose migration is still queued cancels it, and its room on the
    # target is given back at once.
    cancelled = plant.migrate(queued)
    assert fleet.usage(plant.settings, plant.b)[3] == 2
    assert plant.http.delete(f"/api/v1/servers/{queued}/").status_code == 204
    assert plant.action(cancelled).status == "error" and "cancelled" in (plant.action(cancelled).error or "")
    assert fleet.usage(plant.settings, plant.b)[3] == 1
    # A drain queues a migration for each server left; only the first off the host is claimable.
    host_id = fleet.host(plant.settings, "us-west").id
    r = plant.admin.post(f"/api/v1/admin/hosts/{host_id}/drain/")
    assert r.status_code == 200, r.text
    drain_ids = [q["action"]["id"] for q in r.json()["queued"]]
    assert len(drain_ids) == 2 and r.json()["host"]["state"] == "draining"

    async def claim_all(session: Any) -> list[int]:
        claimed, _ = await actions.claim_batch(
            session, owner="probe", lease_seconds=0.01, exclude=set(), limit=100
        )
        return [a.id for a in claimed]

    # The running migration (its worker dead) holds back every later one off us-west, and the
    # delete behind it; the other delete (its migration cancelled) is claimable.
    delete_behind = plant.scalars(
        select(Action.id).where(Action.type == "delete", Action.server_id == moving)
    )
    claimed = set(run_db(plant.settings, claim_all))
    assert not claimed & {*drain_ids, *delete_behind}

    plant.worker()
    plant.wait(
        lambda: all(plant.action(i).status == "success" for i in [aid, *drain_ids]), TIMEOUT, "migrations"
    )
    deletes = plant.scalars(select(Action.id).where(Action.type == "delete"))
    plant.wait(lambda: all(plant.action(i).status == "success" for i in deletes), TIMEOUT, "the deletes")
    assert fleet.machines(plant.settings, moving) == [] and fleet.machines(plant.settings, queued) == []
    for sid in drained:
        assert fleet.machines(plant.settings, sid) == [(plant.b, "running")]
    assert fleet.usage(plant.settings, plant.b)[3] == 2  # the two drained; the deleted one left it
    plant.wait(lambda: fleet.host(plant.settings, "us-west").state == "disabled", TIMEOUT, "the drain's end")
    assert fleet.usage(plant.settings, "us-west") == (0, 0, 0, 0)
    spans = sorted(
        plant.rows(select(Action.started_at, Action.finished_at).where(Action.id.in_([aid, *drain_ids])))
    )
    for (_, finished), (started, _) in pairwise(spans):
        assert started >= finished  # one at a time
