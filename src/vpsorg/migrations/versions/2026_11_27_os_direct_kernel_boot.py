"""operating systems: direct kernel boot (kernel, initrd, kernel_args)

Revision ID: 5b1d0c2e7a41
Revises: 10022e6e2491
Create Date: 2026-11-27 04:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b1d0c2e7a41"
down_revision: str | None = "10022e6e2491"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("operating_systems") as batch:
        batch.add_column(sa.Column("kernel", sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column("initrd", sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column("kernel_args", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("operating_systems") as batch:
        batch.drop_column("kernel_args")
        batch.drop_column("initrd")
        batch.drop_column("kernel")
