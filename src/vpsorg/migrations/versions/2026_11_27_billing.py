"""billing: ledger entries, server prices and billing state, suspension, token scopes

Revision ID: 4043a97068c4
Revises: 8c3f2a9d4e10
Create Date: 2026-11-27 07:00:00

Existing data is carried over: an account's credit becomes its balance with one opening
ledger entry; a server takes its plan's current prices and, if provisioned, starts being
charged from this migration on (hours before it were not charged by earlier versions).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import vpsorg.db
from vpsorg.db import utcnow

revision: str = "4043a97068c4"
down_revision: str | None = "8c3f2a9d4e10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("balance_after", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=True),
        sa.Column("period_start", vpsorg.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("period_end", vpsorg.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("hours", sa.Integer(), nullable=True),
        sa.Column("backup_hours", sa.Integer(), nullable=True),
        sa.Column("created_at", vpsorg.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_ledger_entries_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name=op.f("fk_ledger_entries_server_id_servers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint(
            "server_id", "period_start", name=op.f("uq_ledger_entries_server_id_period_start")
        ),
    )
    op.create_index("ix_ledger_entries_account_id_id", "ledger_entries", ["account_id", "id"], unique=False)

    # Plain ALTER TABLE (SQLite 3.25+ and PostgreSQL): a batch operation would rebuild the
    # table, and SQLite refuses to drop a table that other tables' rows refer to.
    op.execute("ALTER TABLE accounts RENAME COLUMN credit TO balance")
    now = utcnow()
    op.execute(
        sa.text(
            "INSERT INTO ledger_entries (account_id, kind, amount, balance_after, reason, created_at) "
            "SELECT id, 'adjustment', balance, balance, 'opening balance', :now FROM accounts "
            "WHERE balance <> 0"
        ).bindparams(sa.bindparam("now", now, type_=vpsorg.db.UTCDateTime()))
    )

    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope", sa.String(length=10), server_default="write", nullable=False))

    with op.batch_alter_table("servers", schema=None) as batch_op:
        # NOT NULL from the start (with a default that the UPDATE below overrides), for the
        # same reason: making a column NOT NULL later rebuilds the table on SQLite.
        batch_op.add_column(
            sa.Column("price_hourly", sa.Numeric(precision=10, scale=4), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("price_monthly", sa.Numeric(precision=10, scale=2), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("billed_until", vpsorg.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("billing_month", sa.String(length=7), nullable=True))
        batch_op.add_column(sa.Column("month_hours", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("month_backup_hours", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("suspension", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("resume_status", sa.String(length=20), nullable=True))
        batch_op.create_index(batch_op.f("ix_servers_billed_until"), ["billed_until"], unique=False)
    op.execute(
        "UPDATE servers SET "
        "price_hourly = (SELECT price_hourly FROM plans WHERE plans.id = servers.plan_id), "
        "price_monthly = (SELECT price_monthly FROM plans WHERE plans.id = servers.plan_id)"
    )
    op.execute(
        sa.text(
            "UPDATE servers SET billed_until = :now WHERE provisioned_at IS NOT NULL AND deleted_at IS NULL"
        ).bindparams(sa.bindparam("now", now, type_=vpsorg.db.UTCDateTime()))
    )
    if op.get_bind().dialect.name != "sqlite":  # SQLite cannot drop a default in place; it is harmless
        op.alter_column("servers", "price_hourly", server_default=None)
        op.alter_column("servers", "price_monthly", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_servers_billed_until"))
        for column in (
            "resume_status",
            "suspension",
            "month_backup_hours",
            "month_hours",
            "billing_month",
            "billed_until",
            "price_monthly",
            "price_hourly",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("scope")
    op.execute("ALTER TABLE accounts RENAME COLUMN balance TO credit")
    op.drop_index("ix_ledger_entries_account_id_id", table_name="ledger_entries")
    op.drop_table("ledger_entries")
