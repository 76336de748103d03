"""each account's monthly commitment, in cents, kept by triggers

accounts.commitment_cents is one month of every live server of the account (what
vpsorg.billing.prices.monthly_price gives for its price_monthly and backups_enabled), in
whole cents: an integer, exact on SQLite too (which keeps NUMERIC as floating point).
Triggers on servers keep it, as those of 5b1e7d3c9a40 keep live_servers, whatever writes
the rows: a create's credit check then reads it, with live_servers, from the account row
it locks (one statement, O(1)) instead of grouping every live server of the account.

A server's month in cents, from its price_monthly M (two decimals) and backups_enabled:
m = M * 100, plus the backup surcharge round-half-up(m * 20%) = (2m + 5) / 10 in integer
division (m >= 0) when backups are on.

Revision ID: 7d4e2a9c6b15
Revises: 5b1e7d3c9a40
Create Date: 2026-12-06 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7d4e2a9c6b15"
down_revision: str | None = "5b1e7d3c9a40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def month_cents(row: str, postgresql: bool) -> str:
    """One month of the server `row` (NEW or OLD, or a table's name), in cents."""
    integer = "bigint" if postgresql else "INTEGER"
    m = f"CAST(round({row}.price_monthly * 100) AS {integer})"
    backups = f"{row}.backups_enabled" if postgresql else f"{row}.backups_enabled <> 0"
    return f"({m} + CASE WHEN {backups} THEN ({m} * 2 + 5) / 10 ELSE 0 END)"


def add(row: str, postgresql: bool) -> str:
    return (
        f"UPDATE accounts SET commitment_cents = commitment_cents + {month_cents(row, postgresql)}"
        f" WHERE id = {row}.account_id"
    )


def sub(row: str, postgresql: bool) -> str:
    return (
        f"UPDATE accounts SET commitment_cents = commitment_cents - {month_cents(row, postgresql)}"
        f" WHERE id = {row}.account_id"
    )


# What changes a live server's month: its price, its backups, its owner.
PRICED = "backups_enabled, price_monthly, account_id"
CHANGED = (
    "(OLD.backups_enabled IS NOT NEW.backups_enabled OR OLD.price_monthly IS NOT NEW.price_monthly"
    " OR OLD.account_id IS NOT NEW.account_id)"
)
# (name, event, condition, statements): a server appears (inserted live, or undeleted),
# disappears (marked deleted, or its row removed while live), or changes its price while live.
TRIGGERS = [
    ("servers_commitment_insert", "INSERT", "NEW.deleted_at IS NULL", ("add NEW",)),
    (
        "servers_commitment_undelete",
        "UPDATE OF deleted_at",
        "OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL",
        ("add NEW",),
    ),
    (
        "servers_commitment_delete",
        "UPDATE OF deleted_at",
        "OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL",
        ("sub OLD",),
    ),
    ("servers_commitment_remove", "DELETE", "OLD.deleted_at IS NULL", ("sub OLD",)),
    (
        "servers_commitment_reprice",
        f"UPDATE OF {PRICED}",
        f"OLD.deleted_at IS NULL AND NEW.deleted_at IS NULL AND {CHANGED}",
        ("sub OLD", "add NEW"),
    ),
]


def _statement(step: str, postgresql: bool) -> str:
    what, row = step.split()
    return (add if what == "add" else sub)(row, postgresql)


def upgrade() -> None:
    op.add_column(
        "accounts", sa.Column("commitment_cents", sa.BigInteger(), server_default="0", nullable=False)
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    live = "servers.deleted_at IS NULL AND servers.account_id = accounts.id"
    op.execute(
        f"UPDATE accounts SET commitment_cents = COALESCE((SELECT sum({month_cents('servers', postgresql)})"
        f" FROM servers WHERE {live}), 0)"
    )
    for name, event, condition, steps in TRIGGERS:
        body = "; ".join(_statement(step, postgresql) for step in steps)
        if postgresql:
            # IS NOT is SQLite's; PostgreSQL's is IS DISTINCT FROM
            condition = condition.replace(" IS NOT NEW.", " IS DISTINCT FROM NEW.")
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN {body}; RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON servers FOR EACH ROW"
                f" WHEN ({condition}) EXECUTE FUNCTION {name}()"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON servers FOR EACH ROW WHEN {condition} BEGIN {body}; END"
            )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, *_ in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON servers" if postgresql else f"DROP TRIGGER {name}")
        if postgresql:
            op.execute(f"DROP FUNCTION {name}()")
    # In place (SQLite 3.35+ drops a plain column so): a batch copy of accounts would drop
    # and recreate a table other tables' rows refer to, which SQLite refuses with data in it.
    op.drop_column("accounts", "commitment_cents")
