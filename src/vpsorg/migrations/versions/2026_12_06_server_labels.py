"""server_labels: each server's labels, a JSON map of string keys to string values

Existing servers get none ({}). A plain ADD COLUMN with a server default: on SQLite a
batch rebuild of servers would drop its triggers.

Revision ID: 6a3d9e2f7c18
Revises: b81e5c7d2a46
Create Date: 2026-12-06 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6a3d9e2f7c18"
down_revision: str | None = "b81e5c7d2a46"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("servers", sa.Column("labels", sa.JSON(), server_default=sa.text("'{}'"), nullable=False))


def downgrade() -> None:
    op.drop_column("servers", "labels")
