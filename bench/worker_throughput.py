"""Worker actions/s at a fleet-wide reboot: one `vpsorg worker` pinned to one core (and, on
PostgreSQL, two), the simulator at time scale 0.

For each database (an SQLite file; PostgreSQL when --postgresql URL or
VPSORG_BENCH_DATABASE_URL names a server: a fresh database is made on it and dropped after)
and each vpsorg given with --python (default: this interpreter's), a fresh database is
seeded with SERVERS provisioned servers (and their simulator machines) spread over ACCOUNTS
accounts, then REBOOTS queued reboots (one per server, every tenth server two: one server's
actions run in order) and CREATES queued creates (through the servers service). Then
`vpsorg worker` runs (as the CLI, `taskset -c K`) until the queue drains or --timeout
passes, and the table shows:

- actions/s: actions finished / (last finished_at - first started_at), from the database;
- tx/action: transactions the worker processes committed or rolled back, per action
  (a SQLAlchemy engine event counts them: the worker is started as `python -c` that
  installs the listener and then runs the `vpsorg worker` CLI unchanged);
- peak RSS of the worker process (VmHWM), with SERVERS machines to serve.

The script uses only what main already had (models, the public services, the CLI), so the
same file measures an older checkout: `--python /path/to/old/.venv/bin/python` runs that
checkout's worker on the same seed, in the same run. Loopback only; every wait is bounded.

    .venv/bin/python bench/worker_throughput.py \
        --postgresql postgresql+psycopg://vpsorg:vpsorg@127.0.0.1:5432/postgres \
        --python before=/work/wt/before/.venv/bin/python --python after=.venv/bin/python
"""

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import make_url

from vpsorg import (
    migrate,
    models,  # noqa: F401  (every mapped table)
)
from vpsorg.accounts import service as accounts
from vpsorg.accounts.models import Account
from vpsorg.actions.models import Action
from vpsorg.catalog import service as catalog
from vpsorg.catalog.models import Location
from vpsorg.catalog.schemas import CatalogIn
from vpsorg.config import Settings
from vpsorg.db import make_engine, make_sessionmaker
from vpsorg.drivers.simtables import create_tables
from vpsorg.drivers.simulator import SimMachine
from vpsorg.hosts.models import Host
from vpsorg.ipam import service as ipam
from vpsorg.servers import service as servers
from vpsorg.servers.models import Server
from vpsorg.servers.schemas import ServerCreate

# RFC 2544's benchmarking network: addresses that are never contacted.
BENCH_LOCATION = {
    "code": "bench", "name": "Bench", "country": "ZZ",
    "ipv4_pool": "198.18.0.0/15", "ipv4_gateway": "198.18.0.1",
    "ipv6_pool": "2001:db8:be::/64", "ipv6_gateway": "2001:db8:be::1",
}  # fmt: skip

STARTUP_SECONDS = 180.0  # a bound for a worker's start on a busy machine, not a measure

# The worker, as the CLI, with a counter of transactions written to a file at exit.
COUNTING_WORKER = """
import atexit, json, sys
from sqlalchemy import event
from sqlalchemy.engine import Engine
out = sys.argv[1]
counts = {"commit": 0, "rollback": 0, "statements": 0}
def _bump(name):
    def listener(*args, **kwargs):
        counts[name] += 1
    return listener
event.listen(Engine, "commit", _bump("commit"))
event.listen(Engine, "rollback", _bump("rollback"))
event.listen(Engine, "before_cursor_execute", _bump("statements"))
def _dump():
    with open(out, "w") as f:
        json.dump(counts, f)
atexit.register(_dump)
sys.argv = ["vpsorg", "worker"]
from vpsorg.cli import main
main()
"""


def fresh_database(kind: str, tmp: Path, pg: str, label: str) -> tuple[str, str | None]:
    """The URL of a new, empty database; for PostgreSQL also its name (to drop)."""
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / (label + '.db')}", None
    import psycopg

    base = make_url(pg).set(drivername="postgresql+psycopg")
    name = "vpsorg_bench_" + hashlib.sha256(f"{os.getpid()}:{label}".encode()).hexdigest()[:16]
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return base.set(database=name).render_as_string(hide_password=False), name


def drop_database(pg: str, name: str) -> None:
    import psycopg

    admin = make_url(pg).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def seed(settings: Settings, args: argparse.Namespace) -> list[int]:
    """Accounts, servers, machines and the queue; the ids of the queued actions."""
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    rng = random.Random(12)
    try:
        async with sessions.begin() as s:
            await catalog.load_catalog(s, catalog=catalog.read_catalog(None))
            await catalog.load_catalog(s, catalog=CatalogIn.model_validate({"locations": [BENCH_LOCATION]}))
        async with sessions.begin() as s:
            owners = []
            for i in range(args.accounts):
                account = await accounts.create_account(
                    s, email=f"bench-{i}@example.com", credit=Decimal(10**9)
                )
                owners.append(account.id)
            await s.execute(
                update(Account).values(server_limit=args.servers + args.creates)
            )  # an operator's override of the quota
            location = await s.scalar(select(Location.id).where(Location.code == "bench"))
            # the location's default host (catalog load made it), as placement would have chosen
            host = await s.scalar(select(Host.id).where(Host.location_id == location))
            now = datetime.now(UTC)
            rows = [
                {
                    "account_id": owners[i % len(owners)], "name": f"bench-{i}",
                    "hostname": f"bench-{i}.example.com", "status": "active", "power_state": "running",
                    "plan_id": 3, "os_id": 5, "location_id": location, "host_id": host,
                    "backups_enabled": False,
                    "price_hourly": Decimal("0.01"), "price_monthly": Decimal("5"),
                    "ipv4_address": f"198.18.{2 + i // 250}.{1 + i % 250}",
                    "ipv6_address": f"2001:db8:be::{i + 2:x}",
                    "provisioned_at": now, "billed_until": now, "created_at": now, "updated_at": now,
                }
                for i in range(args.servers)
            ]  # fmt: skip
            for start in range(0, len(rows), 1000):
                await s.execute(insert(Server), rows[start : start + 1000])
            await ipam.rebuild(s, location=await s.get(Location, location))  # addresses written directly
            fleet = list(
                await s.execute(select(Server.id, Server.account_id).where(Server.location_id == location))
            )
            machines = [
                {"server_id": sid, "host": "bench", "name": f"vps-{sid}", "vcpus": 1, "memory_mib": 1024,
                 "storage_gb": 25,
                 "power_state": "running", "created_at": now, "booted_at": now, "run_seconds": 0.0,
                 "run_month": now.strftime("%Y-%m")}
                for sid, _ in fleet
            ]  # fmt: skip
            await create_tables(s)  # as the simulator makes them (a host column since hosts)
            for start in range(0, len(machines), 1000):
                await s.execute(insert(SimMachine), machines[start : start + 1000])
        # The fleet-wide reboot, in random order over accounts and servers; every tenth of the
        # servers rebooted gets a second reboot queued behind its first.
        targets = rng.sample(fleet, min(args.reboots, len(fleet)))
        queue = [dict(server_id=sid, account_id=aid) for sid, aid in targets]
        queue += [q for q in queue[::10]]
        rng.shuffle(queue)
        async with sessions.begin() as s:
            await s.execute(
                update(Server).where(Server.id.in_([sid for sid, _ in targets])).values(status="rebooting")
            )
            for start in range(0, len(queue), 1000):
                await s.execute(
                    insert(Action),
                    [
                        dict(q, type="reboot", status="queued", created_at=now)
                        for q in queue[start : start + 1000]
                    ],
                )
        order = ServerCreate(name="bench-new", plan_id=1, os_id=5, location="bench")
        async with sessions.begin() as s:
            for _ in range(args.creates):
                await servers.create_server(s, account_id=owners[rng.randrange(len(owners))], data=order)
        async with sessions() as s:
            return list(await s.scalars(select(Action.id).where(Action.status == "queued")))
    finally:
        await engine.dispose()


async def progress(settings: Settings) -> tuple[int, int, Any, Any]:
    """(open, finished, first started_at, last finished_at) of the actions."""
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine, write=False)() as s:
            open_ = await s.scalar(
                select(func.count()).select_from(Action).where(Action.status.in_(["queued", "running"]))
            )
            done, first, last = (
                await s.execute(
                    select(func.count(), func.min(Action.started_at), func.max(Action.finished_at)).where(
                        Action.status.in_(["success", "error"])
                    )
                )
            ).one()
            return int(open_ or 0), int(done or 0), first, last
    finally:
        await engine.dispose()


def _stamp(value: Any) -> float:
    if isinstance(value, str):  # SQLite, read without the model's type
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return float(value.timestamp())


def peak_rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VPSORG_")}
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"VPSORG_{name.upper()}"] = str(value)
    return env


def run_workers(
    settings: Settings, python: str, n: int, total: int, timeout: float, tmp: Path
) -> dict[str, float]:
    cores = os.cpu_count() or 1
    procs = []
    for k in range(n):
        counts = tmp / f"counts-{k}.json"
        cmd = [python, "-c", COUNTING_WORKER, str(counts)]
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", str(k % cores), *cmd]
        log = open(tmp / f"worker-{k}.log", "ab")  # noqa: SIM115 (closed below)
        procs.append(
            (
                subprocess.Popen(cmd, env=worker_env(settings), stdout=log, stderr=subprocess.STDOUT),
                log,
                counts,
            )
        )
    rss = [0.0] * n
    # --timeout bounds the run from the first finished action: starting a process (imports,
    # the first usage and reconcile passes) is not what is timed; it has its own bound.
    deadline = time.monotonic() + STARTUP_SECONDS
    started = False
    timed_out = False
    try:
        while True:
            for k, (p, _, _) in enumerate(procs):
                rss[k] = max(rss[k], peak_rss_mib(p.pid))
                if p.poll() is not None:
                    raise SystemExit(f"worker {k} exited with {p.returncode}; see {tmp}/worker-{k}.log")
            open_, done, _, _ = asyncio.run(progress(settings))
            if open_ == 0:
                break
            if done and not started:
                started = True
                deadline = time.monotonic() + timeout
            if time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(0.2)
    finally:
        for p, _, _ in procs:
            p.terminate()
        for p, log, _ in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            log.close()
    open_, done, first, last = asyncio.run(progress(settings))
    span = max(1e-6, _stamp(last) - _stamp(first)) if first is not None and last is not None else 1e-6
    tx = statements = 0
    for _, _, counts in procs:
        if counts.exists():
            c = json.loads(counts.read_text())
            tx += c["commit"] + c["rollback"]
            statements += c["statements"]
    return {
        "done": done,
        "total": total,
        "rate": done / span,
        "tx": tx / max(1, done),
        "statements": statements / max(1, done),
        "rss": max(rss),
        "timed_out": float(timed_out),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgresql", default=os.environ.get("VPSORG_BENCH_DATABASE_URL", ""))
    parser.add_argument(
        "--python", action="append", default=[], metavar="LABEL=PYTHON",
        help="an interpreter with the vpsorg to measure (repeatable); default: this one",
    )  # fmt: skip
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--reboots", type=int, default=1500)
    parser.add_argument("--creates", type=int, default=300)
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds each run may take from its first finished action"
    )
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    pythons = [tuple(p.split("=", 1)) if "=" in p else (p, p) for p in args.python] or [
        ("this", sys.executable)
    ]
    databases = ([] if args.no_sqlite else [("SQLite", "sqlite", 1)]) + (
        [("PostgreSQL", "postgresql", 1), ("PostgreSQL", "postgresql", 2)] if args.postgresql else []
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        for db_label, kind, n in databases:
            for label, python in pythons:
                run = f"{kind}-{n}-{label}"
                url, name = fresh_database(kind, tmp, args.postgresql, run)
                try:
                    # Quiet periodic passes: each runs once at start (as at any worker start),
                    # then not again within the run; what is timed is the actions.
                    settings = Settings(
                        database_url=url, simulator_time_scale=0.0, log_level="warning",
                        metrics_interval_seconds=3600.0, reconcile_interval_seconds=3600.0,
                        billing_interval_seconds=3600.0,
                    )  # fmt: skip
                    migrate.upgrade(settings)
                    queued = asyncio.run(seed(settings, args))
                    (tmp / run).mkdir()
                    r = run_workers(settings, python, n, len(queued), args.timeout, tmp / run)
                    results.append((db_label, n, label, r))
                    print(f"{db_label} x{n} {label}: {r}", file=sys.stderr, flush=True)
                finally:
                    if name is not None:
                        drop_database(args.postgresql, name)
    print(
        f"{args.servers} servers with machines over {args.accounts} accounts; queued: "
        f"{args.reboots} reboots (+10% second reboots), {args.creates} creates; simulator time scale 0"
    )
    print(
        f"{'database':12}{'workers':>8}  {'vpsorg':10}{'done':>11}{'actions/s':>11}{'tx/action':>11}"
        f"{'stmts/action':>14}{'peak RSS MiB':>14}"
    )
    for db_label, n, label, r in results:
        done = f"{r['done']}/{r['total']}" + ("*" if r["timed_out"] else "")
        print(
            f"{db_label:12}{n:>8}  {label:10}{done:>11}{r['rate']:>11.1f}{r['tx']:>11.1f}"
            f"{r['statements']:>14.1f}{r['rss']:>14.0f}"
        )
    if any(r["timed_out"] for *_, r in results):
        print("* timed out: the rate is of the actions finished within --timeout")


if __name__ == "__main__":
    main()
