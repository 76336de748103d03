"""restore: a snapshot's source OS, and the snapshot a server's disk came from

`snapshots.os_id`: the OS of the server when the snapshot was taken (filled for the rows
there are from their servers' OS today); a server restored or created from the snapshot
takes it. `servers.source_snapshot_id` (NULL: the OS image): the snapshot the server's
current disk is (to be) a copy of, read into the machine's spec by the worker. Plain ADD
COLUMNs: on SQLite a batch rebuild of servers would drop its triggers.

Revision ID: 7d2f4b9e1c35
Revises: 3f6a9d2c8b14
Create Date: 2026-12-06 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7d2f4b9e1c35"
down_revision: str | None = "3f6a9d2c8b14"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("snapshots", sa.Column("os_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE snapshots SET os_id = (SELECT servers.os_id FROM servers WHERE servers.id = snapshots.server_id)"
    )
    op.add_column("servers", sa.Column("source_snapshot_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("servers", "source_snapshot_id")
    op.drop_column("snapshots", "os_id")
