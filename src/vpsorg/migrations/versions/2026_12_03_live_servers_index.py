"""live servers index: (account_id, id) over the servers not deleted

An account's list (ordered by id, deleted servers left out) walks this index in order, a
cursor page is a range of it, and the list's count an index-only scan: the older
(account_id, deleted_at, id) index cannot return the rows in id order.

Revision ID: 5b1e7d3c9a40
Revises: 3f6a1c8e5b20
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b1e7d3c9a40"
down_revision: str | None = "3f6a1c8e5b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_servers_live_by_account",
        "servers",
        ["account_id", "id"],
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )


def downgrade() -> None:
    op.drop_index("ix_servers_live_by_account", table_name="servers")
