"""The migrations build exactly the schema the models describe, on the database under test."""

import asyncio
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
from vpsorg.db import Base, UTCDateTime, make_engine
from vpsorg.servers.models import Server


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
    run_db(settings, lambda s: catalog.load_catalog(s, catalog=catalog.read_catalog(None)))
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
