"""accounts: per-account quota overrides (server_limit, ssh_key_limit; NULL = the default)

Revision ID: 3c8f1a9d2b64
Revises: 3f6a1c8e2b90
Create Date: 2026-11-29 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3c8f1a9d2b64"
down_revision: str | None = "3f6a1c8e2b90"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default): existing rows keep everything and get NULL.
    op.add_column("accounts", sa.Column("server_limit", sa.Integer(), nullable=True))
    op.add_column("accounts", sa.Column("ssh_key_limit", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("ssh_key_limit")
        batch.drop_column("server_limit")
