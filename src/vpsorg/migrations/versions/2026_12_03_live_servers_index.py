"""live servers: an index (account_id, id) over the servers not deleted, and each account's
count of them kept by triggers

An account's list (ordered by id, deleted servers left out) walks the index in order and a
cursor page is a range of it (the older (account_id, deleted_at, id) index cannot return
the rows in id order). The list's `count` reads accounts.live_servers, which triggers on
servers keep equal to the account's servers whose deleted_at is NULL, whatever writes them:
counting the rows instead costs O(servers) per list request.

Revision ID: 5b1e7d3c9a40
Revises: 3f6a1c8e5b20
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b1e7d3c9a40"
down_revision: str | None = "3f6a1c8e5b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("deleted_at IS NULL")
ADD = "UPDATE accounts SET live_servers = live_servers + 1 WHERE id = NEW.account_id"
SUB = "UPDATE accounts SET live_servers = live_servers - 1 WHERE id = OLD.account_id"
# (name, event, condition, statement): a server appears (inserted live, or undeleted) or
# disappears (marked deleted, or its row removed while live).
TRIGGERS = [
    ("servers_live_insert", "INSERT", "NEW.deleted_at IS NULL", ADD),
    (
        "servers_live_undelete",
        "UPDATE OF deleted_at",
        "OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL",
        ADD,
    ),
    (
        "servers_live_delete",
        "UPDATE OF deleted_at",
        "OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL",
        SUB,
    ),
    ("servers_live_remove", "DELETE", "OLD.deleted_at IS NULL", SUB),
]


def upgrade() -> None:
    op.create_index(
        "ix_servers_live_by_account",
        "servers",
        ["account_id", "id"],
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )
    op.add_column("accounts", sa.Column("live_servers", sa.Integer(), server_default="0", nullable=False))
    op.execute(
        "UPDATE accounts SET live_servers = (SELECT count(*) FROM servers"
        " WHERE servers.account_id = accounts.id AND servers.deleted_at IS NULL)"
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        for name, statement in (("servers_live_add", ADD), ("servers_live_sub", SUB)):
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN {statement}; RETURN NULL; END $$"
            )
    for name, event, condition, statement in TRIGGERS:
        if postgresql:
            function = "servers_live_add" if statement == ADD else "servers_live_sub"
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON servers FOR EACH ROW"
                f" WHEN ({condition}) EXECUTE FUNCTION {function}()"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON servers FOR EACH ROW"
                f" WHEN {condition} BEGIN {statement}; END"
            )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, *_ in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON servers" if postgresql else f"DROP TRIGGER {name}")
    if postgresql:
        op.execute("DROP FUNCTION servers_live_add()")
        op.execute("DROP FUNCTION servers_live_sub()")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("live_servers")
    op.drop_index("ix_servers_live_by_account", table_name="servers")
