"""audit_entries, the operators' audit log; accounts.suspended_at and suspended_reason

Revision ID: 5d8b1f3a7c62
Revises: 4f2a8c1e9b63
Create Date: 2026-12-06 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import vpsorg.db

revision: str = "5d8b1f3a7c62"
down_revision: str | None = "4f2a8c1e9b63"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain add_column, not batch_alter_table: on SQLite a batch copy of accounts would drop
    # the triggers that keep live_servers and commitment_cents.
    op.add_column("accounts", sa.Column("suspended_at", vpsorg.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column("accounts", sa.Column("suspended_reason", sa.String(length=500), nullable=True))
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor_account_id", sa.Integer(), nullable=True),
        sa.Column("actor_email", sa.String(length=320), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target_type", sa.String(length=20), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", vpsorg.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_account_id"],
            ["accounts.id"],
            name=op.f("fk_audit_entries_actor_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
    )
    op.create_index(
        op.f("ix_audit_entries_actor_account_id"), "audit_entries", ["actor_account_id"], unique=False
    )
    op.create_index("ix_audit_entries_action_id", "audit_entries", ["action", "id"], unique=False)
    op.create_index(
        "ix_audit_entries_target", "audit_entries", ["target_type", "target_id", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_audit_entries_target", table_name="audit_entries")
    op.drop_index("ix_audit_entries_action_id", table_name="audit_entries")
    op.drop_index(op.f("ix_audit_entries_actor_account_id"), table_name="audit_entries")
    op.drop_table("audit_entries")
    op.drop_column("accounts", "suspended_reason")
    op.drop_column("accounts", "suspended_at")
