"""resize: the plan a resize leaves (on its action), and what a month cost before a resize

actions.from_plan_id: a resize's server had this plan before (the server's row has the new
one from the request on); a failed resize gives it back. A plain id, no foreign key, as the
migrations' host ids: the history outlives a plan.

servers.month_carried: what the server's charges in billing_month added up to under the
plans it had before its last resize in that month (vpsorg.billing.prices: the month's
total carries it). A plain ADD COLUMN: on SQLite a batch rebuild of servers would drop its
triggers.

Revision ID: 3e8b5c1f9a27
Revises: 8b3f5d2a6c71
Create Date: 2026-12-06 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3e8b5c1f9a27"
down_revision: str | None = "8b3f5d2a6c71"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("actions", sa.Column("from_plan_id", sa.Integer(), nullable=True))
    op.add_column(
        "servers",
        sa.Column("month_carried", sa.Numeric(14, 2), server_default="0", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("servers", "month_carried")
    op.drop_column("actions", "from_plan_id")
