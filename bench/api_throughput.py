"""API requests/s and worker actions/s on SQLite and PostgreSQL, side by side in one run.

For each database: a fresh database, one account holding 10,000 servers (inserted
directly), one API process (`vpsorg serve --no-worker`), and a client in this process with
8 threads for a bounded time: GET details of random servers, then GET list pages of 50 at
random offsets. Then worker throughput: 300 creates queued through the API with no worker
running, then one `vpsorg worker` (simulator at time scale 0), timed until all are done.
Loopback only; every loop is bounded in count and time.

    VPSORG_BENCH_PG_URL=$(scripts/start-postgresql.sh) .venv/bin/python bench/api_throughput.py

Without VPSORG_BENCH_PG_URL only SQLite is measured.
"""

import os
import random
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import free_port, prepare_database, run_db, spawn, test_settings, wait_http  # noqa: E402
from tests.databases import database_url, drop_created  # noqa: E402

from vpsorg.accounts import service as accounts  # noqa: E402
from vpsorg.actions.models import Action  # noqa: E402
from vpsorg.catalog import service as catalog  # noqa: E402
from vpsorg.catalog.models import Location  # noqa: E402
from vpsorg.catalog.schemas import CatalogIn  # noqa: E402
from vpsorg.drivers.simulator import SimMachine  # noqa: E402
from vpsorg.ipam import service as ipam  # noqa: E402
from vpsorg.servers.models import Server  # noqa: E402

SERVERS = 10_000
THREADS = 8
SECONDS = 10.0
MAX_REQUESTS = 20_000
CREATES = 300
# RFC 2544's benchmarking network: addresses that are never contacted.
BENCH_LOCATION = {
    "code": "bench", "name": "Bench", "country": "ZZ",
    "ipv4_pool": "198.18.0.0/15", "ipv4_gateway": "198.18.0.1",
    "ipv6_pool": "2001:db8:be::/64", "ipv6_gateway": "2001:db8:be::1",
}  # fmt: skip


def fill(settings: Any) -> tuple[str, list[int]]:
    run_db(
        settings,
        lambda s: catalog.load_catalog(s, catalog=CatalogIn.model_validate({"locations": [BENCH_LOCATION]})),
    )

    async def make(session: Any) -> tuple[str, list[int]]:
        account = await accounts.create_account(session, email="bench@example.com", credit=Decimal(10**9))
        account.server_limit = SERVERS + CREATES  # an operator's override of the quota (default 25)
        token = await accounts.create_token(session, account_id=account.id)
        location = await session.scalar(select(Location.id).where(Location.code == "bench"))
        now = datetime.now(UTC)
        rows = [
            {
                "account_id": account.id, "name": f"bench-{i}", "hostname": f"bench-{i}.example.com",
                "status": "active", "power_state": "running", "plan_id": 3, "os_id": 5,
                "location_id": location, "backups_enabled": False,
                "ipv4_address": f"198.18.{2 + i // 250}.{1 + i % 250}", "ipv6_address": f"2001:db8:be::{i + 2:x}",
                "provisioned_at": now, "created_at": now, "updated_at": now,
            }
            for i in range(SERVERS)
        ]  # fmt: skip
        for start in range(0, SERVERS, 1000):
            await session.execute(insert(Server), rows[start : start + 1000])
        # Addresses written behind the allocator's back: have it recount the location.
        bench = await session.get(Location, location)
        await ipam.rebuild(session, location=bench)
        ids = list(await session.scalars(select(Server.id).where(Server.account_id == account.id)))
        machines = [
            {
                "server_id": sid,
                "name": f"vps-{sid}",
                "vcpus": 1,
                "memory_mib": 1024,
                "storage_gb": 25,
                "power_state": "running",
                "created_at": now,
                "booted_at": now,
                "run_seconds": 0.0,
                "run_month": now.strftime("%Y-%m"),
            }
            for sid in ids
        ]  # fmt: skip  (the simulator's machines, so reconcile finds nothing to correct)
        for start in range(0, SERVERS, 1000):
            await session.execute(insert(SimMachine), machines[start : start + 1000])
        return token, ids

    return run_db(settings, make)


def hammer(url: str, token: str, path_of: Any) -> float:
    """Requests/s with THREADS clients for SECONDS (or MAX_REQUESTS in all)."""
    done = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + SECONDS

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            while time.monotonic() < deadline:
                r = http.get(path_of(rng))
                assert r.status_code == 200, r.text
                with lock:
                    done[0] += 1
                    if done[0] >= MAX_REQUESTS:
                        return

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0] / (time.monotonic() - started)


def measure(name: str, url_of_db: str, tmp: Path) -> dict[str, float]:
    settings = test_settings(tmp / f"{name}.db", database_url=url_of_db, log_level="warning")
    prepare_database(settings)
    token, ids = fill(settings)
    port = free_port()
    api = spawn(["serve", "--no-worker", "--port", str(port)], settings, tmp / f"{name}-api.log")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthz", timeout=60)
        detail = hammer(url, token, lambda rng: f"/api/v1/servers/{rng.choice(ids)}/")
        pages = SERVERS // 50
        listing = hammer(
            url, token, lambda rng: f"/api/v1/servers/?page_size=50&page={rng.randrange(1, pages + 1)}"
        )

        http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        for i in range(CREATES):
            r = http.post(
                "/api/v1/servers/", json={"name": f"w{i}", "plan_id": 3, "os_id": 5, "location": "bench"}
            )
            assert r.status_code == 201, r.text
        open_q = select(func.count()).select_from(Action).where(Action.status.in_(["queued", "running"]))
        started = time.monotonic()
        # Actions only: usage sampling and reconcile of 10,000 machines are not what is timed.
        quiet = settings.model_copy(
            update={"metrics_interval_seconds": 3600.0, "reconcile_interval_seconds": 3600.0}
        )
        worker = spawn(["worker"], quiet, tmp / f"{name}-worker.log")
        try:
            while run_db(settings, lambda s: s.scalar(open_q)):
                if time.monotonic() - started > 300:
                    raise SystemExit("worker did not finish within 300 s")
                time.sleep(0.05)
            actions_per_s = CREATES / (time.monotonic() - started)
        finally:
            worker.stop()
    finally:
        api.stop()
    return {"detail": detail, "list": listing, "actions": actions_per_s}


def main() -> None:
    pg = os.environ.get("VPSORG_BENCH_PG_URL", "")
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        try:
            results["SQLite"] = measure("sqlite", database_url(tmp / "bench.db", postgresql=""), tmp)
            if pg:
                results["PostgreSQL"] = measure(
                    "postgresql", database_url(tmp / "bench-pg", postgresql=pg), tmp
                )
        finally:
            drop_created()
    print(f"{SERVERS} servers in one account; one API process; {THREADS} client threads in one process")
    print(f"{'':12}{'GET detail req/s':>18}{'GET list(50) req/s':>20}{'worker actions/s':>18}")
    for name, r in results.items():
        print(f"{name:12}{r['detail']:>18.0f}{r['list']:>20.0f}{r['actions']:>18.1f}")


if __name__ == "__main__":
    main()
