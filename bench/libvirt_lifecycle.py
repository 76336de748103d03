"""Real guests on this machine: POST -> active, stop -> stopped, start -> active, each split
into control-plane time and guest time, and the worker's peak memory.

An API process (`vpsorg serve --no-worker`) and a worker process (`vpsorg worker`) on a
throwaway SQLite database, VPSORG_DRIVER=libvirt at qemu:///system, guests on an isolated
network (no packet to a guest's address), the image the tests build and cache. Needs root
and a running libvirtd (scripts/start-libvirtd.sh). Bounded: N servers, one at a time, and a
deadline per step.

    .venv/bin/python bench/libvirt_lifecycle.py [N]

Guest time is the driver call as the worker logged it (QEMU start to cloud-init finished in
the guest, ACPI press to power-off); control-plane time is the rest of the wall time the
client saw (HTTP, the queue, claim, the worker's transactions, the client's 0.1 s polling).
"""

import re
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import free_port, run_db, spawn, wait_http  # noqa: E402
from tests.drivers.libvirt.conftest import cached_image, open_lab  # noqa: E402
from tests.drivers.libvirt.real import (  # noqa: E402
    LOCATION,
    OS,
    PLAN,
    lab_settings,
    prepare_lab_database,
)

from vpsorg.accounts import service as accounts  # noqa: E402
from vpsorg.drivers.libvirt.domain import host_has_hardware_virtualization  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2
STEP_DEADLINE = 900.0


def wait(http: httpx.Client, sid: int, status: str) -> float:
    t0 = time.monotonic()
    while http.get(f"/api/v1/servers/{sid}/").json()["status"] != status:
        if time.monotonic() - t0 > STEP_DEADLINE:
            raise SystemExit(f"server {sid} not {status} within {STEP_DEADLINE:g} s")
        time.sleep(0.1)
    return time.perf_counter()


def driver_seconds(log: Path) -> list[tuple[str, float]]:
    pattern = r"action \d+: (\w+) took ([0-9.]+) s in the driver"
    return [(m.group(1), float(m.group(2))) for m in re.finditer(pattern, log.read_text())]


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    image = cached_image()
    with open_lab() as lab, tempfile.TemporaryDirectory() as tmp:
        settings = lab_settings(Path(tmp) / "bench.db", lab, log_level="info")
        prepare_lab_database(settings, image, vcpus=2)
        port = free_port()
        api = spawn(["serve", "--no-worker", "--port", str(port)], settings, Path(tmp) / "api.log")
        worker_log = Path(tmp) / "worker.log"
        worker = spawn(["worker"], settings, worker_log)
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz")

            async def make(session: Any) -> str:
                account = await accounts.create_account(
                    session, email="bench@example.com", credit=Decimal(1000)
                )
                return await accounts.create_token(session, account_id=account.id)

            http = httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {run_db(settings, make)}"},
                timeout=30,
            )
            wall: dict[str, list[float]] = {"create": [], "stop": [], "start": []}
            for i in range(N):
                t0 = time.perf_counter()
                r = http.post(
                    "/api/v1/servers/",
                    json={"name": f"bench-{i}", "plan_id": PLAN, "os_id": OS, "location": LOCATION},
                )
                sid = r.json()["id"]
                wall["create"].append(wait(http, sid, "active") - t0)
                t0 = time.perf_counter()
                http.post(f"/api/v1/servers/{sid}/stop/")
                wall["stop"].append(wait(http, sid, "stopped") - t0)
                t0 = time.perf_counter()
                http.post(f"/api/v1/servers/{sid}/start/")
                wall["start"].append(wait(http, sid, "active") - t0)
                http.delete(f"/api/v1/servers/{sid}/")
            time.sleep(1)
            guest: dict[str, list[float]] = {"create": [], "stop": [], "start": []}
            for kind, seconds in driver_seconds(worker_log):
                if kind.lower() in guest:
                    guest[kind.lower()].append(seconds)
            peak = peak_rss_mib(worker.popen.pid)
        finally:
            worker.stop()
            api.stop()
    virt = "KVM" if host_has_hardware_virtualization() else "TCG (no vmx/svm)"
    print(f"{N} servers, one at a time, {virt}; medians:")
    print(f"{'step':8} {'wall s':>8} {'guest s':>8} {'control plane s':>16}")
    for step in ("create", "stop", "start"):
        w, g = statistics.median(wall[step]), statistics.median(guest[step])
        print(f"{step:8} {w:8.2f} {g:8.2f} {w - g:16.2f}")
    print(f"worker peak RSS (VmHWM): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
