"""Counting a live server's SQL statements, and an account with many servers (tests and bench/panel.py).

A request's reads go two ways: through the engine (sessions; counted by its
before_cursor_execute event) and through vpsorg.hotreads, which runs its statements on the
database driver itself, where no engine event sees them (counted by wrapping its `rows`).
"""

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import event, update

from vpsorg.accounts import limits
from vpsorg.accounts.models import Account
from vpsorg.db import utcnow
from vpsorg.hotreads import SQLiteReads
from vpsorg.servers import service as servers
from vpsorg.servers.models import Server
from vpsorg.servers.schemas import ServerCreate

PLANS = (1, 3, 4, 2)
LOCATIONS = ("us-west", "us-east", "eu-central")
ROOMY = limits.Defaults(servers=1_000_000)  # past the default quota of 25 servers


# Transaction control (SQLite's engine sends BEGIN itself): not a query.
CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
# The events hub's read of every account's new events (vpsorg.events.hub): it runs on its own
# clock (every VPSORG_EVENT_POLL_SECONDS on SQLite), whatever the requests do.
HUB_READ = re.compile(r"FROM events\s+WHERE events\.id > (\?|%\(\w+\)s(::\w+)?)\s+ORDER BY")


@contextmanager
def counting(app: Any) -> Iterator[list[str]]:
    """The statements (queries and changes, not transaction control) the app's process runs
    from now until the block ends (its worker's too, if it runs one: count with a server
    started without it)."""
    state = app.state.vpsorg
    seen: list[str] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(CONTROL) and not HUB_READ.search(statement):
            seen.append(statement)

    hot = state.hot_reads
    original: Callable[..., Any] = hot.rows

    async def rows(stmt: Any, params: dict[str, Any], **kwargs: Any) -> list[Any]:
        # SQLite's reads off the loop go through the engine: counted there already
        if not (isinstance(hot, SQLiteReads) and kwargs.get("on_loop") is False):
            seen.append(str(stmt))
        return list(await original(stmt, params, **kwargs))

    event.listen(state.engine.sync_engine, "before_cursor_execute", on_execute)
    hot.rows = rows
    try:
        yield seen
    finally:
        del hot.rows  # the class's method again
        event.remove(state.engine.sync_engine, "before_cursor_execute", on_execute)


def add_servers(
    run_db: Callable[[Any], Any],
    account_id: int,
    n: int,
    *,
    active: bool = True,
    locations: tuple[str, ...] = LOCATIONS,
) -> list[int]:
    """n servers of the account, ordered through the service (named srv-0001, ... over a few
    plans and locations, the credit for them added); `active` marks them provisioned, as the worker would."""

    async def order(session: Any) -> list[int]:
        # enough credit for a month of each (a balance set behind the ledger's back: tests only)
        topped = Account.balance + Decimal(200 * n)
        await session.execute(update(Account).where(Account.id == account_id).values(balance=topped))
        ids = []
        for i in range(n):
            data = ServerCreate.model_validate(
                {
                    "name": f"srv-{i + 1:04d}",
                    "plan_id": PLANS[i % len(PLANS)],
                    "os_id": 5,
                    "location": locations[i % len(locations)],
                }
            )
            done = await servers.order_server(session, account_id=account_id, data=data, defaults=ROOMY)
            ids.append(done.server_id)
        if active:
            now = utcnow()
            await session.execute(
                update(Server)
                .where(Server.id.in_(ids))
                .values(status="active", power_state="running", provisioned_at=now)
            )
        return ids

    return list(run_db(order))
