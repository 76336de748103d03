"""usage_history: each server's sampled usage over time, in tiers (vpsorg.usage)

Raw samples (tier 0), 5-minute means (tier 300) and hourly means (tier 3600), keyed by
(server_id, tier, time), time in epoch seconds; the index on (tier, time) serves the roll-up
and the retention. Starts empty: the latest samples in server_usage are not copied over.

Revision ID: b81e5c7d2a46
Revises: 5d8b1f3a7c62
Create Date: 2026-12-06 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b81e5c7d2a46"
down_revision: str | None = "5d8b1f3a7c62"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_history",
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("tier", sa.SmallInteger(), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("cpu_percent", sa.Float(), nullable=False),
        sa.Column("memory_used", sa.Float(), nullable=False),
        sa.Column("disk_used", sa.Float(), nullable=False),
        sa.Column("bandwidth_used", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["servers.id"],
            name=op.f("fk_usage_history_server_id_servers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("server_id", "tier", "time", name=op.f("pk_usage_history")),
    )
    op.create_index("ix_usage_history_tier_time", "usage_history", ["tier", "time"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_usage_history_tier_time", table_name="usage_history")
    op.drop_table("usage_history")
