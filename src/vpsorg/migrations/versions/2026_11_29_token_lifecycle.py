"""token lifecycle: api_tokens gain a name, an expiry and the time of last use

Existing tokens keep working: they are named "legacy" and never expire.

Revision ID: 3d8f1b6a9c27
Revises: 7e2b9c4d1a55
Create Date: 2026-11-29 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import vpsorg.db

revision: str = "3d8f1b6a9c27"
down_revision: str | None = "7e2b9c4d1a55"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs (a NOT NULL one with a default): no table rebuild on SQLite.
    op.add_column(
        "api_tokens", sa.Column("name", sa.String(length=100), server_default="legacy", nullable=False)
    )
    op.add_column("api_tokens", sa.Column("expires_at", vpsorg.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column(
        "api_tokens", sa.Column("last_used_at", vpsorg.db.UTCDateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("expires_at")
        batch.drop_column("name")
