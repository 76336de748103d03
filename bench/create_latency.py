"""Median create latency with 1,000 and with 100,000 servers in the database.

Each size gets a fresh database (a temporary SQLite file, or a scratch database on the
PostgreSQL server of `--url`, dropped at the end), migrated, with the default catalog and a
`bench` location whose pools are large enough (10.0.0.0/8, a /64). The servers are
inserted in bulk with SQLAlchemy Core, not through the API: all in the `bench` location,
owned by one filler account, every tenth one deleted with its addresses released (so
there are gaps to reuse). Then `--creates` servers are created in `bench` for a fresh
account, each through the service function (`servers.create_server`) in its own write
transaction, commit included, alternating between the two sizes so that a busy
machine's load falls on both alike; no HTTP, no worker. Prints the median at each size and the
ratio (the target is at most 1.5). Bounded: a fixed number of creates per size.

    .venv/bin/python bench/create_latency.py [--url postgresql+psycopg://...] [--sizes 1000,100000]
"""

import argparse
import asyncio
import ipaddress
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select  # noqa: E402
from tests.databases import database_url, drop_created  # noqa: E402

from vpsorg import migrate  # noqa: E402
from vpsorg.accounts import service as accounts  # noqa: E402
from vpsorg.catalog import service as catalog  # noqa: E402
from vpsorg.catalog.models import Location  # noqa: E402
from vpsorg.catalog.schemas import CatalogIn  # noqa: E402
from vpsorg.config import Settings  # noqa: E402
from vpsorg.db import make_engine, make_sessionmaker, run_transaction  # noqa: E402
from vpsorg.ipam import service as ipam  # noqa: E402
from vpsorg.servers import service as servers  # noqa: E402
from vpsorg.servers.models import Server  # noqa: E402
from vpsorg.servers.schemas import ServerCreate  # noqa: E402

BENCH_LOCATION = {
    "code": "bench",
    "name": "Bench",
    "country": "ZZ",
    "ipv4_pool": "10.0.0.0/8",
    "ipv4_gateway": "10.0.0.1",
    "ipv6_pool": "2001:db8:be::/64",
    "ipv6_gateway": "2001:db8:be::1",
}
CHUNK = 5000


def rows(n: int, account_id: int, location_id: int) -> Any:
    """n servers at host offsets 2, 3, ... (1 is the gateway); every tenth deleted and released."""
    v4 = int(ipaddress.ip_network(BENCH_LOCATION["ipv4_pool"]).network_address)
    v6 = int(ipaddress.ip_network(BENCH_LOCATION["ipv6_pool"]).network_address)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    for i in range(n):
        gone = i % 10 == 5
        yield {
            "account_id": account_id,
            "name": f"f{i}",
            "hostname": f"f{i}.example.com",
            "status": "active",
            "power_state": "running",
            "plan_id": 3,
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


def prepare(settings: Settings, n: int) -> int:
    """Migrate, load the catalog, insert n servers in bulk; the id of a fresh account."""
    migrate.upgrade(settings)
    extra = CatalogIn.model_validate({"locations": [BENCH_LOCATION]})
    run_transaction(settings, lambda s: catalog.load_catalog(s, catalog=catalog.read_catalog(None)))
    run_transaction(settings, lambda s: catalog.load_catalog(s, catalog=extra))

    async def fill(session: Any) -> int:
        filler = await accounts.create_account(session, email="filler@example.com", credit=Decimal(0))
        location = await session.scalar(select(Location).where(Location.code == "bench"))
        batch: list[dict[str, Any]] = []
        for row in rows(n, filler.id, location.id):
            batch.append(row)
            if len(batch) == CHUNK:
                await session.execute(insert(Server), batch)
                batch = []
        if batch:
            await session.execute(insert(Server), batch)
        # Rows written behind the allocator's back: have it recount the location (if it keeps
        # counts; the allocator before issue 11 read every address on each create instead).
        rebuild = getattr(ipam, "rebuild", None)
        if rebuild is not None:
            await rebuild(session, location=location)
        customer = await accounts.create_account(session, email="bench@example.com", credit=Decimal(10**7))
        return int(customer.id)

    return int(run_transaction(settings, fill))


async def measure(
    settings: dict[int, Settings], account: dict[int, int], creates: int
) -> dict[int, list[float]]:
    """Creates at each size in turn (small, large, small, ...), so that the load of a busy
    machine falls on both alike."""
    engines = {n: make_engine(s) for n, s in settings.items()}
    sessions = {n: make_sessionmaker(e) for n, e in engines.items()}
    took: dict[int, list[float]] = {n: [] for n in settings}
    try:
        for i in range(creates + 3):  # three warm-up creates each, not counted
            for n in settings:
                data = ServerCreate.model_validate(
                    {"name": f"b{i}", "plan_id": 3, "os_id": 5, "location": "bench"}
                )
                t0 = time.perf_counter()
                async with sessions[n].begin() as session:
                    await servers.create_server(session, account_id=account[n], data=data)
                if i >= 3:
                    took[n].append(time.perf_counter() - t0)
    finally:
        for engine in engines.values():
            await engine.dispose()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="a PostgreSQL server URL (default: SQLite files)")
    parser.add_argument("--sizes", default="1000,100000", help="two sizes, small then large")
    parser.add_argument("--creates", type=int, default=50, help="creates measured per size")
    args = parser.parse_args()
    small, large = (int(s) for s in args.sizes.split(","))
    print(
        f"database: {'PostgreSQL' if args.url else 'SQLite'};"
        " through servers.create_server, one transaction each"
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings, account = {}, {}
            for n in (small, large):
                settings[n] = Settings(
                    database_url=database_url(Path(tmp) / f"bench-{n}.db", postgresql=args.url or ""),
                    log_level="warning",
                )
                t0 = time.perf_counter()
                account[n] = prepare(settings[n], n)
                print(f"{n:>7} servers inserted in {time.perf_counter() - t0:.0f} s", flush=True)
            took = asyncio.run(measure(settings, account, args.creates))
    finally:
        drop_created()
    for n in (small, large):
        p90 = sorted(took[n])[int(len(took[n]) * 0.9)]
        print(
            f"{n:>7} servers: create median {statistics.median(took[n]) * 1000:7.2f} ms"
            f"  p90 {p90 * 1000:7.2f} ms"
        )
    a, b = statistics.median(took[small]), statistics.median(took[large])
    print(f"ratio {large}/{small}: {b / a:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
