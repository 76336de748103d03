"""SQLite: the write transactions of one process take turns in the order they came, and a
turn not given within the busy timeout fails as SQLite would ("database is locked")."""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from tests.conftest import test_settings
from tests.databases import on_postgresql
from vpsorg.db import make_engine, make_sessionmaker

pytestmark = pytest.mark.skipif(on_postgresql(), reason="SQLite's write lock")
WRITERS = 5  # the connections SQLAlchemy's pool keeps open


def test_writers_go_in_the_order_they_came(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "turns.db")

    async def main() -> list[int]:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        entered: list[int] = []

        async def write(i: int) -> None:
            async with sessions.begin() as session:
                await session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the turn is taken
                entered.append(i)
                await asyncio.sleep(0.01)  # hold it while the others queue

        async def connect() -> None:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                await asyncio.sleep(0.05)

        try:
            # Open the pool's connections first: a new connection is opened in a thread, and
            # those finish in any order; the turns are taken in the order writers reach BEGIN.
            # (The pool keeps WRITERS open; past that a returned connection is closed.)
            await asyncio.gather(*(connect() for _ in range(WRITERS)))
            for i in range(WRITERS):
                asyncio.get_running_loop().create_task(write(i))
                await asyncio.sleep(0)  # each starts (and queues) before the next
            while len(entered) < WRITERS:
                await asyncio.sleep(0.01)
        finally:
            await engine.dispose()
        return entered

    assert asyncio.run(main()) == list(range(WRITERS))


def test_a_turn_not_given_within_the_busy_timeout_is_database_locked(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "turns.db", sqlite_busy_timeout_ms=200)

    async def main() -> str:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        try:
            async with sessions.begin() as holder:
                await holder.execute(text("SELECT 1"))
                with pytest.raises(OperationalError) as caught:
                    async with sessions.begin() as waiter:
                        await waiter.execute(text("SELECT 1"))
            async with sessions.begin() as after:  # the turn came back with the commit
                await after.execute(text("SELECT 1"))
        finally:
            await engine.dispose()
        return str(caught.value)

    assert "database is locked" in asyncio.run(main())


# Seconds of SQLite work in one statement: long enough to be cancelled in the middle of it.
SLOW = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) SELECT count(*) FROM n"
)


def test_a_writer_cancelled_in_the_middle_of_a_statement_gives_its_turn_back(tmp_path: Path) -> None:
    """A task cancelled while its statement runs (a worker's periodic job at shutdown, say):
    SQLAlchemy invalidates that connection instead of rolling it back; its turn must come back
    then, or every later writer of the process waits out the busy timeout."""
    settings = test_settings(tmp_path / "turns.db")

    async def main() -> None:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        started = asyncio.Event()

        async def slow_writer() -> None:
            async with sessions.begin() as session:
                await session.execute(text("SELECT 1"))  # the turn is taken
                started.set()
                await session.execute(text(SLOW))

        try:
            task = asyncio.create_task(slow_writer())
            await started.wait()
            await asyncio.sleep(0.05)  # into the slow statement
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # Within the busy timeout (30 s here): the turn came back with the invalidation.
            async with sessions.begin() as after:
                await after.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    asyncio.run(main())
