"""events: every change a customer can see, written by triggers in the same transaction

One row per change (vpsorg.events.models.Event), inserted by a trigger on the table that
changed, so no code path (an ORM flush, a bulk UPDATE, an operator's SQL) can change a
server, an action, a snapshot or an account without its event, and a rollback takes the
event with it.

Commit order. Streams and webhooks read "every event after id N"; that is gap-free only if
ids are given in commit order. SQLite has one writer at a time (vpsorg.db takes BEGIN
IMMEDIATE), so its ids are. On PostgreSQL a row is inserted with a temporary negative id
(events_staging_seq) and a deferred constraint trigger, which runs at COMMIT, takes a
transaction-scoped advisory lock and gives it the next id of events_id_seq: the lock is held
from there until the commit is visible, so the ids are in commit order. Taken at COMMIT,
after every other lock of the transaction, the lock cannot be part of a deadlock. The same
trigger NOTIFYs `vpsorg_events` (delivered only if the transaction commits) with the account
id, which wakes the API processes' streams (vpsorg.events.hub).

Revision ID: 5c2e9a7d3b41
Revises: 7d2f4b9e1c35
Create Date: 2026-12-07 00:10:00
"""

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from alembic import op

import vpsorg.sqltypes

revision: str = "5c2e9a7d3b41"
down_revision: str | None = "7d2f4b9e1c35"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCK_KEY = 7_461_800_116  # the advisory lock that orders the events' ids (any constant)


@dataclass(frozen=True)
class Trigger:
    name: str
    table: str
    event: str  # INSERT, UPDATE OF <column>
    condition: str  # on NEW and OLD, written for SQLite (IS NOT: DISTINCT FROM on PostgreSQL)
    type: str
    object_type: str
    object_id: str
    account: str
    server: str  # the server id, or NULL
    data: tuple[tuple[str, str], ...]  # the keys of `data` and their expressions


def changed(column: str) -> str:
    return f"OLD.{column} IS NOT NEW.{column}"


SERVER = (("server_id", "NEW.id"), ("name", "NEW.name"))
ACTION = (
    ("action_id", "NEW.id"),
    ("server_id", "NEW.server_id"),
    ("type", "NEW.type"),
    ("status", "NEW.status"),
)
SNAPSHOT = (
    ("snapshot_id", "NEW.id"),
    ("server_id", "NEW.server_id"),
    ("name", "NEW.name"),
    ("kind", "NEW.kind"),
)
FINISHED = "NEW.status IN ('success', 'error')"


def _server(name: str, event: str, condition: str, type_: str, data: tuple[tuple[str, str], ...]) -> Trigger:
    return Trigger(
        name, "servers", event, condition, type_, "server", "NEW.id", "NEW.account_id", "NEW.id", data
    )


def _action(name: str, event: str, condition: str, type_: str, data: tuple[tuple[str, str], ...]) -> Trigger:
    return Trigger(
        name, "actions", event, condition, type_, "action", "NEW.id", "NEW.account_id", "NEW.server_id", data
    )


def _snapshot(name: str, condition: str, type_: str, data: tuple[tuple[str, str], ...]) -> Trigger:
    return Trigger(
        name,
        "snapshots",
        "UPDATE OF status",
        condition,
        type_,
        "snapshot",
        "NEW.id",
        "NEW.account_id",
        "NEW.server_id",
        data,
    )


def _account(name: str, condition: str, type_: str, data: tuple[tuple[str, str], ...]) -> Trigger:
    return Trigger(
        name,
        "accounts",
        "UPDATE OF suspended_at",
        condition,
        type_,
        "account",
        "NEW.id",
        "NEW.id",
        "NULL",
        data,
    )


TRIGGERS = [
    _server(
        "events_server_created", "INSERT", "1 = 1", "server.created", SERVER + (("status", "NEW.status"),)
    ),
    _server(
        "events_server_status",
        "UPDATE OF status",
        changed("status"),
        "server.status_changed",
        SERVER + (("from", "OLD.status"), ("to", "NEW.status")),
    ),
    _server(
        "events_server_deleted",
        "UPDATE OF deleted_at",
        "OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL",
        "server.deleted",
        SERVER,
    ),
    _action("events_action_queued", "INSERT", "NEW.status = 'queued'", "action.queued", ACTION),
    # an action written already over (reconcile's corrections)
    _action(
        "events_action_recorded", "INSERT", FINISHED, "action.finished", ACTION + (("error", "NEW.error"),)
    ),
    _action(
        "events_action_running",
        "UPDATE OF status",
        f"{changed('status')} AND NEW.status = 'running'",
        "action.running",
        ACTION,
    ),
    _action(
        "events_action_finished",
        "UPDATE OF status",
        f"{changed('status')} AND {FINISHED}",
        "action.finished",
        ACTION + (("error", "NEW.error"),),
    ),
    _snapshot(
        "events_snapshot_available",
        f"{changed('status')} AND NEW.status = 'available'",
        "snapshot.available",
        SNAPSHOT + (("size_gb", "NEW.size_gb"),),
    ),
    _snapshot(
        "events_snapshot_failed",
        f"{changed('status')} AND NEW.status = 'error'",
        "snapshot.failed",
        SNAPSHOT + (("error", "NEW.error"),),
    ),
    _account(
        "events_account_suspended",
        "OLD.suspended_at IS NULL AND NEW.suspended_at IS NOT NULL",
        "account.suspended",
        (("reason", "NEW.suspended_reason"),),
    ),
    _account(
        "events_account_unsuspended",
        "OLD.suspended_at IS NOT NULL AND NEW.suspended_at IS NULL",
        "account.unsuspended",
        (),
    ),
    Trigger(
        "events_credit_added",
        "ledger_entries",
        "INSERT",
        "NEW.kind <> 'charge' AND NEW.amount > 0",
        "account.credit_added",
        "ledger_entry",
        "NEW.id",
        "NEW.account_id",
        "NULL",
        (
            ("amount", "{money}NEW.amount"),
            ("balance", "{money}NEW.balance_after"),
            ("kind", "NEW.kind"),
            ("reason", "NEW.reason"),
        ),
    ),
]


def _value(expression: str, postgresql: bool) -> str:
    if expression.startswith("{money}"):  # as the API writes money: a string with two decimals
        column = expression.removeprefix("{money}")
        return f"{column}::text" if postgresql else f"printf('%.2f', {column})"
    return expression


def _insert(t: Trigger, postgresql: bool) -> str:
    pairs = ", ".join(f"'{key}', {_value(value, postgresql)}" for key, value in t.data)
    data = f"jsonb_build_object({pairs})" if postgresql else f"json_object({pairs})"
    now = "now()" if postgresql else "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    return (
        "INSERT INTO events (account_id, type, object_type, object_id, server_id, data, created_at)"
        f" VALUES ({t.account}, '{t.type}', '{t.object_type}', {t.object_id}, {t.server}, {data}, {now})"
    )


def _create_triggers(postgresql: bool) -> None:
    for t in TRIGGERS:
        if postgresql:
            condition = t.condition.replace(" IS NOT NEW.", " IS DISTINCT FROM NEW.")
            op.execute(
                f"CREATE FUNCTION {t.name}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN {_insert(t, True)}; RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {t.name} AFTER {t.event} ON {t.table} FOR EACH ROW"
                f" WHEN ({condition}) EXECUTE FUNCTION {t.name}()"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {t.name} AFTER {t.event} ON {t.table} FOR EACH ROW"
                f" WHEN {t.condition} BEGIN {_insert(t, False)}; END"
            )


def _commit_order() -> None:
    """PostgreSQL: the real id and the NOTIFY at COMMIT (see the module's docstring)."""
    op.execute("CREATE SEQUENCE events_staging_seq")
    op.execute("ALTER TABLE events ALTER COLUMN id SET DEFAULT -nextval('events_staging_seq')")
    op.execute(
        "CREATE FUNCTION events_commit_order() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        f" PERFORM pg_advisory_xact_lock({LOCK_KEY});"
        " UPDATE events SET id = nextval('events_id_seq') WHERE id = NEW.id;"
        " PERFORM pg_notify('vpsorg_events', NEW.account_id::text);"
        " RETURN NULL; END $$"
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER events_commit_order AFTER INSERT ON events"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION events_commit_order()"
    )


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("object_type", sa.String(length=20), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", vpsorg.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_events_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_account_id_id", "events", ["account_id", "id"])
    op.create_index("ix_events_server_id_id", "events", ["server_id", "id"])
    op.create_index("ix_events_created_at", "events", ["created_at"])
    if postgresql:
        _commit_order()
    _create_triggers(postgresql)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for t in TRIGGERS:
        op.execute(f"DROP TRIGGER {t.name} ON {t.table}" if postgresql else f"DROP TRIGGER {t.name}")
        if postgresql:
            op.execute(f"DROP FUNCTION {t.name}()")
    op.drop_table("events")
    if postgresql:
        op.execute("DROP FUNCTION events_commit_order()")
        op.execute("DROP SEQUENCE events_staging_seq")
