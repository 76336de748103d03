"""simulator: a log of driver calls (sim_calls)

Revision ID: 8c3f2a9d4e10
Revises: 5b1d0c2e7a41
Create Date: 2026-11-27 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import vpsorg.db

revision: str = "8c3f2a9d4e10"
down_revision: str | None = "5b1d0c2e7a41"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sim_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("op", sa.String(length=20), nullable=False),
        sa.Column("at", vpsorg.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sim_calls")),
    )
    op.create_index(op.f("ix_sim_calls_server_id"), "sim_calls", ["server_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sim_calls_server_id"), table_name="sim_calls")
    op.drop_table("sim_calls")
