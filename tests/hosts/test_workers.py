"""A worker per host: `vpsorg worker --host A` runs only the actions of A's servers,
heartbeats for A alone, reconciles A's hypervisor with A's servers only, and counts the
hosts by state on its /metrics; a host whose worker stopped shows `down`."""

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import select

from tests.conftest import free_port, prepare_database, test_settings, vpsorg_env
from tests.hosts.capacity import PLAN_ID, account_token, add_hosts, host_of
from tests.hosts.fleet import set_state
from tests.production.cluster import Cluster
from vpsorg.actions.models import Action
from vpsorg.db import make_engine, make_sessionmaker
from vpsorg.drivers.simulator import SimulatorDriver
from vpsorg.hosts import service as hosts
from vpsorg.hosts.models import Host
from vpsorg.sqltypes import utcnow

SERVER = {"name": "web", "plan_id": PLAN_ID, "os_id": 5, "location": "us-west"}
ROOMY = {"vcpus": 8, "memory_mib": 16384, "disk_gb": 1000}
DOWN_AFTER = 2.0  # VPSORG_HOST_DOWN_SECONDS: a heartbeat every half second
TIMEOUT = 60  # a bound on each wait, not an expectation


def test_a_worker_per_host_drives_only_its_hosts_servers(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, host_down_seconds=DOWN_AFTER)
    try:
        _run(cluster)
    finally:
        cluster.close()


def _run(cluster: Cluster) -> None:
    settings = cluster.settings
    ids = add_hosts(settings, "us-west", {"A": ROOMY, "B": ROOMY})
    set_state(settings, "us-west", "disabled")  # only A and B take the creates (spread: in turn)
    _, token = account_token(settings)
    http = cluster.client(token)

    def host_rows() -> dict[str, Host]:
        return {h.name: h for h in cluster.scalars(select(Host))}

    def shown(name: str) -> str:
        return hosts.shown_state(host_rows()[name], now=utcnow(), down_after=DOWN_AFTER)

    def status(sid: int) -> str:
        return str(http.get(f"/api/v1/servers/{sid}/").json()["status"])

    created = []
    for i in range(4):
        r = http.post("/api/v1/servers/", json=SERVER | {"name": f"web-{i}"})
        assert r.status_code == 201, r.text
        created.append(r.json()["id"])
    placed = host_of(settings, created)
    on_a = [sid for sid in created if placed[sid] == ids["A"]]
    on_b = [sid for sid in created if placed[sid] == ids["B"]]
    assert len(on_a) == len(on_b) == 2
    assert host_rows()["A"].heartbeat_at is None and shown("A") == "down"  # no worker yet

    # A's worker: A's creates run; B's stay queued.
    metrics_port = free_port()
    worker_a = cluster.worker(args=["--host", "A"], worker_metrics_port=metrics_port)
    assert "hosts A)" in worker_a.log.read_text()
    cluster.wait(lambda: all(status(sid) == "active" for sid in on_a), TIMEOUT, "A's servers to be active")
    assert [status(sid) for sid in on_b] == ["provisioning", "provisioning"]
    queued = cluster.scalars(select(Action.status).where(Action.server_id.in_(on_b)))
    assert queued == ["queued", "queued"]

    # A's heartbeat advances; B has none; A shows its state, B `down`.
    first = host_rows()["A"].heartbeat_at
    assert first is not None
    cluster.wait(lambda: host_rows()["A"].heartbeat_at > first, TIMEOUT, "A's next heartbeat")  # type: ignore[operator]
    assert host_rows()["B"].heartbeat_at is None and shown("B") == "down"
    cluster.wait(lambda: shown("A") == "enabled", TIMEOUT, "A to show enabled")

    # The worker's /metrics counts the hosts by the state shown: A enabled, every other down
    # (no worker heard from: B and the default hosts, the disabled one among them).
    others = len(host_rows()) - 1

    def gauge() -> str:
        try:
            return httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        except httpx.TransportError:
            return ""

    expected = ['vpsorg_hosts{state="enabled"} 1.0', f'vpsorg_hosts{{state="down"}} {others}.0']
    expected += ['vpsorg_hosts{state="disabled"} 0.0', 'vpsorg_hosts{state="draining"} 0.0']
    cluster.wait(lambda: all(line in gauge().splitlines() for line in expected), TIMEOUT, "the hosts gauge")

    # B's worker: B's creates run now; B's heartbeat starts.
    worker_b = cluster.worker(args=["--host", "B"])
    cluster.wait(lambda: all(status(sid) == "active" for sid in on_b), TIMEOUT, "B's servers to be active")
    cluster.wait(lambda: shown("B") == "enabled", TIMEOUT, "B's heartbeat")

    # B's worker stops: B's heartbeat stops with it, and B shows `down` once it is older than
    # VPSORG_HOST_DOWN_SECONDS, while A's goes on.
    worker_b.stop()
    last_b = host_rows()["B"].heartbeat_at
    seen_a = host_rows()["A"].heartbeat_at
    cluster.wait(lambda: shown("B") == "down", TIMEOUT, "B to show down")
    assert host_rows()["B"].heartbeat_at == last_b
    cluster.wait(lambda: host_rows()["A"].heartbeat_at > seen_a, TIMEOUT, "A's heartbeat to go on")  # type: ignore[operator]
    cluster.wait(lambda: shown("A") == "enabled", TIMEOUT, "A to show enabled")

    # A machine of each host vanishes: A's worker reconciles A's, and leaves B's alone.
    behind_our_back(cluster, [on_a[0], on_b[0]])
    cluster.wait(lambda: status(on_a[0]) == "error", TIMEOUT, "A's worker to notice A's machine gone")
    assert status(on_b[0]) == "active"
    assert [status(sid) for sid in (on_a[1], on_b[1])] == ["active", "active"]
    # B's worker back: it notices B's.
    cluster.worker(args=["--host", "B"])
    cluster.wait(lambda: status(on_b[0]) == "error", TIMEOUT, "B's worker to notice B's machine gone")
    cluster.wait(lambda: shown("B") == "enabled", TIMEOUT, "B's heartbeat again")
    assert [status(sid) for sid in (on_a[1], on_b[1])] == ["active", "active"]


def behind_our_back(cluster: Cluster, server_ids: list[int]) -> None:
    """Remove these servers' machines from the simulated hypervisors, as a crash would."""

    async def main() -> None:
        engine = make_engine(cluster.settings)
        try:
            driver = SimulatorDriver(make_sessionmaker(engine), time_scale=0)
            for sid in server_ids:
                await driver.remove_behind_our_back(sid)
        finally:
            await engine.dispose()

    asyncio.run(main())


def test_a_worker_for_a_host_that_does_not_exist_exits_1_with_one_line(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "nosuch.db")
    prepare_database(settings)
    done = subprocess.run(
        [sys.executable, "-m", "vpsorg", "worker", "--host", "nosuch"],
        env=vpsorg_env(settings),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 3,
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "nosuch" in lines[0] and "Traceback" not in done.stderr, done.stderr
    assert "started" not in done.stdout
