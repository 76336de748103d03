"""actions: source_host_id, target_host_id and resume_status, for the `migrate` action

A migration records the host it leaves and the host it goes to (its room there is reserved
when it is queued), and the status the server returns to once it is over. Plain integer
columns, no foreign keys: an action's history outlives a host removed later. The index on
(source_host_id, id) finds the earlier open migrations off a host (one runs at a time).

Revision ID: 3c7a9e1b5d24
Revises: 8e4b2c6d1f70
Create Date: 2026-12-06 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3c7a9e1b5d24"
down_revision: str | None = "8e4b2c6d1f70"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("actions", sa.Column("source_host_id", sa.Integer(), nullable=True))
    op.add_column("actions", sa.Column("target_host_id", sa.Integer(), nullable=True))
    op.add_column("actions", sa.Column("resume_status", sa.String(length=20), nullable=True))
    op.create_index(op.f("ix_actions_source_host_id"), "actions", ["source_host_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_actions_source_host_id"), table_name="actions")
    with op.batch_alter_table("actions") as batch:
        batch.drop_column("resume_status")
        batch.drop_column("target_host_id")
        batch.drop_column("source_host_id")
