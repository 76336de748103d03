"""The migrations build exactly the schema the models describe, on the database under test."""

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import vpsorg.models  # noqa: F401 (every model on Base.metadata)
from tests.conftest import run_db, test_settings
from vpsorg import migrate
from vpsorg.accounts.models import Account, ApiToken
from vpsorg.billing.models import LedgerEntry
from vpsorg.catalog import service as catalog
from vpsorg.catalog.models import Location
from vpsorg.db import Base, UTCDateTime, make_engine
from vpsorg.ipam import service as ipam
from vpsorg.ipam.models import ReleasedAddress
from vpsorg.servers.models import Server


def old_catalog(settings: Any, extra_locations: Sequence[dict[str, str]] = ()) -> None:
    """The default catalog in a database at an older revision: locations with Core (the
    model has columns that later migrations add)."""
    default = catalog.read_catalog(None)
    run_db(settings, lambda s: catalog.load_catalog(s, catalog=default.model_copy(update={"locations": []})))
    rows = [loc.model_dump() for loc in default.locations] + [
        dict(loc, available=True) for loc in extra_locations
    ]
    locations = sa.table("locations", *(sa.column(c) for c in rows[0]))
    run_db(settings, lambda s: s.execute(locations.insert(), rows))


def test_migrations_match_the_models(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "schema.db")
    migrate.upgrade(settings)

    def diff(connection: Any) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    async def main() -> list[Any]:
        engine = make_engine(settings)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(diff)
        finally:
            await engine.dispose()

    assert asyncio.run(main()) == []


def test_the_billing_migration_carries_existing_data_over(tmp_path: Path) -> None:
    """An account's credit becomes its balance with an opening ledger entry; servers take
    their plan's prices, provisioned ones start being charged; tokens keep working (write)."""
    settings = test_settings(tmp_path / "old.db")
    command.upgrade(migrate.alembic_config(settings), "8c3f2a9d4e10")  # the revision before billing
    old_catalog(settings)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    ts = UTCDateTime()
    accounts = sa.table(
        "accounts",
        sa.column("id"),
        sa.column("email"),
        sa.column("credit", sa.Numeric(14, 2)),
        sa.column("created_at", ts),
    )
    tokens = sa.table(
        "api_tokens", sa.column("account_id"), sa.column("token_hash"), sa.column("created_at", ts)
    )
    columns = ("id", "account_id", "name", "hostname", "status", "power_state", "plan_id", "os_id")
    servers = sa.table(
        "servers",
        *(sa.column(c) for c in columns + ("location_id", "backups_enabled")),
        *(sa.column(c, ts) for c in ("created_at", "updated_at", "provisioned_at")),
    )

    async def old_rows(session: Any) -> None:
        location = await session.scalar(sa.text("SELECT id FROM locations WHERE code = 'us-west'"))
        await session.execute(
            accounts.insert(),
            [
                {"id": 1, "email": "a@example.com", "credit": Decimal("12.34"), "created_at": now},
                {"id": 2, "email": "b@example.com", "credit": Decimal("0"), "created_at": now},
            ],
        )
        await session.execute(tokens.insert(), [{"account_id": 1, "token_hash": "h" * 64, "created_at": now}])
        base = {"account_id": 1, "hostname": "a.example.com", "power_state": "running", "os_id": 5}
        base |= {"location_id": location, "backups_enabled": False, "created_at": now, "updated_at": now}
        await session.execute(
            servers.insert(),
            [
                base | {"id": 1, "name": "up", "status": "active", "plan_id": 3, "provisioned_at": now},
                base
                | {"id": 2, "name": "new", "status": "provisioning", "plan_id": 1, "provisioned_at": None},
            ],
        )

    run_db(settings, old_rows)
    migrate.upgrade(settings)

    async def check(session: Any) -> None:
        balances = dict((await session.execute(sa.select(Account.id, Account.balance))).all())
        assert balances == {1: Decimal("12.34"), 2: Decimal("0.00")}
        entries = (
            await session.execute(sa.select(LedgerEntry.account_id, LedgerEntry.amount, LedgerEntry.reason))
        ).all()
        assert [tuple(e) for e in entries] == [(1, Decimal("12.34"), "opening balance")]
        assert (await session.scalars(sa.select(ApiToken.scope))).all() == ["write"]
        rows = (
            await session.execute(
                sa.select(Server.id, Server.price_hourly, Server.price_monthly, Server.billed_until).order_by(
                    Server.id
                )
            )
        ).all()
        assert rows[0][1:3] == (Decimal("0.0089"), Decimal("6.00")) and rows[0][3] is not None
        assert rows[1][1:] == (Decimal("0.0360"), Decimal("24.00"), None)

    run_db(settings, check)


def test_the_address_migration_continues_where_the_servers_left_off(tmp_path: Path) -> None:
    """Counters and free lists are initialized from the addresses servers hold (a deleted
    server not yet torn down still holds its own); allocation goes on lowest free first."""
    settings = test_settings(tmp_path / "old.db")
    command.upgrade(migrate.alembic_config(settings), "7e2b9c4d1a55")  # the revision before
    # A pool whose gateway is not its first host, so the free list has it to skip.
    mid = {"code": "mid", "name": "Mid", "country": "ZZ", "ipv4_pool": "198.19.0.0/29"}
    mid |= {"ipv4_gateway": "198.19.0.3", "ipv6_pool": "2001:db8:c::/64", "ipv6_gateway": "2001:db8:c::1"}
    old_catalog(settings, [mid])
    now = datetime(2026, 11, 1, tzinfo=UTC)
    ts = UTCDateTime()
    columns = ("account_id", "name", "hostname", "status", "power_state", "plan_id", "os_id", "location_id")
    columns += ("backups_enabled", "ipv4_address", "ipv6_address")
    servers = sa.table(
        "servers",
        *(sa.column(c) for c in columns),
        *(sa.column(c, sa.Numeric(10, 4)) for c in ("price_hourly", "price_monthly")),
        *(sa.column(c, ts) for c in ("created_at", "updated_at", "deleted_at")),
    )
    held = [  # (location, IPv4, IPv6, deleted)
        ("us-west", "203.0.113.2", "2001:db8:1::2", False),
        ("us-west", "203.0.113.3", "2001:db8:1::3", False),
        ("us-west", "203.0.113.5", "2001:db8:1::5", True),  # deleted, not yet torn down
        ("us-west", None, None, True),  # torn down: released
        ("mid", "198.19.0.2", "2001:db8:c::3", False),
        ("mid", "198.19.0.5", "2001:db8:c::4", False),
    ]

    async def old_rows(session: Any) -> None:
        await session.execute(
            sa.text(
                "INSERT INTO accounts (id, email, balance, created_at) VALUES (1, 'a@example.com', 0, '2026-11-01')"
            )
        )
        ids = dict((await session.execute(sa.text("SELECT code, id FROM locations"))).all())
        base = {"account_id": 1, "status": "active", "power_state": "running", "plan_id": 3, "os_id": 5}
        base |= {"backups_enabled": False}
        base |= {
            "price_hourly": Decimal("0.0089"),
            "price_monthly": Decimal("6.00"),
            "created_at": now,
            "updated_at": now,
        }
        rows = [
            base
            | {"name": f"s{i}", "hostname": f"s{i}.example.com", "location_id": ids[code]}
            | {"ipv4_address": v4, "ipv6_address": v6, "deleted_at": now if deleted else None}
            for i, (code, v4, v6, deleted) in enumerate(held)
        ]
        await session.execute(servers.insert(), rows)

    run_db(settings, old_rows)
    migrate.upgrade(settings)

    def allocations(code: str, n: int) -> Any:
        async def take(session: Any) -> list[tuple[str, str]]:
            location = await session.scalar(sa.select(Location).where(Location.code == code))
            return [await ipam.allocate(session, location=location) for _ in range(n)]

        return run_db(settings, take)

    async def state(session: Any) -> Any:
        counters = (
            await session.execute(sa.select(Location.code, Location.ipv4_next_host, Location.ipv6_next_host))
        ).all()
        free = (
            await session.execute(
                sa.select(ReleasedAddress.family, ReleasedAddress.host)
                .join(Location)
                .where(Location.code == "mid")
            )
        ).all()
        return {c: (v4, v6) for c, v4, v6 in counters}, sorted(free)

    counters, free = run_db(settings, state)
    # us-west: hosts 0 (the gateway) to 4 seen; mid: .2 is host 1, .5 host 4; ::3 host 2, ::4 host 3.
    assert counters["us-west"] == (5, 5) and counters["mid"] == (5, 4) and counters["us-east"] == (0, 0)
    assert free == [(4, 0), (4, 3), (6, 1)]  # .1, .4 and ::2 (the gateways .3 and ::1 are not)
    assert allocations("us-west", 3) == [
        ("203.0.113.4", "2001:db8:1::4"),
        ("203.0.113.6", "2001:db8:1::6"),
        ("203.0.113.7", "2001:db8:1::7"),
    ]
    assert allocations("mid", 2) == [("198.19.0.1", "2001:db8:c::2"), ("198.19.0.4", "2001:db8:c::5")]
    assert allocations("mid", 1) == [("198.19.0.6", "2001:db8:c::6")]
    assert allocations("us-east", 1) == [("198.51.100.2", "2001:db8:2::2")]
