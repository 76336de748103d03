"""Creates/s through the HTTP API of one process, with 0 and with 1,000,000 servers stored.

For each size: a fresh database (a SQLite file, or a new database on the PostgreSQL server
of `--postgresql`), migrated and given the default catalog by the checked-out `vpsorg`
(`--vpsorg PATH`: that checkout's .venv/bin/vpsorg, so the same script measures another
branch), plus a `bench` location with large pools. The servers are then seeded in bulk SQL
(COPY on PostgreSQL, big executemany batches on SQLite), shaped like real rows and kept
consistent with whatever the migrated schema has (the columns are read from the database,
so an older schema gets only its own): 20 servers per account, every twentieth one deleted
with its addresses on the location's free list, a succeeded create action per server, a
top-up in the ledger for each account's balance, the allocator's counters, and any
per-account counter columns the schema keeps. One big account holds 1% of the servers.

Then one `vpsorg serve --no-worker` per size, pinned to core 0 (`taskset -c 0`), while this
process (pinned to core 1) sends creates over loopback with 16 concurrent requests, in two
variants: `many` (64 accounts, one token each, taking turns) and `single` (the big
account's one token). The sizes take turns in short rounds so that a busy machine's load
falls on both alike. Each variant and size is bounded: `--creates` creates or `--seconds`,
whichever comes first. Prints creates/s, p50, p99 and max latency, each server's RSS, and
the ratios large/small. Loopback only; nothing runs unbounded.

    .venv/bin/python bench/create_throughput.py                      # SQLite
    .venv/bin/python bench/create_throughput.py --postgresql          # PostgreSQL (default URL)
    .venv/bin/python bench/create_throughput.py --postgresql --vpsorg /work/wt/before
"""

import argparse
import asyncio
import hashlib
import ipaddress
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.databases import database_url, drop_created  # noqa: E402

DEFAULT_PG = os.environ.get(
    "VPSORG_BENCH_DATABASE_URL", "postgresql+psycopg://vpsorg:vpsorg@127.0.0.1:5432/postgres"
)
BENCH_LOCATION = {
    "code": "bench",
    "name": "Bench",
    "country": "ZZ",
    "ipv4_pool": "10.0.0.0/8",  # 16M hosts; host 0 (10.0.0.1) is the gateway
    "ipv4_gateway": "10.0.0.1",
    "ipv6_pool": "2001:db8:be::/64",
    "ipv6_gateway": "2001:db8:be::1",
}
PLAN = {"id": 3, "monthly": Decimal("6.00"), "hourly": Decimal("0.0089")}  # Starter VPS
OS_ID = 5
PER_ACCOUNT = 20
LOAD_ACCOUNTS = 64
CONCURRENCY = 16
BALANCE = Decimal("100000000.00")
SEED_TIME = datetime(2026, 11, 1, tzinfo=UTC)
BATCH = 20_000
# Per-account counters of live servers a schema may keep (by triggers, or by the application).
COUNTERS = ("live_servers", "server_count", "monthly_commitment", "commitment_cents")


# Seeding ---------------------------------------------------------------------------------


class Db:
    """A plain DB-API connection to the fresh database (psycopg or sqlite3)."""

    def __init__(self, url: str) -> None:
        self.pg = url.startswith("postgresql")
        if self.pg:
            import psycopg

            self.conn: Any = psycopg.connect(url.replace("+psycopg", ""))
        else:
            self.conn = sqlite3.connect(url.split("///", 1)[1])
            self.conn.execute("PRAGMA synchronous=OFF")
        self.columns: dict[str, set[str]] = {}

    def sql(self, text: str) -> str:
        return text if self.pg else text.replace("%s", "?")

    def execute(self, text: str, params: tuple[Any, ...] = ()) -> Any:
        return self.conn.execute(self.sql(text), params)

    def has(self, table: str) -> set[str]:
        if table not in self.columns:
            if self.pg:
                rows = self.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,)
                )
                self.columns[table] = {r[0] for r in rows}
            else:
                self.columns[table] = {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}
        return self.columns[table]

    def value(self, v: Any) -> Any:
        if self.pg:
            return v
        if isinstance(v, datetime):  # SQLAlchemy's SQLite DateTime format, in UTC
            return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        if isinstance(v, Decimal):
            return float(v)
        return v

    def insert(self, table: str, rows: Iterator[dict[str, Any]]) -> int:
        """Insert rows, keeping only the columns the table has; returns how many."""
        present = self.has(table)
        cols: list[str] | None = None
        n = 0
        if self.pg:
            cur = self.conn.cursor()
            copy_cm = None
            copy = None
            for row in rows:
                if cols is None:
                    cols = [c for c in row if c in present]
                    copy_cm = cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN")
                    copy = copy_cm.__enter__()
                copy.write_row([row[c] for c in cols])
                n += 1
            if copy_cm is not None:
                copy_cm.__exit__(None, None, None)
            return n
        batch: list[tuple[Any, ...]] = []
        stmt = ""
        for row in rows:
            if cols is None:
                cols = [c for c in row if c in present]
                stmt = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            batch.append(tuple(self.value(row[c]) for c in cols))
            n += 1
            if len(batch) == BATCH:
                self.conn.executemany(stmt, batch)
                batch = []
        if batch:
            self.conn.executemany(stmt, batch)
        return n


def token_for(account_id: int) -> str:
    return f"vpsorg_bench_{account_id}_{hashlib.sha256(str(account_id).encode()).hexdigest()[:16]}"


@dataclass
class Seeded:
    many: list[str]  # tokens of the load accounts
    single: str  # the big account's token


def vpsorg_run(vpsorg: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run([str(vpsorg / ".venv/bin/vpsorg"), *args], env=env, check=True, capture_output=True)


def seed(url: str, n: int, vpsorg: Path, env: dict[str, str], tmp: Path) -> Seeded:
    vpsorg_run(vpsorg, env, "migrate")
    vpsorg_run(vpsorg, env, "catalog", "load")
    extra = tmp / "bench-catalog.json"
    extra.write_text(json.dumps({"locations": [BENCH_LOCATION]}))
    vpsorg_run(vpsorg, env, "catalog", "load", str(extra))
    db = Db(url)
    location = db.execute("SELECT id FROM locations WHERE code = %s", ("bench",)).fetchone()[0]
    big = n // 100  # the big account's servers
    # Accounts 1..: the big one first, then PER_ACCOUNT servers each; then the load accounts.
    owners = [1] * big + [2 + i // PER_ACCOUNT for i in range(n - big)]
    filler_accounts = 1 + (max(0, n - big) + PER_ACCOUNT - 1) // PER_ACCOUNT
    load_ids = list(range(filler_accounts + 1, filler_accounts + 1 + LOAD_ACCOUNTS))
    accounts_n = filler_accounts + LOAD_ACCOUNTS
    deleted = [i % 20 == 7 for i in range(n)]
    live_of = [0] * (accounts_n + 1)
    for owner, gone in zip(owners, deleted, strict=True):
        if not gone:
            live_of[owner] += 1
    monthly = PLAN["monthly"]

    def accounts() -> Iterator[dict[str, Any]]:
        for a in range(1, accounts_n + 1):
            load = a == 1 or a in load_ids
            yield {
                "id": a,
                "email": f"bench{a}@example.com",
                "balance": BALANCE,
                "created_at": SEED_TIME,
                # the bench's own accounts may create past the default quota (an operator's override)
                "server_limit": 1_000_000 if load else None,
                "ssh_key_limit": None,
                # counters kept on the account row, by whichever names the schema has them
                "live_servers": live_of[a],
                "server_count": live_of[a],
                "monthly_commitment": monthly * live_of[a],
                "commitment_cents": int(monthly * 100) * live_of[a],
            }

    def tokens() -> Iterator[dict[str, Any]]:
        for a in range(1, accounts_n + 1):
            yield {
                "id": a,
                "account_id": a,
                "token_hash": hashlib.sha256(token_for(a).encode()).hexdigest(),
                "scope": "write",
                "name": "bench",
                "created_at": SEED_TIME,
                "expires_at": None,
                "last_used_at": None,
            }

    def ledger() -> Iterator[dict[str, Any]]:
        for a in range(1, accounts_n + 1):
            yield {
                "id": a,
                "account_id": a,
                "kind": "top_up",
                "amount": BALANCE,
                "balance_after": BALANCE,
                "reason": "bench",
                "server_id": None,
                "period_start": None,
                "period_end": None,
                "hours": None,
                "backup_hours": None,
                "created_at": SEED_TIME,
            }

    v4 = int(ipaddress.ip_network(BENCH_LOCATION["ipv4_pool"]).network_address)
    v6 = int(ipaddress.ip_network(BENCH_LOCATION["ipv6_pool"]).network_address)
    billed = SEED_TIME + timedelta(hours=1)

    def servers() -> Iterator[dict[str, Any]]:
        # Server i holds host i + 1 (host 0 is the gateway): address network + 2 + i.
        for i in range(n):
            gone = deleted[i]
            yield {
                "id": i + 1,
                "account_id": owners[i],
                "name": f"s{i}",
                "hostname": f"s{i}.example.com",
                "status": "active",
                "power_state": "off" if gone else "running",
                "plan_id": PLAN["id"],
                "os_id": OS_ID,
                "location_id": location,
                "ssh_key_id": None,
                "ssh_public_key": None,
                "backups_enabled": False,
                "ipv4_address": None if gone else str(ipaddress.IPv4Address(v4 + 2 + i)),
                "ipv6_address": None if gone else ipaddress.IPv6Address(v6 + 2 + i).compressed,
                "error": None,
                "provisioned_at": SEED_TIME,
                "created_at": SEED_TIME,
                "updated_at": SEED_TIME,
                "deleted_at": SEED_TIME if gone else None,
                "price_hourly": PLAN["hourly"],
                "price_monthly": monthly,
                "billed_until": SEED_TIME if gone else billed,
                "billing_month": "2026-11",
                "month_hours": 1,
                "month_backup_hours": 0,
                "suspension": None,
                "resume_status": None,
            }

    def actions() -> Iterator[dict[str, Any]]:
        aid = 0
        for i in range(n):
            for type_ in ("create", "delete") if deleted[i] else ("create",):
                aid += 1
                yield {
                    "id": aid,
                    "account_id": owners[i],
                    "server_id": i + 1,
                    "type": type_,
                    "status": "succeeded",
                    "reason": None,
                    "error": None,
                    "attempts": 1,
                    "fence": 1,
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "created_at": SEED_TIME,
                    "started_at": SEED_TIME,
                    "finished_at": SEED_TIME,
                }

    def released() -> Iterator[dict[str, Any]]:
        for i in range(n):
            if deleted[i]:
                yield {"location_id": location, "family": 4, "host": i + 1}
                yield {"location_id": location, "family": 6, "host": i + 1}

    db.insert("accounts", accounts())
    db.insert("api_tokens", tokens())
    db.insert("ledger_entries", ledger())
    # The account rows above already count their servers; triggers that keep such counters
    # would count them again (and on PostgreSQL a million trigger updates cost minutes).
    if db.pg:
        db.execute("ALTER TABLE servers DISABLE TRIGGER USER")
    db.insert("servers", servers())
    if db.pg:
        db.execute("ALTER TABLE servers ENABLE TRIGGER USER")
    else:  # SQLite's triggers cannot be turned off: set the counters again
        counted = [c for c in COUNTERS if c in db.has("accounts")]
        if counted:
            kept = {c: v for c, v in next(accounts()).items() if c in counted}
            assignments = ", ".join(f"{c} = ?" for c in kept)
            db.conn.executemany(
                f"UPDATE accounts SET {assignments} WHERE id = ?",
                ([db.value(r[c]) for c in kept] + [r["id"]] for r in accounts()),
            )
    db.insert("actions", actions())
    if db.has("released_addresses"):
        db.insert("released_addresses", released())
    if "ipv4_next_host" in db.has("locations"):
        db.execute(
            "UPDATE locations SET ipv4_next_host = %s, ipv6_next_host = %s WHERE id = %s",
            (n + 1 if n else 0, n + 1 if n else 0, location),
        )
    if db.pg:  # ids were given explicitly: move the sequences past them
        for table in ("accounts", "api_tokens", "ledger_entries", "servers", "actions"):
            seq = f"pg_get_serial_sequence('{table}', 'id')"
            db.execute(f"SELECT setval({seq}, (SELECT max(id) FROM {table}))")
    db.conn.commit()
    if db.pg:
        db.conn.autocommit = True
        db.execute("VACUUM ANALYZE")
    else:
        db.execute("ANALYZE")
        db.conn.commit()
    db.conn.close()
    return Seeded(many=[token_for(a) for a in load_ids], single=token_for(1))


# Serving and load ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


@dataclass
class Result:
    took: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: dict[int, int] = field(default_factory=dict)


async def load(base: str, tokens: list[str], creates: int, seconds: float, result: Result) -> None:
    """Up to `creates` creates in up to `seconds`, CONCURRENCY at a time, tokens in turn."""
    deadline = time.perf_counter() + seconds
    counter = iter(range(creates))
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60.0) as client:

        async def one_worker() -> None:
            for i in counter:
                if time.perf_counter() >= deadline:
                    return
                token = tokens[i % len(tokens)]
                body = {"name": f"b{random.randrange(10**9)}", "plan_id": PLAN["id"], "os_id": OS_ID,
                        "location": "bench"}  # fmt: skip
                t0 = time.perf_counter()
                r = await client.post(
                    "/api/v1/servers/", json=body, headers={"Authorization": f"Bearer {token}"}
                )
                dt = time.perf_counter() - t0
                if r.status_code == 201:
                    result.took.append(dt)
                else:
                    result.errors[r.status_code] = result.errors.get(r.status_code, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(one_worker() for _ in range(CONCURRENCY)))
        result.seconds += time.perf_counter() - t0


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"vpsorg serve exited with {proc.returncode}")
        try:
            if httpx.get(base + "/healthz", timeout=2.0).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit("vpsorg serve did not answer in time")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgresql",
        nargs="?",
        const=DEFAULT_PG,
        default=None,
        metavar="URL",
        help=f"measure on PostgreSQL (default URL: VPSORG_BENCH_DATABASE_URL or {DEFAULT_PG})",
    )
    parser.add_argument("--vpsorg", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the checkout whose .venv/bin/vpsorg serves (default: this one)")  # fmt: skip
    parser.add_argument("--servers", default="0,1000000", help="sizes, comma separated")
    parser.add_argument("--creates", type=int, default=2000, help="creates per size and variant, at most")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per size and variant, at most")
    parser.add_argument("--rounds", type=int, default=4, help="turns the sizes take")
    parser.add_argument("--variants", default="many,single")
    args = parser.parse_args()
    sizes = [int(s) for s in args.servers.split(",")]
    variants = args.variants.split(",")
    vpsorg = args.vpsorg.resolve()
    if shutil.which("taskset") is None:
        raise SystemExit("taskset is needed (util-linux)")
    git = ["git", "-C", str(vpsorg), "rev-parse", "--short", "HEAD"]
    head = subprocess.run(git, capture_output=True, text=True)
    print(
        f"database: {'PostgreSQL' if args.postgresql else 'SQLite'}; vpsorg: {vpsorg} ({head.stdout.strip()})"
        f"; {CONCURRENCY} concurrent creates; server on core 0, client on core 1",
        flush=True,
    )
    procs: dict[int, subprocess.Popen[bytes]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            seeded: dict[int, Seeded] = {}
            bases: dict[int, str] = {}
            for n in sizes:
                url = database_url(tmp / f"bench-{n}.db", postgresql=args.postgresql or "")
                env = os.environ | {
                    "VPSORG_DATABASE_URL": url,
                    "VPSORG_LOG_LEVEL": "warning",
                    "VPSORG_RATE_LIMIT": "1000000/minute",
                    "VPSORG_DEFAULT_SERVER_LIMIT": "25",
                }
                t0 = time.perf_counter()
                seeded[n] = seed(url, n, vpsorg, env, tmp)
                print(f"{n:>8} servers seeded in {time.perf_counter() - t0:.0f} s", flush=True)
                port = free_port()
                procs[n] = subprocess.Popen(
                    ["taskset", "-c", "0", str(vpsorg / ".venv/bin/vpsorg"), "serve", "--no-worker",
                     "--host", "127.0.0.1", "--port", str(port)],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                bases[n] = f"http://127.0.0.1:{port}"
            os.sched_setaffinity(0, {1})
            for n in sizes:
                wait_ready(bases[n], procs[n])
            results = {(n, v): Result() for n in sizes for v in variants}
            for n in sizes:  # warm-up: a few creates each, not counted
                for v in variants:
                    toks = seeded[n].many if v == "many" else [seeded[n].single]
                    asyncio.run(load(bases[n], toks, 32, 10.0, Result()))
            for _ in range(args.rounds):
                for n in sizes:
                    for v in variants:
                        toks = seeded[n].many if v == "many" else [seeded[n].single]
                        asyncio.run(
                            load(bases[n], toks, args.creates // args.rounds, args.seconds / args.rounds,
                                 results[(n, v)])
                        )  # fmt: skip
            rss = {n: rss_kib(procs[n].pid) for n in sizes}
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        drop_created()
    rate = {}
    for v in variants:
        for n in sizes:
            r = results[(n, v)]
            rate[(n, v)] = len(r.took) / r.seconds if r.seconds else 0.0
            errs = f"  errors {r.errors}" if r.errors else ""
            print(
                f"{v:>6} {n:>8} servers: {rate[(n, v)]:7.1f} creates/s ({len(r.took)} in {r.seconds:.1f} s)"
                f"  p50 {pct(r.took, 0.5) * 1000:7.1f} ms  p99 {pct(r.took, 0.99) * 1000:7.1f} ms"
                f"  max {max(r.took, default=float('nan')) * 1000:7.1f} ms"
                f"  p99/p50 {pct(r.took, 0.99) / pct(r.took, 0.5):5.1f}{errs}"
            )
    for n in sizes:
        print(f"server RSS at {n:>8} servers: {rss[n][0] / 1024:.0f} MiB (peak {rss[n][1] / 1024:.0f} MiB)")
    small = sizes[0]
    for v in variants:
        for n in sizes[1:]:
            if rate[(n, v)]:
                ratio = rate[(small, v)] / rate[(n, v)]
                print(f"{v:>6} creates/s ratio {small}/{n}: {ratio:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
