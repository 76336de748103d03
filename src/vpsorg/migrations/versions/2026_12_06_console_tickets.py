"""serial console: single-use tickets, and where each host's worker takes console relays

`console_tickets`: one row per `POST /api/v1/servers/{id}/console/`, the ticket's SHA-256
only, consumed once by a conditional UPDATE of `used_at`. `hosts.console_address`
(host:port, NULL: none yet): where the worker serving the host listens for console relays
(VPSORG_CONSOLE_LISTEN), written by that worker; an API process relays a console session
there. A plain ADD COLUMN.

Revision ID: 4c8e1f5a2d97
Revises: 9c4e2a7f5b31
Create Date: 2026-12-06 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import vpsorg.db

revision: str = "4c8e1f5a2d97"
down_revision: str | None = "9c4e2a7f5b31"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("created_at", vpsorg.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", vpsorg.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", vpsorg.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_console_tickets_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name=op.f("fk_console_tickets_server_id_servers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_tickets")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_console_tickets_token_hash")),
    )
    op.create_index(op.f("ix_console_tickets_account_id"), "console_tickets", ["account_id"], unique=False)
    op.create_index(op.f("ix_console_tickets_server_id"), "console_tickets", ["server_id"], unique=False)
    op.create_index(op.f("ix_console_tickets_expires_at"), "console_tickets", ["expires_at"], unique=False)
    op.add_column("hosts", sa.Column("console_address", sa.String(length=300), nullable=True))


def downgrade() -> None:
    op.drop_column("hosts", "console_address")
    op.drop_table("console_tickets")
