"""The panel's servers pages for an account with 1,000 servers: time, bytes and SQL statements.

For each size (an account with 50 servers, one full page, and with --servers, 1,000 by
default) a fresh database (a temporary SQLite file, or a scratch database on the PostgreSQL
server of `--postgresql`, dropped at the end) gets the catalog and one account with a panel
password and that many active servers, ordered through the service, the one whose page is measured
with a week of usage history. Then:

- statements: an in-process server without a worker serves each page once to warm up and
  once counted (tests/web/queries.counting: the engine's statements and the hot reads');
- time: `vpsorg serve --no-worker` in a process of its own (pinned to CPU 0 where taskset
  exists) answers --requests GETs of each page, one at a time, from a logged-in client here;
  the median and p99 of the wall time per request (loopback HTTP included) and the bytes.

Pages: the list (page 1), the list's last page by cursor, the list filtered (name search
and status), the live rows answering 204 (nothing changed, htmx's every poll), a server's
page, and the create form. Prints the ratio of the list's median at the large size to the
small one. Asserts nothing; bounded by --requests.

    .venv/bin/python bench/panel.py [--servers 1000] [--requests 200] [--postgresql URL]
"""

import argparse
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from tests.conftest import (  # noqa: E402
    Proc,
    free_port,
    prepare_database,
    run_db,
    serve_in_thread,
    test_settings,
    vpsorg_env,
    wait_http,
)
from tests.databases import database_url, drop_created  # noqa: E402
from tests.web.panel import browser_client, browser_client_at, log_in, panel_account  # noqa: E402
from tests.web.queries import add_servers, counting  # noqa: E402

from vpsorg.catalog import service as catalog  # noqa: E402
from vpsorg.catalog.schemas import CatalogIn  # noqa: E402
from vpsorg.config import Settings  # noqa: E402
from vpsorg.usage.models import UsageHistory  # noqa: E402


def pages(http: httpx.Client, ids: list[int]) -> dict[str, str]:
    """Each page measured, by what it is."""
    first = http.get("/servers/").text
    rows = re.search(r'<tbody id="server-rows" hx-get="([^"]+)"', first)
    assert rows, first[:2000]
    last = f"/servers/?cursor=b{ids[-1] + 1}"  # the last page, as a `previous` link names it
    return {
        "list": "/servers/",
        "list, last page": last,
        "list, filtered": "/servers/?name=srv-0&status=active",
        "rows poll (204)": rows.group(1).replace("&amp;", "&"),
        "server page": f"/servers/{ids[len(ids) // 2]}/",
        "create form": "/servers/new",
    }


SMALL = 50  # one full page: the two sizes render the same rows, and differ in what is stored

# Two locations with room for any number of servers (their addresses are only stored).
LOCATIONS = [
    {
        "code": f"bench-{i}",
        "name": f"Bench {i}",
        "country": "ZZ",
        "ipv4_pool": f"10.{i}.0.0/16",
        "ipv4_gateway": f"10.{i}.0.1",
        "ipv6_pool": f"2001:db8:be{i}::/64",
        "ipv6_gateway": f"2001:db8:be{i}::1",
    }
    for i in (1, 2)
]


def seed(settings: Settings, n: int) -> tuple[str, list[int]]:
    """The catalog, an account with a password and n active servers: (email, server ids)."""
    prepare_database(settings)
    extra = CatalogIn.model_validate({"locations": LOCATIONS})
    run_db(settings, lambda s: catalog.load_catalog(s, catalog=extra))
    with serve_in_thread(settings, run_worker=False) as live:
        account_id, email = panel_account(live, credit="0")
        ids = add_servers(live.db, account_id, n, locations=tuple(loc["code"] for loc in LOCATIONS))
    run_db(settings, lambda s: s.execute(UsageHistory.__table__.insert(), history(ids[len(ids) // 2])))
    return email, ids


def history(server_id: int) -> list[dict[str, Any]]:
    """A week of usage as the worker would have kept it: hourly means up to the last whole
    hour, 5-minute means for 7 days and a raw sample a minute for the last hour (what the
    server page's charts read)."""
    now = int(time.time())
    rows = [(0, t, 1) for t in range(now - 3600, now, 60)]
    rows += [(300, t, 5) for t in range((now - 7 * 86400) // 300 * 300, now - 3600, 300)]
    rows += [(3600, t, 60) for t in range((now - 8 * 86400) // 3600 * 3600, now // 3600 * 3600 - 3600, 3600)]
    return [
        {
            "server_id": server_id,
            "tier": tier,
            "time": t,
            "samples": samples,
            "cpu_percent": 20 + 15 * math.sin(t / 7200),
            "memory_used": 900 + t % 300,
            "disk_used": 8.0,
            "bandwidth_used": (t % (30 * 86400)) / 86400,
        }
        for tier, t, samples in rows
    ]


def statements(settings: Settings, email: str, ids: list[int]) -> dict[str, int]:
    with serve_in_thread(settings, run_worker=False) as live:
        http = browser_client(live)
        assert log_in(http, email).status_code == 303
        counts = {}
        for name, path in pages(http, ids).items():
            http.get(path)  # the first of a kind compiles its statements
            with counting(live.app) as seen:
                http.get(path)
            counts[name] = len(seen)
    return counts


def serve(settings: Settings, port: int, log: Path) -> Proc:
    """`vpsorg serve --no-worker`, pinned to CPU 0 where taskset exists (this client on CPU 1)."""
    taskset = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    out = open(log, "ab")  # noqa: SIM115 (closed with the process)
    popen = subprocess.Popen(
        [*taskset, sys.executable, "-m", "vpsorg", "serve", "--no-worker", "--port", str(port)],
        env=vpsorg_env(settings),
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    return Proc(popen, log)


def timed(settings: Settings, email: str, ids: list[int], requests: int, log: Path) -> dict[str, Any]:
    port = free_port()
    proc = serve(settings, port, log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthz")
        http = browser_client_at(url)
        assert log_in(http, email).status_code == 303
        results: dict[str, Any] = {}
        for name, path in pages(http, ids).items():
            for _ in range(5):  # warm-up
                http.get(path)
            took, size, status = [], 0, 0
            for _ in range(requests):
                t0 = time.perf_counter()
                answer = http.get(path)
                took.append(time.perf_counter() - t0)
                size, status = len(answer.content), answer.status_code
            took.sort()
            p99 = took[min(len(took) - 1, int(len(took) * 0.99))]
            results[name] = {"median": statistics.median(took), "p99": p99, "bytes": size, "status": status}
        return results
    finally:
        proc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=1000, help="the large account's servers")
    parser.add_argument("--requests", type=int, default=200, help="GETs of each page, per size")
    parser.add_argument("--postgresql", default=None, help="a PostgreSQL server URL (default: SQLite)")
    args = parser.parse_args()
    sizes = (SMALL, args.servers)
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the client here, the server on CPU 0
    print(f"database: {'PostgreSQL' if args.postgresql else 'SQLite'}; {args.requests} GETs of each page")
    medians: dict[int, float] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for n in sizes:
                path = Path(tmp) / f"panel-{n}.db"
                url = database_url(path, postgresql=args.postgresql or "")
                settings = test_settings(path, log_level="warning", database_url=url)
                t0 = time.perf_counter()
                email, ids = seed(settings, n)
                print(f"\n{n} servers (seeded in {time.perf_counter() - t0:.0f} s)", flush=True)
                counts = statements(settings, email, ids)
                results = timed(settings, email, ids, args.requests, Path(tmp) / f"serve-{n}.log")
                print(f"  {'page':<18} {'status':>6} {'median ms':>10} {'p99 ms':>8} {'bytes':>8} {'SQL':>4}")
                for name, r in results.items():
                    print(
                        f"  {name:<18} {r['status']:>6} {r['median'] * 1000:>10.2f} {r['p99'] * 1000:>8.2f}"
                        f" {r['bytes']:>8} {counts[name]:>4}"
                    )
                medians[n] = results["list"]["median"]
    finally:
        drop_created()
    small, large = sizes
    print(f"\nlist page median, {large} servers / {small}: {medians[large] / medians[small]:.2f}")


if __name__ == "__main__":
    main()
