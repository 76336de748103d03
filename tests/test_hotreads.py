"""vpsorg.hotreads: the hot path's reads run on the database's driver directly (a psycopg pool on
PostgreSQL, the process's own connection on SQLite) and read every row exactly as a session does
(the columns' own result processors: UTC timestamps, numerics, booleans)."""

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, event, select
from sqlalchemy.exc import OperationalError

from tests.conftest import Customer, Live
from vpsorg.accounts import service as accounts
from vpsorg.config import Settings
from vpsorg.db import make_engine
from vpsorg.hotreads import SQLiteReads, first, hot_reads
from vpsorg.servers import service as servers


def test_a_row_reads_the_same_on_the_hot_reads_as_on_a_session(live: Live, customer: Customer) -> None:
    server = customer.active_server()
    customer.http.get("/api/v1/servers/")  # usage and last_used_at: more columns set
    params = {"token_hash": accounts.hash_token(customer.token), "server_id": server["id"]}

    async def both() -> tuple[Any, Any]:
        engine = make_engine(live.settings)
        hot = hot_reads(live.settings.database_url, engine, pool_size=2)
        await hot.open()
        try:
            from_hot = await first(hot, servers._DETAIL_BY_TOKEN, params)
            async with engine.connect() as connection:
                from_session = (await connection.execute(servers._DETAIL_BY_TOKEN, params)).first()
        finally:
            await hot.close()
            await engine.dispose()
        return from_hot, from_session

    # The in-process worker samples usage every half second: a sample landing between the two
    # reads changes the row itself; read again until both reads saw the same sample.
    for _ in range(20):
        from_hot, from_session = asyncio.run(both())
        assert from_hot is not None and from_session is not None
        if from_hot.sampled_at == from_session.sampled_at:
            break
    hot_row, session_row = from_hot._asdict(), dict(from_session._mapping)
    assert hot_row == session_row
    assert {k: type(v) for k, v in hot_row.items()} == {k: type(v) for k, v in session_row.items()}
    assert hot_row["created_at"].utcoffset().total_seconds() == 0
    assert servers.detail(from_hot) == servers.detail(from_session)


def test_the_detail_route_takes_no_connection_of_the_engine(live: Live, customer: Customer) -> None:
    """GET detail reads token and server on the hot reads: no session, no engine connection."""
    server = customer.active_server()
    customer.http.get(f"/api/v1/servers/{server['id']}/")  # the token's last use is recorded now
    engine = live.app.state.vpsorg.engine.sync_engine
    checkouts: list[object] = []

    def listener(*_: object) -> None:
        # The requests' own, not those of the in-process worker's jobs (sampling, reconcile,
        # heartbeats) that may run meanwhile: a request runs in uvicorn's task for it.
        task = asyncio.current_task()
        if task is not None and "run_asgi" in task.get_coro().__qualname__:  # type: ignore[union-attr]
            checkouts.append(task)

    event.listen(engine, "checkout", listener)
    try:
        for _ in range(3):
            r = customer.http.get(f"/api/v1/servers/{server['id']}/")
            assert r.status_code == 200, r.text
    finally:
        event.remove(engine, "checkout", listener)
    assert checkouts == []


_items = Table("items", MetaData(), Column("id", Integer, primary_key=True), Column("name", String))
_ITEM = select(_items.c.id, _items.c.name).where(_items.c.id == bindparam("id"))


def test_sqlite_reads_wait_out_a_lock_off_the_event_loop(tmp_path: Path) -> None:
    """A lock the loop's own connection meets (busy timeout 0: it never waits on the loop) is
    waited out through the engine, in its thread, while the loop goes on."""
    path = tmp_path / "locked.db"
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
    setup.execute("INSERT INTO items VALUES (1, 'one')")
    setup.close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE items SET name = 'uno' WHERE id = 1")  # the exclusive lock, held

    async def read() -> tuple[Any, int]:
        engine = make_engine(
            Settings(database_url=f"sqlite+aiosqlite:///{path}", sqlite_busy_timeout_ms=10_000)
        )
        reads = SQLiteReads(engine)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticking = asyncio.create_task(tick())
        try:
            reading = asyncio.create_task(first(reads, _ITEM, {"id": 1}))
            await asyncio.sleep(0.3)
            assert not reading.done()  # waiting for the lock, not failed
            holder.execute("COMMIT")
            holder.close()
            row = await asyncio.wait_for(reading, 10)
            return row, ticks
        finally:
            ticking.cancel()
            await reads.close()
            await engine.dispose()

    row, ticks = asyncio.run(read())
    assert (row.id, row.name) == (1, "uno")
    assert ticks >= 10  # the loop ran all along


def test_sqlite_reads_raise_other_errors_as_sqlalchemys(tmp_path: Path) -> None:
    """Anything but a lock is raised at once, as SQLAlchemy's error (the app's handlers answer it)."""
    sqlite3.connect(tmp_path / "empty.db").close()

    async def read() -> None:
        engine = make_engine(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"))
        reads = SQLiteReads(engine)
        try:
            await first(reads, _ITEM, {"id": 1})
        finally:
            await reads.close()
            await engine.dispose()

    with pytest.raises(OperationalError, match="no such table: items"):
        asyncio.run(read())
