"""accounts: password_hash and is_admin; login_sessions, the web panel's sessions

Revision ID: 4f2a8c1e9b63
Revises: 3c7a9e1b5d24
Create Date: 2026-12-06 18:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import vpsorg.db

revision: str = "4f2a8c1e9b63"
down_revision: str | None = "3c7a9e1b5d24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain add_column, not batch_alter_table: on SQLite a batch copy of accounts would drop
    # the triggers that keep live_servers and commitment_cents.
    op.add_column("accounts", sa.Column("password_hash", sa.String(length=200), nullable=True))
    op.add_column("accounts", sa.Column("is_admin", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "login_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", vpsorg.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", vpsorg.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_login_sessions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_login_sessions")),
    )
    op.create_index(op.f("ix_login_sessions_account_id"), "login_sessions", ["account_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_login_sessions_account_id"), table_name="login_sessions")
    op.drop_table("login_sessions")
    op.drop_column("accounts", "is_admin")
    op.drop_column("accounts", "password_hash")
