"""The API's read path with wrk: GET detail and list pages, for one or more source trees side
by side in one run (e.g. main's checkout before a change and this tree after it).

For each database and tree: a fresh database migrated by that tree, one account holding
SERVERS servers (bulk SQL), one API process (`vpsorg serve --no-worker`, pinned to core 0,
rate limiting on with memory storage and a limit the bench cannot reach), and wrk pinned to
core 1 (`wrk -t1 -c64 -d{SECONDS}s`): GET detail of random servers, then list pages of 50 at
page 1, the middle and the last page (page numbers), then by cursor where the tree offers it
(the `next` link of the page before). The API process's peak RSS is printed too. Loopback
only; each wrk run is bounded in time.

    VPSORG_BENCH_PG_URL=postgresql+psycopg://vpsorg:vpsorg@127.0.0.1:5432/postgres \\
      .venv/bin/python bench/read_path.py --tree before=/work/wt/before --tree after=.

Options: --servers N (10000), --seconds S (10), --depth (list page 1 at 1,000 and at
--depth-servers servers instead, PostgreSQL only, to show that pages do not slow with size).
"""

import argparse
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import free_port, run_db, test_settings, vpsorg_env, wait_http  # noqa: E402
from tests.databases import database_url, drop_created  # noqa: E402

from vpsorg.accounts import service as accounts  # noqa: E402
from vpsorg.catalog import service as catalog  # noqa: E402
from vpsorg.config import Settings  # noqa: E402

LUA_DETAIL = """
local lo, hi = {lo}, {hi}
local token = "{token}"
request = function()
  local headers = {{["Authorization"] = "Bearer " .. token}}
  return wrk.format("GET", "/api/v1/servers/" .. math.random(lo, hi) .. "/", headers)
end
"""
LUA_PATH = """
wrk.headers["Authorization"] = "Bearer {token}"
wrk.path = "{path}"
"""
SERIES = {
    "postgresql": "SELECT g FROM generate_series(1, :n) AS g",
    "sqlite": "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < :n) SELECT g FROM s",
}


def seed(settings: Settings, servers: int) -> tuple[str, int, int]:
    """The catalog, one account with a token, `servers` servers: (token, lowest id, highest id)."""
    run_db(settings, lambda s: catalog.load_catalog(s, catalog=catalog.read_catalog(None)))

    async def make(session: Any) -> tuple[str, int, int]:
        # Plain SQL: the trees' models may differ (a column one has and the other has not).
        now = {"now": "2026-01-01 00:00:00+00:00"}
        account = await session.scalar(
            text(
                "INSERT INTO accounts (email, balance, created_at)"
                " VALUES ('bench@example.com', 1000000, :now)"
                " RETURNING id"
            ),
            now,
        )
        token = accounts.TOKEN_PREFIX + secrets.token_urlsafe(32)
        await session.execute(
            text(
                "INSERT INTO api_tokens (account_id, token_hash, scope, name, created_at)"
                " VALUES (:account, :hash, 'write', 'bench', :now)"
            ),
            {"account": account, "hash": accounts.hash_token(token)} | now,
        )
        dialect = session.bind.dialect.name
        if dialect == "postgresql":  # a million trigger updates of one account row: recount after
            await session.execute(text("ALTER TABLE servers DISABLE TRIGGER USER"))
        await session.execute(
            text(
                "INSERT INTO servers (account_id, name, hostname, status, power_state, plan_id, os_id,"
                " location_id, backups_enabled, provisioned_at, created_at, updated_at, price_hourly,"
                " price_monthly, month_hours, month_backup_hours)"
                " SELECT :account, 'bench-' || g, 'bench-' || g || '.example.com', 'active', 'running',"
                " (SELECT min(id) FROM plans), (SELECT min(id) FROM operating_systems),"
                " (SELECT min(id) FROM locations), false, :now, :now, :now, 0.01, 5, 0, 0"
                f" FROM ({SERIES[dialect]}) AS series"
            ),
            {"account": account, "n": servers} | now,
        )
        if dialect == "postgresql":
            await session.execute(text("ALTER TABLE servers ENABLE TRIGGER USER"))
            columns = "SELECT 1 FROM information_schema.columns WHERE column_name = 'live_servers'"
            if await session.scalar(text(columns)):
                recount = "SELECT count(*) FROM servers WHERE account_id = :a AND deleted_at IS NULL"
                await session.execute(
                    text(f"UPDATE accounts SET live_servers = ({recount}) WHERE id = :a"), {"a": account}
                )
            if await session.scalar(text(columns.replace("'live_servers'", "'commitment_cents'"))):
                cents = "CAST(round(price_monthly * 100) AS bigint)"
                month = f"{cents} + CASE WHEN backups_enabled THEN ({cents} * 2 + 5) / 10 ELSE 0 END"
                live = "account_id = :a AND deleted_at IS NULL"
                recount = f"SELECT COALESCE(sum({month}), 0) FROM servers WHERE {live}"
                await session.execute(
                    text(f"UPDATE accounts SET commitment_cents = ({recount}) WHERE id = :a"), {"a": account}
                )
        lo, hi = (await session.execute(text("SELECT min(id), max(id) FROM servers"))).one()
        return token, lo, hi

    result: tuple[str, int, int] = run_db(settings, make)
    if settings.database_url.startswith("postgresql"):  # as autovacuum would have by then
        import psycopg

        dsn = settings.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    return result


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, script: str, seconds: int, tmp: Path, pid: int) -> tuple[float, float]:
    """(requests/s, the API process's CPU microseconds per request)."""
    path = tmp / "bench.lua"
    path.write_text(script)
    cpu = cpu_seconds(pid)
    out = subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            "wrk",
            "-t1",
            "-c64",
            f"-d{seconds}s",
            "--timeout",
            "30s",
            "-s",
            str(path),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    cpu = cpu_seconds(pid) - cpu
    found = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    done = re.search(r"([0-9]+) requests in", out)
    assert found and done, out
    return float(found.group(1)), 1e6 * cpu / max(1, int(done.group(1)))


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Api:
    """`vpsorg serve --no-worker` of one tree, pinned to core 0."""

    def __init__(self, tree: Path, settings: Settings, log: Path) -> None:
        self.port = free_port()
        env = vpsorg_env(settings) | {"PYTHONPATH": ""}
        python = str(tree / ".venv" / "bin" / "python")
        subprocess.run([python, "-m", "vpsorg", "migrate"], env=env, check=True, capture_output=True)
        self.env = env
        self.python = python
        self.log = log

    def start(self) -> None:
        cmd = ["taskset", "-c", "0", self.python, "-m", "vpsorg", "serve", "--no-worker"]
        cmd += ["--port", str(self.port)]
        out = open(self.log, "ab")  # noqa: SIM115 (closed with the process)
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_http(self.url + "/healthz", timeout=60)

    def stop(self) -> float:
        rss = rss_mib(self.proc.pid)
        self.proc.terminate()
        self.proc.wait(timeout=30)
        return rss


def list_paths(url: str, token: str, servers: int) -> dict[str, str]:
    """Page 1, the middle and the last page by number; and, if `next` is a cursor link, the
    page after the middle and the last by cursor."""
    last = (servers + 49) // 50
    paths = {"p1": "/api/v1/servers/?page_size=50"}
    paths["mid"] = f"/api/v1/servers/?page_size=50&page={last // 2}"
    paths["last"] = f"/api/v1/servers/?page_size=50&page={last}"
    http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    for name, page in (("cur-mid", last // 2 - 1), ("cur-last", last - 1)):
        nxt = http.get(f"/api/v1/servers/?page_size=50&page={page}").json()["next"]
        if nxt and "cursor=" in nxt:
            parts = urlsplit(nxt)
            paths[name] = f"{parts.path}?{parts.query}"
    return paths


def measure(
    tree: Path, db: str, pg: str, servers: int, seconds: int, tmp: Path
) -> dict[str, tuple[float, float]]:
    path = tmp / f"{tree.name}-{db}.db"
    url = database_url(path, postgresql=pg if db == "postgresql" else "")
    settings = test_settings(path, database_url=url, rate_limit="100000000/minute")
    api = Api(tree, settings, tmp / f"{tree.name}-{db}.log")
    token, lo, hi = seed(settings, servers)
    api.start()
    try:
        pid = api.proc.pid
        out = {"detail": wrk(api.url, LUA_DETAIL.format(lo=lo, hi=hi, token=token), seconds, tmp, pid)}
        for name, p in list_paths(api.url, token, servers).items():
            out[name] = wrk(api.url, LUA_PATH.format(token=token, path=p), seconds, tmp, pid)
    finally:
        out["rss_mib"] = (api.stop(), 0.0)
    return out


def depth(tree: Path, pg: str, sizes: list[int], seconds: int, tmp: Path) -> dict[int, tuple[float, float]]:
    """List page 1 (and the last page by cursor) at each database size, PostgreSQL."""
    out: dict[int, tuple[float, float]] = {}
    for n in sizes:
        path = tmp / f"{tree.name}-depth-{n}.db"
        url = database_url(path, postgresql=pg)
        settings = test_settings(path, database_url=url, rate_limit="100000000/minute")
        api = Api(tree, settings, tmp / f"{tree.name}-depth.log")
        token, _, _ = seed(settings, n)
        api.start()
        try:
            paths = list_paths(api.url, token, n)
            pid = api.proc.pid
            out[n] = wrk(api.url, LUA_PATH.format(token=token, path=paths["p1"]), seconds, tmp, pid)
            if "cur-last" in paths:
                out[-n] = wrk(
                    api.url, LUA_PATH.format(token=token, path=paths["cur-last"]), seconds, tmp, pid
                )
        finally:
            api.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", action="append", default=[], help="name=path (repeatable)")
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--db", action="append", default=[], help="sqlite, postgresql (default: both)")
    parser.add_argument("--depth-servers", type=int, default=0, help="also list page 1 at 1,000 and N (PG)")
    args = parser.parse_args()
    trees = [(t.split("=", 1)[0], Path(t.split("=", 1)[1]).resolve()) for t in args.tree or ["this=."]]
    pg = os.environ.get("VPSORG_BENCH_PG_URL", "")
    dbs = args.db or (["sqlite", "postgresql"] if pg else ["sqlite"])
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        try:
            for db in dbs:
                for name, tree in trees:
                    r = measure(tree, db, pg, args.servers, args.seconds, tmp)
                    cells = "  ".join(f"{k}={v:.0f}/{c:.0f}us" for k, (v, c) in r.items())
                    print(f"{db:10} {name:8} {cells}", flush=True)
            if args.depth_servers and pg:
                for name, tree in trees:
                    d = depth(tree, pg, [1000, args.depth_servers], args.seconds, tmp)
                    cells = "  ".join(
                        f"{'cursor-last' if n < 0 else 'page1'}@{abs(n)}={v:.0f}/{c:.0f}us"
                        for n, (v, c) in d.items()
                    )
                    print(f"{'pg depth':10} {name:8} {cells}", flush=True)
        finally:
            drop_created()
    print(
        f"({args.servers} servers in one account; wrk -t1 -c64 -d{args.seconds}s; req/s; "
        f"{time.monotonic() - started:.0f} s in all)"
    )


if __name__ == "__main__":
    main()
