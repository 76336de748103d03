"""Production mode: several API processes and workers on one database, racing and dying.

Real processes, real HTTP, bounded in time; each test runs on the database under test
(SQLite, or PostgreSQL with VPSORG_TEST_DATABASE_URL).
"""

import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import free_port, run_db
from tests.databases import database_url, on_postgresql
from tests.production.cluster import Cluster
from vpsorg.actions.models import Action
from vpsorg.catalog import service as catalog
from vpsorg.catalog.schemas import CatalogIn
from vpsorg.drivers.simtables import create_tables
from vpsorg.drivers.simulator import SimCall, SimMachine
from vpsorg.servers.models import Server

SERVER = {"name": "web", "plan_id": 3, "os_id": 5, "location": "us-west"}


@pytest.fixture
def cluster(tmp_path: Path):  # type: ignore[no-untyped-def]
    # A lease long enough that a busy machine never lets one expire under a live worker
    # (that re-runs the action by design: at-least-once, made safe by idempotent drivers).
    c = Cluster(tmp_path, api_processes=2, worker_lease_seconds=15.0)
    yield c
    c.close()


def test_many_creates_and_power_actions_each_reach_the_driver_exactly_once(cluster: Cluster) -> None:
    """2 API processes + 2 workers; 100 creates, then 300 power actions, all fired at once."""
    cluster.worker()
    cluster.worker()
    clients = [cluster.client() for _ in range(4)]
    rng = random.Random(20261127)

    def create(i: int) -> httpx.Response:
        return clients[i % 4].post("/api/v1/servers/", json=SERVER | {"name": f"web-{i}"})

    with ThreadPoolExecutor(max_workers=16) as pool:
        created = list(pool.map(create, range(100)))
    assert [r.status_code for r in created] == [201] * 100, [r.text for r in created if r.status_code != 201]
    ids = [(i % 4, r.json()["id"]) for i, r in enumerate(created)]

    def power(_: int) -> httpx.Response:
        owner, sid = rng.choice(ids)
        verb = rng.choice(["start", "stop", "reboot"])
        return clients[owner].post(f"/api/v1/servers/{sid}/{verb}/")

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(power, range(300)))
    codes = Counter(r.status_code for r in answers)
    assert set(codes) <= {200, 400}, codes
    assert all(r.json()["error"]["code"] == "invalid_state" for r in answers if r.status_code == 400)

    cluster.wait(cluster.settled, 120, "every action to finish and every server to settle")
    assert cluster.driver_calls() == cluster.finished_actions()  # once per action, never twice
    assert set(cluster.scalars(select(Action.attempts).where(Action.type != "sync"))) == {1}
    statuses = Counter(cluster.scalars(select(Server.status)))
    assert set(statuses) <= {"active", "stopped"}, statuses
    failed = cluster.scalars(select(Action.error).where(Action.status == "error"))
    assert failed == []


def test_concurrent_power_actions_on_one_server_accept_exactly_one(cluster: Cluster) -> None:
    # A reboot takes 6 s: all twelve requests arrive while the accepted one still runs.
    cluster.worker(simulator_time_scale=2.0)
    http = cluster.client()
    sid = http.post("/api/v1/servers/", json=SERVER).json()["id"]
    cluster.wait(lambda: http.get(f"/api/v1/servers/{sid}/").json()["status"] == "active", 30, "active")
    for _ in range(3):
        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(lambda _: http.post(f"/api/v1/servers/{sid}/reboot/"), range(12)))
        codes = Counter(r.status_code for r in answers)
        assert codes == {200: 1, 400: 11}, codes
        cluster.wait(lambda: http.get(f"/api/v1/servers/{sid}/").json()["status"] == "active", 30, "active")


def test_a_pool_of_8_free_addresses_and_20_parallel_creates(cluster: Cluster) -> None:
    """A /28 pool (13 assignable) with 5 addresses already taken: 8 free. 20 accounts create
    at once (different accounts, so nothing but the address columns serializes them)."""
    pool = CatalogIn.model_validate(
        {
            "locations": [
                {"code": "small", "name": "Small", "country": "ZZ", "ipv4_pool": "198.18.0.0/28",
                 "ipv4_gateway": "198.18.0.1", "ipv6_pool": "2001:db8:77::/64", "ipv6_gateway": "2001:db8:77::1"}
            ]
        }
    )  # fmt: skip
    run_db(cluster.settings, lambda s: catalog.load_catalog(s, catalog=pool))
    first = cluster.client()
    for i in range(5):
        assert (
            first.post(
                "/api/v1/servers/", json=SERVER | {"name": f"pre-{i}", "location": "small"}
            ).status_code
            == 201
        )
    clients = [cluster.client() for _ in range(20)]
    with ThreadPoolExecutor(max_workers=20) as workers:
        answers = list(
            workers.map(lambda c: c.post("/api/v1/servers/", json=SERVER | {"location": "small"}), clients)
        )
    codes = Counter(r.status_code for r in answers)
    assert codes == {201: 8, 503: 12}, codes
    assert all(r.json()["error"]["code"] == "capacity_exhausted" for r in answers if r.status_code == 503)
    v4 = cluster.scalars(select(Server.ipv4_address).where(Server.ipv4_address.like("198.18.0.%")))
    v6 = cluster.scalars(select(Server.ipv6_address).where(Server.ipv6_address.like("2001:db8:77:%")))
    assert len(v4) == len(set(v4)) == 13 and len(v6) == len(set(v6)) == 13


@pytest.mark.parametrize("failpoint", ["worker.after_claim", "worker.after_driver", "worker.before_commit"])
def test_kill_9_at_each_step_of_provisioning(tmp_path: Path, failpoint: str) -> None:
    cluster = Cluster(tmp_path)
    try:
        http = cluster.client()
        created = [http.post("/api/v1/servers/", json=SERVER | {"name": f"s{i}"}).json() for i in range(3)]
        dying = cluster.worker(failpoint=failpoint)
        assert dying.popen.wait(timeout=60) == 70  # died at the failpoint, as kill -9 would
        cluster.worker()
        # Back once the dead worker's lease runs out (3 s here); the bound is generous because a
        # busy machine may take long to start the new worker's process, and says nothing of speed.
        for server in created:
            cluster.wait(
                lambda sid=server["id"]: (
                    http.get(f"/api/v1/servers/{sid}/").json()["status"] in ("active", "error")
                ),
                120,
                f"server {server['id']} to come back",
            )
        for server in created:
            body = http.get(f"/api/v1/servers/{server['id']}/").json()
            assert body["status"] == "active" or body["error"], body
            assert cluster.machines(server["id"]) <= 1
        # Every allocated address belongs to a live server.
        rows = cluster.rows(
            select(Server.ipv4_address, Server.deleted_at).where(Server.ipv4_address.is_not(None))
        )
        assert rows and all(deleted is None for _, deleted in rows)
    finally:
        cluster.close()


def test_a_paused_worker_cannot_commit_over_the_one_that_reclaimed(tmp_path: Path) -> None:
    """SIGSTOP a worker mid-create past its lease; another worker re-claims and finishes;
    SIGCONT: the first finishes its driver call, but its stale result is discarded."""
    # create takes 6 s; the lease is 3 s, renewed every second
    cluster = Cluster(tmp_path, simulator_time_scale=1.2, worker_lease_seconds=3.0)
    try:
        http = cluster.client()
        body = http.post("/api/v1/servers/", json=SERVER).json()
        sid, aid = body["id"], body["action"]["id"]
        # Pause it inside the driver call (the simulator waits there), not inside one of its
        # transactions: on SQLite a stopped process that holds the write lock stops everyone
        # (so this worker does not sample usage, reconcile or charge, which write on their own timers).
        paused = cluster.worker(
            metrics_interval_seconds=3600.0,
            reconcile_interval_seconds=3600.0,
            billing_interval_seconds=3600.0,
        )
        calls = select(SimCall.id).where(SimCall.server_id == sid)
        cluster.wait(lambda: bool(cluster.scalars(calls)), 30, "the first driver call")
        time.sleep(0.3)
        cluster.pause(paused, aid)  # outside its lease renewals' transactions
        try:
            cluster.worker()
            cluster.wait(lambda: cluster.action(aid).status == "success", 60, "the second worker")
            done = cluster.action(aid)
            assert done.attempts == 2 and done.fence == 2
        finally:
            os.kill(paused.popen.pid, signal.SIGCONT)
        log = paused.log
        cluster.wait(
            lambda: "claim is stale" in log.read_text() or "lease lost" in log.read_text(),
            30,
            "the stale worker",
        )
        time.sleep(4)  # let the resumed worker finish whatever it does
        after = cluster.action(aid)
        assert (after.status, after.fence, after.finished_at) == ("success", 2, done.finished_at)
        assert cluster.machines(sid) == 1
        assert http.get(f"/api/v1/servers/{sid}/").json()["status"] == "active"
    finally:
        cluster.close()


@contextmanager
def private_postgresql(tmp: Path) -> Iterator[tuple[str, Callable[[str], None]]]:
    """A PostgreSQL server of this test's own (the suite's server keeps serving the other
    tests meanwhile): its URL, and `ctl("stop")` / `ctl("start")`."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not versions or os.geteuid() != 0:
        pytest.skip("needs root and Debian's PostgreSQL server binaries")
    bindir = versions[-1].parent
    # Not under pytest's tmp directory: the postgres user cannot enter root's.
    data = Path(tempfile.mkdtemp(prefix="vpsorg-pg-", dir="/var/tmp"))
    shutil.chown(data, "postgres")
    port = free_port()

    def as_postgres(*args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args], check=True, timeout=120, capture_output=True
        )

    as_postgres(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "vpsorg")
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"

    def ctl(verb: str) -> None:
        extra = ["-m", "fast"] if verb == "stop" else ["-o", options, "-l", str(data / "log")]
        as_postgres(str(bindir / "pg_ctl"), "-D", str(data), "-w", verb, *extra)

    ctl("start")
    try:
        yield f"postgresql+psycopg://vpsorg@127.0.0.1:{port}/postgres", ctl
    finally:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "stop",
                "-m",
                "immediate",
            ],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(data, ignore_errors=True)


def test_postgresql_outage_mid_load(tmp_path: Path) -> None:
    """PostgreSQL stopped for a few seconds under load: 503 with the error body while it is
    down, no partial rows, full service after, without restarting anything."""
    if not on_postgresql():
        pytest.skip("PostgreSQL only (SQLite has no server to stop)")
    with private_postgresql(tmp_path) as (server, ctl):
        outage(tmp_path, database_url(tmp_path / "outage", postgresql=server), ctl)


def outage(tmp_path: Path, url: str, ctl: Callable[[str], None]) -> None:
    # One account creates for 15 s, past the default quota: two threads, at most 5 creates a
    # second each (a fast machine must not exhaust the location's 253 addresses).
    cluster = Cluster(tmp_path, database_url=url, default_server_limit=100_000)
    try:
        cluster.worker()
        http = cluster.client()
        # The worker is up (past its start-up schema check, which refuses a database that does
        # not answer) before the database goes away: on a busy machine its start can take longer
        # than the 3 s before the outage.
        r = http.post("/api/v1/servers/", json=SERVER | {"name": "before"})
        assert r.status_code == 201, r.text
        cluster.wait(cluster.settled, 120, "the worker's first create")
        answers: list[int] = []
        stop_at = time.monotonic() + 15

        def load() -> None:
            i = 0
            while time.monotonic() < stop_at and i < 100:
                try:
                    r = http.post("/api/v1/servers/", json=SERVER | {"name": f"o{i}"})
                    answers.append(r.status_code)
                    if r.status_code == 503:
                        assert r.json()["error"]["code"] == "database_unavailable", r.text
                    else:
                        assert r.status_code == 201, r.text
                except httpx.TransportError:
                    answers.append(-1)
                i += 1
                time.sleep(0.2)

        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = [pool.submit(load) for _ in range(2)]
            time.sleep(3)
            ctl("stop")
            time.sleep(1)
            ready = httpx.get(cluster.url + "/readyz", timeout=10)
            assert ready.status_code == 503, ready.text
            time.sleep(3)
            ctl("start")
            for f in futures:
                f.result()
        assert 503 in answers and 201 in answers and -1 not in answers, Counter(answers)
        cluster.wait(lambda: httpx.get(cluster.url + "/readyz").status_code == 200, 30, "readyz")
        r = http.post("/api/v1/servers/", json=SERVER | {"name": "after"})
        assert r.status_code == 201, r.text
        cluster.wait(cluster.settled, 240, "the backlog")  # a bound: every create of the load
        # No partial rows: every server has its create action and addresses; nothing else.
        servers = cluster.rows(select(Server.id, Server.ipv4_address, Server.status))
        creates = set(cluster.scalars(select(Action.server_id).where(Action.type == "create")))
        assert len(servers) == answers.count(201) + 2  # and 'before' and 'after'
        assert {sid for sid, _, _ in servers} == creates
        assert all(v4 and status == "active" for _, v4, status in servers)
    finally:
        cluster.close()


def test_an_orphan_machine_is_logged_and_counted_never_destroyed(tmp_path: Path) -> None:
    """A machine on the hypervisor that no server owns: the worker logs it and reports it in
    `vpsorg_reconcile_orphan_machines` on its metrics port, and leaves it alone."""
    cluster = Cluster(tmp_path, reconcile_interval_seconds=0.5)
    try:

        async def plant_orphan(session: Any) -> None:
            await create_tables(session)  # as the simulator has them once it ran
            session.add(
                SimMachine(server_id=987654, name="stray", vcpus=1, memory_mib=512, storage_gb=10,
                           power_state="running", run_month="")
            )  # fmt: skip

        cluster.db(plant_orphan)
        port = free_port()
        worker = cluster.worker(worker_metrics_port=port)

        def gauge() -> str:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.TransportError:
                return ""
            return next(
                (line for line in text.splitlines() if line.startswith("vpsorg_reconcile_orphan")), ""
            )

        cluster.wait(lambda: gauge() == "vpsorg_reconcile_orphan_machines 1.0", 30, "the orphan gauge")
        time.sleep(1.5)  # a few more reconcile passes
        assert cluster.machines(987654) == 1  # never destroyed
        assert "987654 exists on the hypervisor but no live server owns it" in worker.log.read_text()
    finally:
        cluster.close()
