"""A worker killed while a real guest is being built: the next worker finishes the job on the
same machine. Real processes (API, two workers one after the other), real libvirt."""

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from tests.conftest import free_port, run_db, spawn, wait_http
from tests.drivers.libvirt.conftest import GuestImage, Lab, domains
from tests.drivers.libvirt.real import LOCATION, OS, PLAN, lab_settings, prepare_lab_database
from vpsorg.accounts import service as accounts
from vpsorg.actions.models import Action


def test_kill_the_worker_after_the_domain_is_defined(
    guest_image: GuestImage, lab: Lab, tmp_path: Path
) -> None:
    settings = lab_settings(tmp_path / "crash.db", lab, worker_lease_seconds=6.0)
    prepare_lab_database(settings, guest_image)
    port = free_port()
    procs = [spawn(["serve", "--no-worker", "--port", str(port)], settings, tmp_path / "api.log")]
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")

        async def make(session: Any) -> str:
            account = await accounts.create_account(session, email="crash@example.com", credit=Decimal(100))
            return await accounts.create_token(session, account_id=account.id)

        token = run_db(settings, make)
        http = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        r = http.post(
            "/api/v1/servers/",
            json={"name": "Crash", "plan_id": PLAN, "os_id": OS, "location": LOCATION},
        )
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        name = f"{lab.prefix}{sid}"

        first = spawn(["worker"], settings, tmp_path / "worker1.log")
        procs.append(first)
        deadline = time.monotonic() + 120
        while name not in domains(lab):  # defined (and booting): the driver call is in flight
            assert time.monotonic() < deadline, "the first worker never defined the domain"
            assert first.popen.poll() is None, (tmp_path / "worker1.log").read_text()
            time.sleep(0.1)
        first.kill()  # SIGKILL: no cleanup, no record; QEMU (libvirtd's child) keeps running

        action = run_db(settings, lambda s: s.scalar(select(Action).where(Action.server_id == sid)))
        assert action.status == "running" and action.attempts == 1

        procs.append(spawn(["worker"], settings, tmp_path / "worker2.log"))
        deadline = time.monotonic() + 900
        while (server := http.get(f"/api/v1/servers/{sid}/").json())["status"] != "active":
            assert server["status"] in ("provisioning",), server
            assert time.monotonic() < deadline, "never became active after the restart"
            time.sleep(1)

        action = run_db(settings, lambda s: s.get(Action, action.id))
        assert action.status == "success" and action.attempts == 2
        assert domains(lab) == [name]  # exactly one machine for the server
        assert sorted(p.name for p in lab.storage.glob(f"{name}*.qcow2")) == [f"{name}.qcow2"]
        http.delete(f"/api/v1/servers/{sid}/")
    finally:
        for proc in procs:
            proc.stop()
