"""server_rebuild: a server's install keys as a list, and how many times it was rebuilt

`ssh_public_keys` (JSON, NULL: the one `ssh_public_key`) holds the keys a rebuild installed;
`rebuilds` counts rebuilds (the cloud-init instance id follows it). Plain ADD COLUMNs: on
SQLite a batch rebuild of servers would drop its triggers.

Revision ID: 4e8b1c6d2a97
Revises: 9c4e7a2b1d53
Create Date: 2026-12-06 20:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4e8b1c6d2a97"
down_revision: str | None = "9c4e7a2b1d53"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("servers", sa.Column("ssh_public_keys", sa.JSON(), nullable=True))
    op.add_column("servers", sa.Column("rebuilds", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    op.drop_column("servers", "rebuilds")
    op.drop_column("servers", "ssh_public_keys")
