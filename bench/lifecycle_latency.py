"""Time from POST to `active` and from stop to `stopped`, through the real API and worker.

Runs `vpsorg serve` in-process on a throwaway SQLite database with the simulator at time
scale 0, so what is measured is the control plane alone (HTTP, transactions, the worker's
claim and record). Prints medians and the ratio of the two in one run. Loopback only;
bounded to N servers and a deadline.

    .venv/bin/python bench/lifecycle_latency.py [N]
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import prepare_database, serve_in_thread, test_settings  # noqa: E402

from vpsorg.accounts import limits  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 30
DEADLINE = time.monotonic() + 120


def wait(http, sid: int, status: str) -> None:  # type: ignore[no-untyped-def]
    while http.get(f"/api/v1/servers/{sid}/").json()["status"] != status:
        if time.monotonic() > DEADLINE:
            raise SystemExit("deadline reached")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = test_settings(
            Path(tmp) / "bench.db", metrics_interval_seconds=60, reconcile_interval_seconds=60
        )
        prepare_database(settings)
        with serve_in_thread(settings, log_level="critical") as live:
            customer = live.account(credit="100000")
            raise_limit = {limits.Resource.SERVERS: N}  # an operator's override of the quota (default 25)
            live.db(lambda s: limits.set_limits(s, account_id=customer.account_id, changes=raise_limit))
            http = customer.http
            create, stop = [], []
            for i in range(N):
                t0 = time.perf_counter()
                sid = http.post(
                    "/api/v1/servers/",
                    json={"name": f"b{i}", "plan_id": 3, "os_id": 5, "location": "us-west"},
                ).json()["id"]
                wait(http, sid, "active")
                create.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                http.post(f"/api/v1/servers/{sid}/stop/")
                wait(http, sid, "stopped")
                stop.append(time.perf_counter() - t0)
    c, s = statistics.median(create), statistics.median(stop)
    print(f"servers: {N}, simulator time scale 0 (control plane only)")
    print(f"POST -> active   median {c * 1000:7.1f} ms  p90 {sorted(create)[int(N * 0.9)] * 1000:7.1f} ms")
    print(f"stop -> stopped  median {s * 1000:7.1f} ms  p90 {sorted(stop)[int(N * 0.9)] * 1000:7.1f} ms")
    print(f"ratio create/stop: {c / s:.2f}")


if __name__ == "__main__":
    main()
