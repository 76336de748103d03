"""snapshots: copies of servers' disks (snapshots and daily backups), charged per GB-month;
catalog_prices (the price per GB-month among them); ledger_entries.snapshot_id

Revision ID: 3f6a9d2c8b14
Revises: 3e8b5c1f9a27
Create Date: 2026-12-06 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import vpsorg.db

revision: str = "3f6a9d2c8b14"
down_revision: str | None = "3e8b5c1f9a27"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TO_REMOVE = "deleted_at IS NOT NULL AND removed_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=True),
        sa.Column("action_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("size_gb", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", vpsorg.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", vpsorg.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("removed_at", vpsorg.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("price_hourly", sa.Numeric(precision=12, scale=6), nullable=True),
        sa.Column("price_monthly", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("billed_until", vpsorg.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("billing_month", sa.String(length=7), nullable=True),
        sa.Column("month_hours", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_snapshots_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"], name=op.f("fk_snapshots_server_id_servers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshots")),
    )
    op.create_index("ix_snapshots_account_id_id", "snapshots", ["account_id", "id"])
    op.create_index("ix_snapshots_server_id_kind", "snapshots", ["server_id", "kind"])
    op.create_index(op.f("ix_snapshots_action_id"), "snapshots", ["action_id"])
    op.create_index(op.f("ix_snapshots_billed_until"), "snapshots", ["billed_until"])
    op.create_index(
        "ix_snapshots_to_remove",
        "snapshots",
        ["id"],
        postgresql_where=sa.text(TO_REMOVE),
        sqlite_where=sa.text(TO_REMOVE),
    )
    op.create_table(
        "catalog_prices",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_catalog_prices")),
    )
    # The simulator's images, as the old migrations made its other tables (the simulator
    # also creates it where missing: vpsorg.drivers.simtables).
    op.create_table(
        "sim_snapshots",
        sa.Column("snapshot_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("size_gb", sa.Integer(), nullable=False),
        sa.Column("created_at", vpsorg.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("snapshot_id", name=op.f("pk_sim_snapshots")),
    )
    op.add_column("ledger_entries", sa.Column("snapshot_id", sa.Integer(), nullable=True))
    op.create_index(
        "uq_ledger_entries_snapshot_id_period_start",
        "ledger_entries",
        ["snapshot_id", "period_start"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_ledger_entries_snapshot_id_period_start", table_name="ledger_entries")
    op.drop_column("ledger_entries", "snapshot_id")
    op.drop_table("sim_snapshots")
    op.drop_table("catalog_prices")
    op.drop_index("ix_snapshots_to_remove", table_name="snapshots")
    op.drop_index(op.f("ix_snapshots_billed_until"), table_name="snapshots")
    op.drop_index(op.f("ix_snapshots_action_id"), table_name="snapshots")
    op.drop_index("ix_snapshots_server_id_kind", table_name="snapshots")
    op.drop_index("ix_snapshots_account_id_id", table_name="snapshots")
    op.drop_table("snapshots")
