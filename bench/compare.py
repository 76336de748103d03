"""vpsorg side by side with a Django REST Framework peer and a raw one-query handler (`make bench`).

Every server is one process pinned to CPU 0 (`taskset -c 0`); wrk (1 thread, 64
connections, perf-lab's bench.lua) is pinned to CPU 1. One at a time, in rounds that
interleave them (the order reversed every other round), each server is started, warmed
up, measured on GET /api/v1/servers/{id}/ (random ids of the account) and on list pages
of 50 (first / middle / last), and stopped. Printed: the median req/s of the rounds (±
half their spread), the ratios vpsorg/DRF and vpsorg/raw, each server's peak RSS and the
size of the payloads it answered. Loopback only; every run is bounded in time.

vpsorg: for each `--vpsorg [LABEL=]PATH` (a checkout with `.venv/bin/vpsorg`, default this
one) and database, a fresh database (`vpsorg migrate`, the default catalog plus a bench
location, `vpsorg accounts create`, `vpsorg tokens create`), then one account's 10,000
active, provisioned servers inserted in bulk (addresses from the location's pool, its
allocation counters set to match). With `--servers N` (> 10,000) the database holds N servers
in N/10,000 accounts of 10,000 each, the benched account's servers interleaved with theirs.

Peers (perf-lab, ../shared/perf-lab, copied to .bench/perf-lab with its own venv in
.bench/venv from its requirements.lock.txt): Django 5.2 + DRF ModelViewSet under gunicorn
(1 sync worker) and FastAPI + one raw asyncpg query (PostgreSQL only), on perf-lab's
seeded rows: 10,000 servers joined with their plan, whatever --servers says.

PostgreSQL: `--postgresql URL` or VPSORG_BENCH_DATABASE_URL (default the local cluster);
every database this makes there is dropped at the end. Unreachable: SQLite only.
"""

import argparse
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import yaml
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
LAB_SRC = Path(os.environ.get("VPSORG_BENCH_PERF_LAB", ROOT.parent / "shared" / "perf-lab"))
WORK = ROOT / ".bench"
LAB, PEER_VENV = WORK / "perf-lab", WORK / "venv"
PEER_TOKEN = "perflab-static-token-0123456789abcdef"  # perf-lab's static token (apps/payload.py)
ACCOUNT = 10_000  # servers in the benched account (and rows in the peers' table)
RATE_LIMIT = "100000000/minute"  # raised so it never answers 429 here, but still counted
DEFAULT_PG = "postgresql+psycopg://vpsorg:vpsorg@127.0.0.1:5432/postgres"
SERVER_CPU, CLIENT_CPU = "0", "1"
POOL4, POOL6 = ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:be::/64")
BENCH_LOCATION = {  # nothing is ever sent to these addresses: the API is read, no worker runs
    "code": "bench", "name": "Bench", "country": "ZZ", "ipv4_pool": str(POOL4), "ipv4_gateway": "10.0.0.1",
    "ipv6_pool": str(POOL6), "ipv6_gateway": "2001:db8:be::1",
}  # fmt: skip
ROUTES = ["detail", "list p1", "list mid", "list last"]
DBS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
created_pg: list[tuple[str, str]] = []  # (admin URL, database) to drop at the end


def run(cmd: list[Any], env: dict[str, str] | None = None, timeout: float = 600) -> str:
    out = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode:
        raise SystemExit(f"failed ({out.returncode}): {' '.join(map(str, cmd))}\n{out.stdout}{out.stderr}")
    return out.stdout


def libpq(url: str, database: str | None = None) -> str:
    """A SQLAlchemy URL (any driver) as psycopg's conninfo, optionally for another database."""
    u = make_url(url).set(drivername="postgresql")
    return (u.set(database=database) if database else u).render_as_string(hide_password=False)


def create_pg(admin_url: str, name: str) -> str:
    with psycopg.connect(libpq(admin_url), autocommit=True, connect_timeout=5) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}"')
        con.execute(f'CREATE DATABASE "{name}"')
    created_pg.append((admin_url, name))
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_created_pg() -> None:
    for admin_url, name in created_pg:
        with psycopg.connect(libpq(admin_url), autocommit=True, connect_timeout=5) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_reachable(url: str) -> bool:
    try:
        psycopg.connect(libpq(url), connect_timeout=5).close()
        return True
    except psycopg.Error:
        return False


# ------------------------------------------------------------------ vpsorg: seeding
def server_rows(n: int, accounts: list[int], location: int, plans: list[Any], stamp: Any) -> Any:
    """Server s (1..n) holds host s of each pool (host 0 is the gateway); the benched account
    (accounts[0]) owns every k-th server, the other accounts the ones between."""
    k, month = len(accounts), datetime.now(UTC).strftime("%Y-%m")
    for s in range(1, n + 1):
        plan, hourly, monthly = plans[s % len(plans)]
        v4, v6 = POOL4.network_address + 1 + s, POOL6.network_address + 1 + s
        yield (s, accounts[s % k], f"web-{s}", f"web-{s}.example.com", "active", "running", plan,
               1 + s % 7, location, s % 3 == 0, str(v4), str(v6), stamp, stamp, stamp, hourly, monthly,
               stamp, month, 0, 0)  # fmt: skip


SERVER_COLUMNS = (
    "id, account_id, name, hostname, status, power_state, plan_id, os_id, location_id, backups_enabled, "
    "ipv4_address, ipv6_address, provisioned_at, created_at, updated_at, price_hourly, price_monthly, "
    "billed_until, billing_month, month_hours, month_backup_hours"
)


def bulk_insert(con: Any, sqlite: bool, n: int, bench_account: int) -> None:
    """Other accounts (copies of the benched one), the servers, the allocator's counters: one transaction."""
    mark = "?" if sqlite else "%s"
    cur = con.cursor()
    cur.execute("SELECT * FROM accounts LIMIT 0")
    copied = ", ".join(d[0] for d in cur.description if d[0] not in ("id", "email"))
    accounts = [bench_account]
    for j in range(1, layout(n)[1]):
        cur.execute(f"INSERT INTO accounts (email, {copied}) SELECT {mark}, {copied} FROM accounts "
                    f"WHERE id = {mark} RETURNING id", (f"other-{j}@example.com", bench_account))  # fmt: skip
        accounts.append(cur.fetchone()[0])
    cur.execute(f"UPDATE accounts SET server_limit = {mark}", (layout(n)[0],))
    location = cur.execute("SELECT id FROM locations WHERE code = 'bench'").fetchone()[0]
    plans = cur.execute("SELECT id, price_hourly, price_monthly FROM plans ORDER BY id").fetchall()
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else now  # SQLAlchemy's SQLite format
    rows = server_rows(n, accounts, location, plans, stamp)
    if sqlite:
        cur.executemany(f"INSERT INTO servers ({SERVER_COLUMNS}) VALUES ({', '.join('?' * 21)})", rows)
    else:
        # The triggers that keep per-account counters would update an account row per server
        # (a million updates of a hundred rows in one transaction: many minutes); off for the
        # load, then the counters they keep are counted once.
        cur.execute("ALTER TABLE servers DISABLE TRIGGER USER")
        with cur.copy(f"COPY servers ({SERVER_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute("ALTER TABLE servers ENABLE TRIGGER USER")
        cur.execute("SELECT setval(pg_get_serial_sequence('servers', 'id'), %s)", (n,))
        cur.execute("SELECT * FROM accounts LIMIT 0")
        kept = {d[0] for d in cur.description}
        live = "FROM servers WHERE servers.account_id = accounts.id AND servers.deleted_at IS NULL"
        if "live_servers" in kept:
            cur.execute(f"UPDATE accounts SET live_servers = (SELECT count(*) {live})")
        if "commitment_cents" in kept:  # as its migration counts it (month_cents)
            m = "CAST(round(servers.price_monthly * 100) AS bigint)"
            month = f"({m} + CASE WHEN servers.backups_enabled THEN ({m} * 2 + 5) / 10 ELSE 0 END)"
            cur.execute(f"UPDATE accounts SET commitment_cents = COALESCE((SELECT sum({month}) {live}), 0)")
    cur.execute("SELECT * FROM locations LIMIT 0")
    if "ipv4_next_host" in [d[0] for d in cur.description]:  # hosts 0 (gateway) .. n are taken
        cur.execute(f"UPDATE locations SET ipv4_next_host = {mark}, ipv6_next_host = {mark} "
                    f"WHERE id = {mark}", (n + 1, n + 1, location))  # fmt: skip
    con.commit()


def layout(n: int) -> tuple[int, int]:
    """The benched account's servers and the number of accounts (a power of ten) for n servers."""
    per = min(n, ACCOUNT)
    if n < 1 or n % per or f"{n // per}".rstrip("0") != "1":
        raise SystemExit(f"--servers {n}: at most {ACCOUNT:,}, or {ACCOUNT:,} times a power of ten")
    return per, n // per


def seed_vpsorg(label: str, checkout: Path, db: str, n: int, pg_url: str, tmp: Path) -> dict[str, Any]:
    vpsorg = checkout / ".venv" / "bin" / "vpsorg"
    name = f"vpsorg_bench_{label}_{n}_{os.getpid()}".lower().replace("-", "_")
    url = f"sqlite+aiosqlite:///{tmp / name}.db" if db == "sqlite" else create_pg(pg_url, name)
    env = dict(os.environ, VPSORG_DATABASE_URL=url, VPSORG_RATE_LIMIT=RATE_LIMIT, VPSORG_LOG_LEVEL="warning")
    started = time.monotonic()
    run([vpsorg, "migrate"], env)
    catalog = yaml.safe_load((checkout / "src" / "vpsorg" / "catalog" / "default.yaml").read_text())
    catalog["locations"].append(BENCH_LOCATION)  # the default catalog and the bench location
    (tmp / "catalog.json").write_text(json.dumps(catalog))
    run([vpsorg, "catalog", "load", tmp / "catalog.json"], env)
    account = int(run([vpsorg, "accounts", "create", "--email", "bench@example.com", "--credit", "1000000"],
                      env).split()[-1])  # fmt: skip
    token = run([vpsorg, "tokens", "create", "--account", account, "--name", "bench"], env).split()[-1]
    if db == "sqlite":
        import sqlite3

        with sqlite3.connect(tmp / f"{name}.db") as con:
            bulk_insert(con, True, n, account)
    else:
        with psycopg.connect(libpq(url)) as con:
            bulk_insert(con, False, n, account)
        with psycopg.connect(libpq(url), autocommit=True) as con:
            con.execute("VACUUM ANALYZE")  # what autovacuum does after a load this size
    per, k = layout(n)
    print(f"  seeded {label} {DBS[db]} with {n:,} servers in {time.monotonic() - started:.0f} s", flush=True)
    pages = -(-per // 50)
    return dict(
        key=(label, db, n), cmd=[vpsorg, "serve", "--no-worker", "--host", "127.0.0.1", "--port", "{port}"],
        env=env, token=token, count=per,
        # the account's ids are the multiples of k: bench.lua's random 1..per, then k's zeros
        detail=(f"/api/v1/servers/%d{'0' * (len(str(k)) - 1)}/", per),
        lists={"list p1": "/api/v1/servers/?page_size=50&page=1",
               "list mid": f"/api/v1/servers/?page_size=50&page={max(1, pages // 2)}",
               "list last": f"/api/v1/servers/?page_size=50&page={pages}"},
    )  # fmt: skip


# ------------------------------------------------------------------ peers (perf-lab)
def prepare_peers(dbs: list[str], pg_url: str) -> list[dict[str, Any]]:
    lock = LAB_SRC / "requirements.lock.txt"
    stamp = PEER_VENV / f".lock-{hashlib.sha256(lock.read_bytes()).hexdigest()[:12]}"
    if not stamp.exists():
        print("  creating the peers' venv in .bench/venv (once)", flush=True)
        shutil.rmtree(PEER_VENV, ignore_errors=True)
        run([sys.executable, "-m", "venv", PEER_VENV])
        run(
            [PEER_VENV / "bin" / "pip", "install", "-q", "--disable-pip-version-check", "-r", lock], None, 900
        )
        stamp.touch()
    shutil.rmtree(LAB, ignore_errors=True)  # a fresh, writable copy (perf-lab writes data/ beside itself)
    shutil.copytree(LAB_SRC, LAB, copy_function=shutil.copyfile, ignore=shutil.ignore_patterns("data"))
    for d, _, _ in os.walk(LAB):
        os.chmod(d, 0o755)
    py, apps, dj = PEER_VENV / "bin" / "python", LAB / "apps", LAB / "apps" / "djproj"
    env = {**os.environ, "PYTHONPATH": f"{apps}:{dj}", "N_SERVERS": str(ACCOUNT)}
    run([py, apps / "seed_db.py"], env)
    pages = [0, (ACCOUNT // 50 // 2 - 1) * 50, ACCOUNT - 50]  # the same pages as vpsorg's
    drf_lists = {r: f"/api/v1/servers/?limit=50&offset={o}" for r, o in zip(ROUTES[1:], pages, strict=True)}
    gunicorn = [PEER_VENV / "bin" / "gunicorn", "-w", "1", "-k", "sync", "-b", "127.0.0.1:{port}",
                "--backlog", "2048", "--chdir", dj, "--log-level", "warning",
                "djproj.wsgi:application"]  # fmt: skip
    peers = []
    common = dict(token=PEER_TOKEN, count=ACCOUNT, detail=("/api/v1/servers/%d/", ACCOUNT))
    if "sqlite" in dbs:
        peers.append(dict(common, key=("DRF", "sqlite", 0), cmd=gunicorn, lists=drf_lists,
                          env={**env, "DJANGO_SETTINGS_MODULE": "djproj.settings"}))  # fmt: skip
    if "postgresql" in dbs:
        url = libpq(create_pg(pg_url, f"perflab_bench_{os.getpid()}"))
        run([py, apps / "seed_pg.py"], {**env, "PG_DSN": url})
        u = make_url(url)
        (dj / "bench_settings.py").write_text(
            "from djproj.settings import *  # noqa\n"
            f"DATABASES['default'] = {dict(ENGINE='django.db.backends.postgresql', NAME=u.database, USER=u.username, PASSWORD=u.password, HOST=u.host, PORT=str(u.port or 5432), CONN_MAX_AGE=None)!r}\n"  # noqa: E501
        )
        peers.append(dict(common, key=("DRF", "postgresql", 0), cmd=gunicorn, lists=drf_lists,
                          env={**env, "DJANGO_SETTINGS_MODULE": "bench_settings"}))  # fmt: skip
        raw = [PEER_VENV / "bin" / "uvicorn", "fastapi_app:app", "--app-dir", apps, "--host", "127.0.0.1",
               "--port", "{port}", "--loop", "uvloop", "--http", "httptools", "--no-access-log",
               "--log-level", "warning", "--backlog", "2048"]  # fmt: skip
        raw_detail = ("/api/v1/pg/raw/servers/%d/", ACCOUNT)
        peers.append(dict(common, key=("raw", "postgresql", 0), cmd=raw, lists={}, detail=raw_detail,
                          env={**env, "PG_DSN": url}))  # fmt: skip
    return peers


# ------------------------------------------------------------------ measuring
def get(url: str, token: str) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def group(pgid: int) -> list[int]:
    pids = []
    for d in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rfind(")") + 2 :].split()[2]) == pgid:
            pids.append(int(d))
    return pids


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = (s := Path(f"/proc/{pid}/stat").read_text())[s.rfind(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total


def peak_rss_mb(pids: list[int]) -> float:
    """VmHWM summed over the server's processes (gunicorn: master + worker)."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


def wrk(pgid: int, url: str, token: str, seconds: int, mode: list[str]) -> dict[str, Any]:
    """One wrk run; then wait (at most 10 s) until the server is idle: the requests that the
    closed connections left queued (gunicorn's backlog) must not run into the next one."""
    lua = LAB_SRC / "bench" / "lua" / "bench.lua"
    cmd = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", "-c64", f"-d{seconds}s", "--timeout", "10s",
           "-H", f"Authorization: Bearer {token}", "-s", lua, url, "--", *mode]  # fmt: skip
    out = run(cmd, timeout=seconds + 30)
    for _ in range(40):
        before = cpu_ticks(group(pgid))
        time.sleep(0.25)
        if cpu_ticks(group(pgid)) - before <= 1:  # under 4 % of a core
            break
    for line in out.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[8:])
    raise SystemExit(f"wrk printed no summary: {cmd}")


def measure(target: dict[str, Any], seconds: int, warmup: int) -> dict[str, Any]:
    """Start the server, check its payloads, warm it up, measure each route, stop it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    cmd = ["taskset", "-c", SERVER_CPU] + [str(c).replace("{port}", str(port)) for c in target["cmd"]]
    log = open(WORK / "server.log", "ab")
    proc = subprocess.Popen(cmd, env=target["env"], stdout=log, stderr=log, start_new_session=True)
    template, maxid = target["detail"]
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{target['key']} did not start; see .bench/server.log")
            try:
                if get(base + template % 1, target["token"])[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        sizes = {"detail": len(get(base + template % maxid, target["token"])[1])}
        for route, path in target["lists"].items():
            status, body = get(base + path, target["token"])
            page = json.loads(body)
            if status != 200 or page["count"] != target["count"] or len(page["results"]) != 50:
                raise SystemExit(f"{target['key']} {path}: {status} {body[:300]!r}")
            sizes[route] = len(body)
        wrk(proc.pid, base, target["token"], warmup, ["randid", template, str(maxid)])
        rps = {}
        for route in ROUTES:
            mode = ["randid", template, str(maxid)] if route == "detail" else ["fixed"]
            if route != "detail" and route not in target["lists"]:
                continue
            url = base + target["lists"].get(route, "")
            if route != "detail":
                wrk(proc.pid, url, target["token"], 1, mode)  # its queries' plans and pages warm too
            r = wrk(proc.pid, url, target["token"], seconds, mode)
            errors = sum(v for k, v in r.items() if k.startswith("err_"))
            if errors:
                raise SystemExit(f"{target['key']} {route}: {errors} errors (non-2xx or socket): {r}")
            rps[route] = r["requests"] / (r["duration_us"] / 1e6)
        return dict(rps=rps, rss=peak_rss_mb(group(proc.pid)), sizes=sizes)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


# ------------------------------------------------------------------ report
def report(results: dict[Any, list[Any]], labels: list[str], sizes: list[int], dbs: list[str]) -> None:
    many = sizes != [ACCOUNT]

    def med(key: Any, route: str) -> tuple[float, float] | None:
        vals = [r["rps"][route] for r in results.get(key, []) if route in r["rps"]]
        return (statistics.median(vals), (max(vals) - min(vals)) / 2) if vals else None

    cols = [*labels, "DRF", "raw"]
    ratios = [(a, b) for b in ("DRF", "raw") for a in labels] + [(labels[-1], labels[0])] * (len(labels) > 1)
    head = f"{'req/s (median ± half spread)':<34}" + "".join(f"{c:>15}" for c in cols)
    print("\n" + head + "".join(f"{a + '/' + b:>14}" for a, b in ratios))
    for n in sizes:
        for db in dbs:
            for route in ROUTES:
                row = {c: med((c, db, n if c in labels else 0), route) for c in cols}
                name = f"{route.replace('detail', 'GET detail')}, {DBS[db]}" + (f", {n:,}" if many else "")
                cells = "".join(f"{f'{v[0]:,.0f} ±{v[1]:.0f}' if v else '–':>15}" for v in row.values())
                rat = "".join(
                    f"{row[a][0] / row[b][0]:>13.2f}x" if row[a] and row[b] and row[b][0] else f"{'–':>14}"
                    for a, b in ratios
                )
                print(f"{name:<34}{cells}{rat}")
    print(f"\n{'server':<32}{'peak RSS MB':>12}  payload bytes (detail / list p1 / mid / last)")
    for key, runs in results.items():
        label, db, n = key
        name = f"{label} {DBS[db]}" + (f" {n:,}" if n and many else "")
        payload = " / ".join(map(str, runs[-1]["sizes"].values()))
        print(f"{name:<32}{max(r['rss'] for r in runs):>12.0f}  {payload}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vpsorg", action="append", metavar="[LABEL=]PATH", help="a checkout (repeatable)")
    ap.add_argument("--servers", action="append", type=int, metavar="N", help="in the database (repeatable)")
    ap.add_argument(
        "--postgresql", metavar="URL", default=os.environ.get("VPSORG_BENCH_DATABASE_URL", DEFAULT_PG)
    )
    ap.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5, help="seconds per measurement (at most 60)")
    ap.add_argument("--warmup", type=int, default=3, help="seconds of warmup per server start (at most 60)")
    ap.add_argument("--no-peers", action="store_true")
    a = ap.parse_args()
    if not (0 < a.seconds <= 60 and 0 < a.warmup <= 60 and 1 <= a.rounds <= 10):
        ap.error("--seconds and --warmup in (0, 60], --rounds in 1..10")
    checkouts = {}
    for spec in a.vpsorg or [str(ROOT)]:
        label, _, path = spec.rpartition("=") if "=" in spec else (Path(spec).resolve().name, "", spec)
        checkouts[label] = Path(path).resolve()
    dbs = [d for d in a.databases.split(",") if d in DBS]
    if "postgresql" in dbs and not pg_reachable(a.postgresql):
        print(f"PostgreSQL at {make_url(a.postgresql)!r} unreachable: SQLite only")
        dbs.remove("postgresql")
    if not (LAB_SRC / "bench" / "lua" / "bench.lua").exists():  # wrk's script; the peers
        ap.error(f"no perf-lab at {LAB_SRC}: set VPSORG_BENCH_PERF_LAB")
    sizes = a.servers or [ACCOUNT]
    for n in sizes:
        layout(n)
    WORK.mkdir(exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=WORK) as tmp:
            print("seeding", flush=True)
            targets = [] if a.no_peers else prepare_peers(dbs, a.postgresql)
            targets[:0] = [seed_vpsorg(label, path, db, n, a.postgresql, Path(tmp))
                           for n in sizes for db in dbs for label, path in checkouts.items()]  # fmt: skip
            runs = sum(1 + len(t["lists"]) for t in targets)
            est = a.rounds * (runs * (a.seconds + 2) + len(targets) * (a.warmup + 10)) / 60
            print(f"{len(targets)} servers, {runs} measurements, {a.rounds} rounds: {est:.0f} min or more")
            results: dict[Any, list[dict[str, Any]]] = {}
            for i in range(a.rounds):
                for t in targets if i % 2 == 0 else targets[::-1]:
                    r = measure(t, a.seconds, a.warmup)
                    results.setdefault(t["key"], []).append(r)
                    print(f"  round {i + 1} {t['key'][0]} {t['key'][1]} {t['key'][2] or ''}: "
                          + " ".join(f"{k} {v:.0f}" for k, v in r["rps"].items()), flush=True)  # fmt: skip
    finally:
        drop_created_pg()
    print(
        f"\nc=64, wrk -t1 on CPU {CLIENT_CPU}, each server one process on CPU {SERVER_CPU}; {a.rounds} "
        f"rounds of {a.seconds} s per measurement; the account: {ACCOUNT:,} servers (peers: {ACCOUNT:,} rows)"
    )
    report(results, list(checkouts), sizes, dbs)


if __name__ == "__main__":
    main()
