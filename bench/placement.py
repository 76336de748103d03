"""Create latency with 10 and with 1,000 hosts in the location, 100,000 servers stored.

Placement (vpsorg.hosts.service.place) runs in every create's transaction: it picks an
enabled host of the location with room, in the policy's order, and takes the plan's room
on it with a conditional UPDATE. This measures what that costs as a location's hosts grow.

Each host count gets a fresh database (a temporary SQLite file, or a scratch database on
the PostgreSQL server of `--postgresql`, dropped at the end), migrated, with the default
catalog and a `bench` location with large pools loaded without its default host. Then, in
bulk with SQLAlchemy Core (executemany batches), not through the API: the location's hosts
(every fiftieth one disabled and the one before it draining, so the 1,000-host location has
hosts that must be passed over), and `--servers` servers owned by filler accounts (20
each: one account's live-server counter, kept by a trigger per row, would make one long
chain of row versions on PostgreSQL in the one seeding transaction), every
tenth one deleted and torn down (no address, no host), every other one on host i mod H;
each host's usage counters are the sums of its servers' plans, and its capacity a different
multiple of its use (so the hosts' shares of memory free differ), with room enough for
every measured create on any host. The allocator recounts the addresses.

Then `--creates` servers per case are created in `bench` for a fresh account (its own
server limit raised), each through the service function (`servers.create_server`, which
places it) in its own write transaction, commit included, the cases taking turns (10 hosts,
1,000 hosts, each policy) so that a busy machine's load falls on all alike; no HTTP, no
worker. Prints the median, p90 and p99 per case (and the median time of its placement
statements, those on the hosts table, timed at the cursor), the ratio 1,000 hosts / 10 hosts per
policy (the target is at most 1.5), that the counters still equal the sums afterwards, and
with `--explain` the database's plan of the placement UPDATE at each host count (EXPLAIN
ANALYZE in a rolled-back transaction on PostgreSQL, EXPLAIN QUERY PLAN on SQLite).
Bounded: a fixed number of creates per case.

    .venv/bin/python bench/placement.py [--postgresql [URL]] [--explain]
"""

import argparse
import asyncio
import ipaddress
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, func, insert, select, update  # noqa: E402
from tests.databases import database_url, drop_created  # noqa: E402

from vpsorg import migrate  # noqa: E402
from vpsorg.accounts import service as accounts  # noqa: E402
from vpsorg.accounts.models import Account  # noqa: E402
from vpsorg.catalog import service as catalog  # noqa: E402
from vpsorg.catalog.models import Location, Plan  # noqa: E402
from vpsorg.catalog.schemas import CatalogIn  # noqa: E402
from vpsorg.config import Settings  # noqa: E402
from vpsorg.db import make_engine, make_sessionmaker, run_transaction  # noqa: E402
from vpsorg.hosts import service as hosts  # noqa: E402
from vpsorg.hosts.models import Host  # noqa: E402
from vpsorg.ipam import service as ipam  # noqa: E402
from vpsorg.servers import service as servers  # noqa: E402
from vpsorg.servers.models import Server  # noqa: E402
from vpsorg.servers.schemas import ServerCreate  # noqa: E402

DEFAULT_PG = os.environ.get(
    "VPSORG_BENCH_DATABASE_URL", "postgresql+psycopg://vpsorg:vpsorg@127.0.0.1:5432/postgres"
)
BENCH_LOCATION = {
    "code": "bench",
    "name": "Bench",
    "country": "ZZ",
    "ipv4_pool": "10.0.0.0/8",
    "ipv4_gateway": "10.0.0.1",
    "ipv6_pool": "2001:db8:be::/64",
    "ipv6_gateway": "2001:db8:be::1",
}
PLAN = {"id": 3, "vcpus": 1, "memory": 1024, "storage": 25}  # Starter VPS (the default catalog)
CHUNK = 5000
PER_ACCOUNT = 20  # servers per filler account
WARM_UP = 3


def host_rows(n_hosts: int, n_servers: int, location_id: int, room: int) -> list[dict[str, Any]]:
    """The location's hosts, with the counters of the servers `server_rows` puts on them."""
    on = Counter(i % n_hosts for i in range(n_servers) if i % 10 != 5)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    made = []
    for j in range(n_hosts):
        used = on[j]
        # A different multiple of its use per host, and room for every measured create.
        slots = int(used * (1.25 + (j % 8) / 8)) + room
        state = "disabled" if j % 50 == 49 else "draining" if j % 50 == 48 else "enabled"
        made.append(
            {
                "id": j + 1,
                "name": f"h{j}",
                "location_id": location_id,
                "vcpus": (slots * PLAN["vcpus"] + 3) // 4,  # cpu_overcommit 4.0
                "memory_mib": slots * PLAN["memory"],
                "disk_gb": slots * PLAN["storage"],
                "cpu_overcommit": 4.0,
                "memory_overcommit": 1.0,
                "disk_overcommit": 1.0,
                "state": state,
                "used_vcpus": used * PLAN["vcpus"],
                "used_memory_mib": used * PLAN["memory"],
                "used_disk_gb": used * PLAN["storage"],
                "servers": used,
                "created_at": now,
            }
        )
    return made


def server_rows(n: int, n_hosts: int, first_account: int, location_id: int) -> Any:
    """n servers at address offsets 2, 3, ... (1 is the gateway); every tenth deleted and torn
    down (addresses released, no host); the others on host i mod n_hosts."""
    v4 = int(ipaddress.ip_network(BENCH_LOCATION["ipv4_pool"]).network_address)
    v6 = int(ipaddress.ip_network(BENCH_LOCATION["ipv6_pool"]).network_address)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    for i in range(n):
        gone = i % 10 == 5
        yield {
            "account_id": first_account + i // PER_ACCOUNT,
            "host_id": None if gone else i % n_hosts + 1,
            "name": f"f{i}",
            "hostname": f"f{i}.example.com",
            "status": "active",
            "power_state": "running",
            "plan_id": PLAN["id"],
            "os_id": 5,
            "location_id": location_id,
            "backups_enabled": False,
            "price_hourly": Decimal("0.0089"),
            "price_monthly": Decimal("6.00"),
            "ipv4_address": None if gone else str(ipaddress.IPv4Address(v4 + 2 + i)),
            "ipv6_address": None if gone else ipaddress.IPv6Address(v6 + 2 + i).compressed,
            "provisioned_at": now,
            "created_at": now,
            "updated_at": now,
            "deleted_at": now if gone else None,
        }


def prepare(settings: Settings, n_hosts: int, n_servers: int, room: int) -> int:
    """Migrate, load the catalog, insert the hosts and servers in bulk; a fresh account's id."""
    migrate.upgrade(settings)
    extra = CatalogIn.model_validate({"locations": [BENCH_LOCATION]})
    run_transaction(settings, lambda s: catalog.load_catalog(s, catalog=catalog.read_catalog(None)))
    run_transaction(settings, lambda s: catalog.load_catalog(s, catalog=extra, default_hosts=False))

    async def fill(session: Any) -> int:
        plan = await session.get(Plan, PLAN["id"])
        assert (plan.vcpus, plan.memory, plan.storage) == (PLAN["vcpus"], PLAN["memory"], PLAN["storage"])
        first_account = int(await session.scalar(select(func.coalesce(func.max(Account.id), 0)))) + 1
        fillers = (n_servers + PER_ACCOUNT - 1) // PER_ACCOUNT
        now = datetime(2026, 11, 1, tzinfo=UTC)
        await session.execute(
            insert(Account),
            [
                {"id": first_account + k, "email": f"filler{k}@example.com", "balance": 0, "created_at": now}
                for k in range(fillers)
            ],
        )
        location = await session.scalar(select(Location).where(Location.code == "bench"))
        # Ids given explicitly (so the servers can name their host): start past the default hosts.
        first = int(await session.scalar(select(func.coalesce(func.max(Host.id), 0)))) + 1
        made = host_rows(n_hosts, n_servers, location.id, room)
        for row in made:
            row["id"] += first - 1
        await session.execute(insert(Host), made)
        batch: list[dict[str, Any]] = []
        for row in server_rows(n_servers, n_hosts, first_account, location.id):
            if row["host_id"] is not None:
                row["host_id"] += first - 1
            batch.append(row)
            if len(batch) == CHUNK:
                await session.execute(insert(Server), batch)
                batch = []
        if batch:
            await session.execute(insert(Server), batch)
        if session.bind.dialect.name == "postgresql":  # ids given: move the sequences past them
            for table, last in (("hosts", first + n_hosts), ("accounts", first_account + fillers)):
                await session.execute(select(func.setval(func.pg_get_serial_sequence(table, "id"), last)))
        await ipam.rebuild(session, location=location)  # rows written behind the allocator's back
        customer = await accounts.create_account(session, email="bench@example.com", credit=Decimal(10**7))
        await session.execute(update(Account).where(Account.id == customer.id).values(server_limit=10**6))
        return int(customer.id)

    return int(run_transaction(settings, fill))


async def consistent(sessions: Any) -> bool:
    """Every host's counters equal the sums of the plans of the servers on it."""
    async with sessions() as session:
        sums = {
            host_id: (v, m, d, n)
            for host_id, v, m, d, n in await session.execute(
                select(
                    Server.host_id,
                    func.sum(Plan.vcpus),
                    func.sum(Plan.memory),
                    func.sum(Plan.storage),
                    func.count(),
                )
                .join(Plan, Plan.id == Server.plan_id)
                .where(Server.host_id.is_not(None))
                .group_by(Server.host_id)
            )
        }
        counters = {
            h.id: (h.used_vcpus, h.used_memory_mib, h.used_disk_gb, h.servers)
            for h in await session.scalars(select(Host))
            if h.servers or h.id in sums
        }
    return counters == sums


async def explain(engine: Any, statement: str, parameters: Any) -> list[str]:
    """The database's plan of one captured statement, nothing of it kept."""
    async with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = await conn.exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF) " + statement, parameters)
            plan = [r[0] for r in rows]
        else:
            rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            plan = [f"{'  ' * (r[1] and 1)}{r[3]}" for r in rows]
        await conn.rollback()
    return plan


class PlacementClock:
    """The time an engine spends in placement's statements (those on the hosts table)."""

    def __init__(self, engine: Any) -> None:
        self.spent = 0.0
        event.listen(engine.sync_engine, "before_cursor_execute", self._before)
        event.listen(engine.sync_engine, "after_cursor_execute", self._after)

    @staticmethod
    def _before(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("UPDATE HOSTS", "SELECT HOSTS.ID")):
            conn.info["placement_t0"] = time.perf_counter()

    def _after(self, conn: Any, *_: Any) -> None:
        t0 = conn.info.pop("placement_t0", None)
        if t0 is not None:
            self.spent += time.perf_counter() - t0


Times = dict[tuple[int, str], list[float]]


async def measure(
    settings: dict[int, Settings],
    account: dict[int, int],
    policies: list[str],
    creates: int,
    show_plans: bool,
) -> tuple[Times, Times, dict[int, bool], dict[int, list[str]]]:
    """Each case's create latencies and the time its placement statements took in them."""
    engines = {n: make_engine(s) for n, s in settings.items()}
    sessions = {n: make_sessionmaker(e) for n, e in engines.items()}
    clocks = {n: PlacementClock(e) for n, e in engines.items()}
    took: Times = {(n, p): [] for n in settings for p in policies}
    placing: Times = {(n, p): [] for n in settings for p in policies}
    plans: dict[int, list[str]] = {}
    try:
        for i in range(creates + WARM_UP):
            for n in settings:
                for policy in policies:
                    data = ServerCreate.model_validate(
                        {"name": f"b{i}", "plan_id": PLAN["id"], "os_id": 5, "location": "bench"}
                    )
                    t0, p0 = time.perf_counter(), clocks[n].spent
                    async with sessions[n].begin() as session:
                        await servers.create_server(
                            session, account_id=account[n], data=data, policy=hosts.Policy(policy)
                        )
                    if i >= WARM_UP:
                        took[(n, policy)].append(time.perf_counter() - t0)
                        placing[(n, policy)].append(clocks[n].spent - p0)
        ok = {n: await consistent(sessions[n]) for n in settings}
        if show_plans:
            for n, engine in engines.items():
                seen: list[tuple[str, Any]] = []

                def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
                    if statement.lstrip().upper().startswith("UPDATE HOSTS"):
                        seen.append((statement, parameters))  # noqa: B023 (used before the next loop)

                event.listen(engine.sync_engine, "before_cursor_execute", capture)
                data = ServerCreate.model_validate(
                    {"name": "explained", "plan_id": PLAN["id"], "os_id": 5, "location": "bench"}
                )
                async with sessions[n]() as session:
                    await servers.create_server(session, account_id=account[n], data=data)
                    await session.rollback()
                event.remove(engine.sync_engine, "before_cursor_execute", capture)
                plans[n] = await explain(engine, *seen[0])
    finally:
        for engine in engines.values():
            await engine.dispose()
    return took, placing, ok, plans


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


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
    parser.add_argument("--hosts", default="10,1000", help="two host counts, small then large")
    parser.add_argument("--servers", type=int, default=100_000, help="servers stored in each database")
    parser.add_argument("--creates", type=int, default=100, help="creates measured per case")
    parser.add_argument("--policies", default="spread,pack", help="VPSORG_PLACEMENT values to measure")
    parser.add_argument("--explain", action="store_true", help="print the placement UPDATE's plan")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # still drop the scratch databases
    small, large = (int(s) for s in args.hosts.split(","))
    policies = args.policies.split(",")
    room = (args.creates + WARM_UP) * len(policies) + 1
    print(
        f"database: {'PostgreSQL' if args.postgresql else 'SQLite'}; {args.servers} servers stored;"
        " through servers.create_server, one transaction each (no HTTP)",
        flush=True,
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings, account = {}, {}
            for n in (small, large):
                settings[n] = Settings(
                    database_url=database_url(
                        Path(tmp) / f"placement-{n}.db", postgresql=args.postgresql or ""
                    ),
                    log_level="warning",
                )
                t0 = time.perf_counter()
                account[n] = prepare(settings[n], n, args.servers, room)
                print(f"{n:>5} hosts: seeded in {time.perf_counter() - t0:.0f} s", flush=True)
            took, placing, ok, plans = asyncio.run(
                measure(settings, account, policies, args.creates, args.explain)
            )
    finally:
        drop_created()
    for policy in policies:
        for n in (small, large):
            t = took[(n, policy)]
            print(
                f"{policy:>6} {n:>5} hosts: create median {statistics.median(t) * 1000:7.2f} ms"
                f"  p90 {pct(t, 0.9) * 1000:7.2f} ms  p99 {pct(t, 0.99) * 1000:7.2f} ms  ({len(t)} creates);"
                f" placing it: median {statistics.median(placing[(n, policy)]) * 1000:6.3f} ms"
            )
    for policy in policies:
        a, b = statistics.median(took[(small, policy)]), statistics.median(took[(large, policy)])
        print(f"{policy:>6} median ratio {large}/{small} hosts: {b / a:.2f} (target <= 1.5)")
    for n in (small, large):
        print(f"{n:>5} hosts: counters equal the sums of the servers' plans afterwards: {ok[n]}")
    for n, plan in plans.items():
        print(f"placement UPDATE plan, {n} hosts:")
        for line in plan:
            print(f"    {line}")


if __name__ == "__main__":
    main()
