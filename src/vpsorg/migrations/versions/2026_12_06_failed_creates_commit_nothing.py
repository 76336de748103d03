"""failed creates commit nothing: a server whose create failed leaves the commitment

accounts.commitment_cents (7d4e2a9c6b15) counted every live server. A server whose create
failed (status `error`, never provisioned: provisioned_at IS NULL) has no machine and is
never charged, yet kept reserving a month of credit until deleted. From here the triggers
count the servers that *reserve*: live and not failed before they ever ran,

    reserves(row) = row.deleted_at IS NULL AND NOT (row.status = 'error' AND row.provisioned_at IS NULL)

Should such a server come back (an operator fixes it and the status moves on), it reserves
again. live_servers (the quota, the list's count) is unchanged: a failed server is still
the customer's, shown and counted until deleted.

The five triggers of 7d4e2a9c6b15 are replaced by five on the same events: inserted or
removed while reserving; an update of deleted_at, status or provisioned_at that makes it
start or stop reserving; a reprice while reserving. A status change that keeps the server
reserving (start, stop, ...) touches no account row.

Revision ID: 2e6b8d4f1a37
Revises: 4e8b1c6d2a97
Create Date: 2026-12-06 21:00:00
"""

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "2e6b8d4f1a37"
down_revision: str | None = "4e8b1c6d2a97"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The month arithmetic and the old triggers, as 7d4e2a9c6b15 wrote them (a module name that
# starts with a digit: imported by name).
_before = importlib.import_module("vpsorg.migrations.versions.2026_12_06_account_commitment")


def reserves(row: str) -> str:
    return f"({row}.deleted_at IS NULL AND NOT ({row}.status = 'error' AND {row}.provisioned_at IS NULL))"


STATE = "deleted_at, status, provisioned_at"
TRIGGERS = [
    ("servers_commitment_insert", "INSERT", reserves("NEW"), ("add NEW",)),
    ("servers_commitment_remove", "DELETE", reserves("OLD"), ("sub OLD",)),
    (
        "servers_commitment_start",
        f"UPDATE OF {STATE}",
        f"NOT {reserves('OLD')} AND {reserves('NEW')}",
        ("add NEW",),
    ),
    (
        "servers_commitment_stop",
        f"UPDATE OF {STATE}",
        f"{reserves('OLD')} AND NOT {reserves('NEW')}",
        ("sub OLD",),
    ),
    (
        "servers_commitment_reprice",
        f"UPDATE OF {_before.PRICED}",
        f"{reserves('OLD')} AND {reserves('NEW')} AND {_before.CHANGED}",
        ("sub OLD", "add NEW"),
    ),
]


def _drop(triggers: list[tuple[str, str, str, tuple[str, ...]]], postgresql: bool) -> None:
    for name, *_ in triggers:
        op.execute(f"DROP TRIGGER {name} ON servers" if postgresql else f"DROP TRIGGER {name}")
        if postgresql:
            op.execute(f"DROP FUNCTION {name}()")


def _create(triggers: list[tuple[str, str, str, tuple[str, ...]]], postgresql: bool) -> None:
    for name, event, condition, steps in triggers:
        body = "; ".join(_before._statement(step, postgresql) for step in steps)
        if postgresql:
            condition = condition.replace(" IS NOT NEW.", " IS DISTINCT FROM NEW.")
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN {body}; RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON servers FOR EACH ROW"
                f" WHEN ({condition}) EXECUTE FUNCTION {name}()"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON servers FOR EACH ROW WHEN {condition} BEGIN {body}; END"
            )


def _recount(counted: str, postgresql: bool) -> None:
    month = _before.month_cents("servers", postgresql)
    op.execute(
        f"UPDATE accounts SET commitment_cents = COALESCE((SELECT sum({month}) FROM servers"
        f" WHERE servers.account_id = accounts.id AND {counted}), 0)"
    )


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    _drop(_before.TRIGGERS, postgresql)
    _create(TRIGGERS, postgresql)
    _recount(reserves("servers"), postgresql)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    _drop(TRIGGERS, postgresql)
    _create(_before.TRIGGERS, postgresql)
    _recount("servers.deleted_at IS NULL", postgresql)
