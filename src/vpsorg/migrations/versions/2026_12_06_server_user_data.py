"""server_user_data: the cloud-init user data a server was created with (NULL: none)

Kept for the driver's create (a retried create needs it again), never shown by the API. A
plain ADD COLUMN: on SQLite a batch rebuild of servers would drop its triggers.

Revision ID: 9c4e7a2b1d53
Revises: 6a3d9e2f7c18
Create Date: 2026-12-06 19:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c4e7a2b1d53"
down_revision: str | None = "6a3d9e2f7c18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("servers", sa.Column("user_data", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("servers", "user_data")
