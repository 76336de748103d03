"""Event streams: 1,000 open streams on one API process, and the latency from commit to
delivery at 100 actions/s, on SQLite and on PostgreSQL.

For each database: a fresh database, ACCOUNTS accounts holding SERVERS_PER_ACCOUNT active
simulator servers each (inserted directly), one API process (`vpsorg serve --no-worker`) and
one `vpsorg worker` (simulator at time scale 0). STREAMS streams (STREAMS / ACCOUNTS per
account) are opened on the API process by raw asyncio connections in this process (no HTTP
library: the client must not be what is measured). Then a load generator, a process of its
own with plain DB-API connections, queues reboots of the servers in turn at a steady RATE
per second for SECONDS (open loop), each in its own transaction writing what
servers.service.request_power writes (the server `rebooting`, the action queued: the same
triggers fire), and notes the time right after each COMMIT. A server whose turn comes again
(every 10 s) while its last reboot has not ended is skipped (`skipped`: the worker is behind).
Each reboot is five events (queued, status rebooting, running, status active, finished),
each delivered to the STREAMS / ACCOUNTS streams of its account.

Measured: commit to delivery of every `action.queued` on every stream of its account (the
load generator's timestamp after its COMMIT to the moment the stream's message is read
here), median and p99; the same from `created_at` for every event (the worker's too;
created_at is the database's clock at the insert, a little before its commit); whether
every delivery arrived (missing: should be 0); the API process's peak memory. Loopback
only; bounded in count (RATE x SECONDS reboots) and time (DRAIN_SECONDS after the load).
The file limit is raised (RLIMIT_NOFILE; the API process inherits it).

    .venv/bin/python bench/events.py [--postgresql URL] [--seconds 20] [--streams 1000]

Without --postgresql (or VPSORG_BENCH_PG_URL) only SQLite is measured. Prints a table and
writes it to bench/results/events.json.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import resource
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import insert, make_url, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import free_port, prepare_database, run_db, spawn, test_settings, wait_http  # noqa: E402
from tests.databases import database_url, drop_created  # noqa: E402

from vpsorg.accounts import service as accounts  # noqa: E402
from vpsorg.catalog import service as catalog  # noqa: E402
from vpsorg.catalog.models import Location  # noqa: E402
from vpsorg.catalog.schemas import CatalogIn  # noqa: E402
from vpsorg.config import Settings  # noqa: E402
from vpsorg.drivers import simtables  # noqa: E402
from vpsorg.drivers.simulator import SimMachine  # noqa: E402
from vpsorg.ipam import service as ipam  # noqa: E402
from vpsorg.servers.models import Server  # noqa: E402

ACCOUNTS = 100
SERVERS_PER_ACCOUNT = 10
RATE = 100.0  # reboots queued per second
GENERATORS = 16  # reboots being committed at once, at most
DRAIN_SECONDS = 30.0
RESULTS = Path(__file__).resolve().parent / "results" / "events.json"
# RFC 2544's benchmarking network: addresses that are never contacted.
BENCH_LOCATION = {
    "code": "bench", "name": "Bench", "country": "ZZ",
    "ipv4_pool": "198.18.0.0/15", "ipv4_gateway": "198.18.0.1",
    "ipv6_pool": "2001:db8:be::/64", "ipv6_gateway": "2001:db8:be::1",
}  # fmt: skip


@dataclass
class Tenant:
    account_id: int
    token: str
    server_ids: list[int]


def fill(settings: Settings) -> list[Tenant]:
    """ACCOUNTS accounts with a token and SERVERS_PER_ACCOUNT active servers each."""
    location_in = CatalogIn.model_validate({"locations": [BENCH_LOCATION]})
    run_db(settings, lambda s: catalog.load_catalog(s, catalog=location_in))

    async def make(session: Any) -> list[Tenant]:
        await simtables.create_tables(session)  # as the simulator would, with today's columns
        location = await session.scalar(select(Location.id).where(Location.code == "bench"))
        now = datetime.now(UTC)
        tenants = []
        for a in range(ACCOUNTS):
            account = await accounts.create_account(session, email=f"b{a}@example.com", credit=Decimal(10**6))
            token = await accounts.create_token(session, account_id=account.id)
            rows = []
            for s in range(SERVERS_PER_ACCOUNT):
                i = a * SERVERS_PER_ACCOUNT + s
                rows.append({
                    "account_id": account.id, "name": f"b-{i}", "hostname": f"b-{i}.example.com",
                    "status": "active", "power_state": "running", "plan_id": 3, "os_id": 5,
                    "location_id": location, "backups_enabled": False,
                    "ipv4_address": f"198.18.{2 + i // 250}.{1 + i % 250}",
                    "ipv6_address": f"2001:db8:be::{i + 2:x}",
                    "provisioned_at": now, "created_at": now, "updated_at": now,
                    "price_hourly": Decimal("0.0100"), "price_monthly": Decimal("7.30"),
                })  # fmt: skip
            await session.execute(insert(Server), rows)
            ids = list(await session.scalars(select(Server.id).where(Server.account_id == account.id)))
            await session.execute(
                insert(SimMachine),
                [
                    {
                        "server_id": sid, "name": f"vps-{sid}", "vcpus": 1, "memory_mib": 1024,
                        "storage_gb": 25, "power_state": "running", "created_at": now, "booted_at": now,
                        "run_seconds": 0.0, "run_month": now.strftime("%Y-%m"),
                    }
                    for sid in ids
                ],
            )  # fmt: skip
            tenants.append(Tenant(account.id, token, ids))
        # Addresses written behind the allocator's back: have it recount the location.
        await ipam.rebuild(session, location=await session.get(Location, location))
        return tenants

    return list(run_db(settings, make))


@dataclass
class Tally:
    """What the streams received: (action id, receive time) of each action.queued delivery,
    and the created_at-to-delivery delay of every event."""

    queued: list[tuple[int, float]] = field(default_factory=list)
    any_event: list[float] = field(default_factory=list)
    open_streams: int = 0


async def _chunks(reader: asyncio.StreamReader) -> Any:
    """The body of a chunked HTTP/1.1 response, chunk by chunk."""
    while True:
        size = int((await reader.readline()).split(b";")[0], 16)
        if size == 0:
            return
        yield await reader.readexactly(size)
        await reader.readexactly(2)


def _receive(message: bytes, tally: Tally, now: float) -> None:
    data = b"".join(line[5:].lstrip() for line in message.split(b"\n") if line.startswith(b"data:"))
    if not data:  # a heartbeat comment
        return
    event = json.loads(data)
    if event["type"] == "action.queued":
        tally.queued.append((event["data"]["action_id"], now))
    created = datetime.fromisoformat(event["created_at"].replace("Z", "+00:00")).timestamp()
    tally.any_event.append(now - created)


async def stream(port: int, token: str, tally: Tally, opened: asyncio.Semaphore, stop: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /api/v1/events/stream/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    opened.release()
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"stream refused: {head[:200]!r}")
    if b"transfer-encoding: chunked" not in head.lower():
        raise SystemExit(f"expected a chunked stream: {head!r}")
    tally.open_streams += 1
    buffer = b""
    try:
        async for chunk in _chunks(reader):
            buffer = (buffer + chunk).replace(b"\r\n", b"\n")
            *messages, buffer = buffer.split(b"\n\n")
            now = time.time()
            for message in messages:
                _receive(message, tally, now)
            if stop.is_set():
                return
    finally:
        writer.close()


def _connect(database_url: str) -> tuple[Any, str]:
    """A plain DB-API connection (no asyncio, no ORM: the generator's own CPU must not delay
    its timestamps) and the driver's placeholder."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(str(url.database), isolation_level=None, timeout=30)
        conn.execute("PRAGMA busy_timeout=30000")
        return conn, "?"
    return psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False)), "%s"


def _reboot(
    database_url: str, local: threading.local, account_id: int, server_id: int
) -> tuple[int, float] | None:
    """What servers.service.request_power writes for a reboot (the server `rebooting`, the
    action queued), in one transaction; (action id, time right after COMMIT), or None when
    the server is not active (its last reboot has not ended)."""
    if not hasattr(local, "conn"):
        local.conn, local.mark = _connect(database_url)
    conn, m = local.conn, local.mark
    sqlite = m == "?"
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else now
    if sqlite:
        conn.execute("BEGIN IMMEDIATE")
    cur = conn.execute(
        f"UPDATE servers SET status = 'rebooting', updated_at = {m} WHERE id = {m} AND status = 'active'",
        (stamp, server_id),
    )
    if cur.rowcount != 1:
        conn.execute("ROLLBACK") if sqlite else conn.rollback()
        return None
    action_id = conn.execute(
        "INSERT INTO actions (account_id, server_id, type, status, attempts, fence, created_at)"
        f" VALUES ({m}, {m}, 'reboot', 'queued', 0, 0, {m}) RETURNING id",
        (account_id, server_id, stamp),
    ).fetchone()[0]
    conn.execute("COMMIT") if sqlite else conn.commit()
    return int(action_id), time.time()


def generate(database_url: str, order: list[tuple[int, int]], seconds: float, out: Connection) -> None:
    """The load generator, in a process of its own (reading the streams here must not delay
    its timestamps): reboots of `order`'s servers in turn, the k-th queued at k / RATE
    seconds (open loop: a late commit does not hold up the next; GENERATORS threads, each
    with its connection), noting each action's time right after its COMMIT. Sends back
    (commits, stats)."""
    local = threading.local()
    commits: dict[int, float] = {}
    skipped = 0
    start, wall = time.monotonic(), time.time()
    with ThreadPoolExecutor(GENERATORS) as pool:
        futures = []
        for k in range(int(RATE * seconds)):
            time.sleep(max(0.0, start + k / RATE - time.monotonic()))
            futures.append(pool.submit(_reboot, database_url, local, *order[k % len(order)]))
        for future in futures:
            done = future.result()
            if done is None:
                skipped += 1
            else:
                commits[done[0]] = done[1]
    elapsed = max(commits.values(), default=wall + 1) - wall
    out.send((commits, {"queued": len(commits), "skipped": skipped, "rate": len(commits) / elapsed}))
    out.close()


async def load(
    settings: Settings, tenants: list[Tenant], seconds: float
) -> tuple[dict[int, float], dict[str, float]]:
    """Run `generate` in a child process; its (commits, stats)."""
    # Account by account, then the next server of each: a server's turn comes every
    # ACCOUNTS x SERVERS_PER_ACCOUNT / RATE seconds (10 s), long after its last reboot ended.
    order = [(t.account_id, t.server_ids[n]) for n in range(SERVERS_PER_ACCOUNT) for t in tenants]
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=generate, args=(settings.database_url, order, seconds, sender))
    child.start()
    sender.close()
    try:
        if not await asyncio.to_thread(receiver.poll, seconds + 120):
            raise SystemExit("the load generator did not finish")
        commits, stats = receiver.recv()
    finally:
        child.join(timeout=30)
    return commits, stats


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def measure_streams(
    port: int, tenants: list[Tenant], args: argparse.Namespace, settings: Settings
) -> dict[str, Any]:
    tally, stop = Tally(), asyncio.Event()
    gate = asyncio.Semaphore(50)  # streams being opened at once
    per_account = args.streams // len(tenants)
    tasks = []
    for n in range(args.streams):
        await gate.acquire()
        tenant = tenants[n // per_account % len(tenants)]
        tasks.append(asyncio.create_task(stream(port, tenant.token, tally, gate, stop)))
    deadline = time.monotonic() + 120
    while tally.open_streams < args.streams:
        if time.monotonic() > deadline or any(t.done() for t in tasks):
            raise SystemExit(f"only {tally.open_streams} of {args.streams} streams opened")
        await asyncio.sleep(0.1)
    commits, stats = await load(settings, tenants, args.seconds)
    expected = len(commits) * per_account
    drain = time.monotonic() + DRAIN_SECONDS
    while len(tally.queued) < expected and time.monotonic() < drain:
        await asyncio.sleep(0.2)
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies = [now - commits[aid] for aid, now in tally.queued if aid in commits]
    return {
        "streams": tally.open_streams,
        "reboots_per_s": round(stats["rate"], 1),
        "queued": stats["queued"],
        "skipped": stats["skipped"],
        "deliveries": len(latencies),
        "missing": expected - len(latencies),
        "median_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "any_event_median_ms": round(statistics.median(tally.any_event) * 1000, 1),
        "any_event_p99_ms": round(percentile(tally.any_event, 0.99) * 1000, 1),
        "events_delivered": len(tally.any_event),
    }


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return round(int(match.group(1)) / 1024, 1) if match else float("nan")


def measure(name: str, url_of_db: str, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    settings = test_settings(
        tmp / f"{name}.db",
        database_url=url_of_db,
        log_level="warning",
        metrics_interval_seconds=3600.0,
        reconcile_interval_seconds=3600.0,
        max_connections=args.streams + 100,
    )
    prepare_database(settings)
    tenants = fill(settings)
    port = free_port()
    api = spawn(["serve", "--no-worker", "--port", str(port)], settings, tmp / f"{name}-api.log")
    worker = spawn(["worker"], settings, tmp / f"{name}-worker.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60)
        result = asyncio.run(measure_streams(port, tenants, args, settings))
        result["api_peak_rss_mib"] = peak_rss_mib(api.popen.pid)
        result["load_average_1m"] = round(os.getloadavg()[0], 1)  # the machine's, others' work too
    finally:
        worker.stop()
        api.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgresql", default=os.environ.get("VPSORG_BENCH_PG_URL", ""))
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--streams", type=int, default=1000)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, args.streams * 2 + 1000))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        try:
            results["SQLite"] = measure("sqlite", database_url(tmp / "bench.db", postgresql=""), tmp, args)
            if args.postgresql:
                results["PostgreSQL"] = measure(
                    "postgresql", database_url(tmp / "bench-pg", postgresql=args.postgresql), tmp, args
                )
        finally:
            drop_created()
    per = args.streams // ACCOUNTS
    print(
        f"{args.streams} streams on one API process ({ACCOUNTS} accounts x {per}); reboots of "
        f"{ACCOUNTS * SERVERS_PER_ACCOUNT} simulator servers queued at {RATE:.0f}/s for {args.seconds:.0f} s"
    )
    print(
        f"{'':12}{'reboots/s':>10}{'deliveries':>11}{'missing':>8}{'median ms':>10}{'p99 ms':>8}"
        f"{'any: median':>12}{'p99':>8}{'API RSS MiB':>12}{'skipped':>8}{'load':>6}"
    )
    for name, r in results.items():
        print(
            f"{name:12}{r['reboots_per_s']:>10.1f}{r['deliveries']:>11}{r['missing']:>8}{r['median_ms']:>10.1f}"
            f"{r['p99_ms']:>8.1f}{r['any_event_median_ms']:>12.1f}{r['any_event_p99_ms']:>8.1f}"
            f"{r['api_peak_rss_mib']:>12.1f}{r['skipped']:>8}{r['load_average_1m']:>6.1f}"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    record = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "streams": args.streams,
              "accounts": ACCOUNTS, "rate": RATE, "seconds": args.seconds, "results": results}  # fmt: skip
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")


if __name__ == "__main__":
    main()
