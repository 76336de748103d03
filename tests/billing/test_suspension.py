"""Balance at zero: every server suspended and powered off; a top-up brings each back to
its previous power state. Real processes on a simulated clock; the top-up through the CLI."""

import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from tests.conftest import vpsorg_env
from tests.production.cluster import Cluster
from vpsorg import clock
from vpsorg.accounts.models import Account
from vpsorg.actions.models import Action
from vpsorg.drivers.simulator import SimMachine

STARTER = {"plan_id": 3, "os_id": 5, "location": "us-west"}  # 6.00 a month, 0.0089 an hour


def test_balance_to_zero_suspends_and_a_top_up_restores(tmp_path: Path) -> None:
    offset = tmp_path / "clock"
    # The servers are provisioned on January 1st; a month of Starter costs exactly 6.00.
    clock.set_offset(
        str(offset), (datetime(2027, 1, 1, 0, 5, tzinfo=UTC) - datetime.now(UTC)).total_seconds()
    )
    env = {clock.ENV: str(offset)}
    cluster = Cluster(tmp_path, env=env, billing_interval_seconds=0.1)
    try:
        http = cluster.client(cluster.token(credit="18.00", email="thrifty@example.com"))
        ids = []
        # All three are accepted before the worker runs: a server made active (and charged its
        # first hour) between two creates would leave less than a month's credit for the last.
        for i in range(3):
            r = http.post("/api/v1/servers/", json=STARTER | {"name": f"s{i}"})
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        assert http.post("/api/v1/servers/", json=STARTER | {"name": "s4"}).status_code == 402
        cluster.worker()
        cluster.wait(cluster.settled, 30, "provisioning")
        assert http.post(f"/api/v1/servers/{ids[2]}/stop/").status_code == 200
        cluster.wait(cluster.settled, 30, "the stop")

        def statuses() -> dict[int, str]:
            return {s["id"]: s["status"] for s in http.get("/api/v1/servers/").json()["results"]}

        def power() -> dict[int, str]:
            return dict(cluster.rows(select(SimMachine.server_id, SimMachine.power_state)))

        assert statuses() == {ids[0]: "active", ids[1]: "active", ids[2]: "stopped"}
        # The whole of January passes: 3 x 6.00 is charged, the balance is 0.00.
        clock.set_offset(
            str(offset), (datetime(2027, 1, 31, 23, 50, tzinfo=UTC) - datetime.now(UTC)).total_seconds()
        )
        cluster.wait(lambda: set(statuses().values()) == {"suspended"}, 30, "the suspension")
        cluster.wait(cluster.settled, 30, "the suspend actions")
        account = http.get("/api/v1/account/").json()
        assert account["balance"] == "0.00"
        assert power() == {sid: "shutoff" for sid in ids}
        suspends = cluster.rows(
            select(Action.server_id, Action.status, Action.reason).where(Action.type == "suspend")
        )
        assert sorted(sid for sid, _, _ in suspends) == ids
        assert all(status == "success" and "0.00" in reason for _, status, reason in suspends)
        for sid in ids:
            for verb in ("start", "stop", "reboot"):
                r = http.post(f"/api/v1/servers/{sid}/{verb}/")
                assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_state", r.text
        # The operator records a payment; each server returns to its power state.
        account_id = cluster.scalars(select(Account.id).where(Account.email == "thrifty@example.com"))[0]
        cli = subprocess.run(
            [sys.executable, "-m", "vpsorg", "accounts", "credit", "--account", str(account_id)]
            + ["--amount", "30", "--reason", "bank transfer 2027-02-01"],
            env=vpsorg_env(cluster.settings) | env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 0, cli.stderr
        assert cli.stdout.strip().splitlines()[-1] == "30.00"
        cluster.wait(
            lambda: statuses() == {ids[0]: "active", ids[1]: "active", ids[2]: "stopped"}, 30, "restore"
        )
        cluster.wait(cluster.settled, 30, "the restore actions")
        assert power() == {ids[0]: "running", ids[1]: "running", ids[2]: "shutoff"}
        assert http.post(f"/api/v1/servers/{ids[2]}/start/").status_code == 200
        ledger = http.get("/api/v1/account/ledger/").json()["results"]
        assert ledger[0]["kind"] == "top_up" and ledger[0]["amount"] == "30.00"
        assert ledger[0]["reason"] == "bank transfer 2027-02-01" and ledger[0]["balance_after"] == "30.00"
        assert ledger[-1]["kind"] == "top_up" and ledger[-1]["amount"] == "18.00"
        assert {e["kind"] for e in ledger[1:-1]} == {"charge"}
        assert sum(-Decimal(e["amount"]) for e in ledger[1:-1]) == Decimal("18.00")
    finally:
        cluster.close()
