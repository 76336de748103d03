"""fair claims: an index on the queued actions by (account_id, id)

The worker's claim walks the accounts that have queued actions and takes each one's oldest
(vpsorg.actions.service.claim_next); this index makes that one probe per account.

Revision ID: 3f6a1c8e5b20
Revises: 3c8f1a9d2b64
Create Date: 2026-11-29 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3f6a1c8e5b20"
down_revision: str | None = "3c8f1a9d2b64"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    queued = sa.text("status = 'queued'")
    op.create_index(
        "ix_actions_queued_account_id",
        "actions",
        ["account_id", "id"],
        unique=False,
        postgresql_where=queued,
        sqlite_where=queued,
    )


def downgrade() -> None:
    op.drop_index("ix_actions_queued_account_id", table_name="actions")
