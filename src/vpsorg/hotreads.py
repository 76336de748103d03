"""The reads every authenticated GET runs, on PostgreSQL straight on psycopg.

Measured on one core (bench/compare.py and the driver-layer experiment in the issue's note):
SQLAlchemy's async checkout and execution layers cost more than half of a GET of one
server, more than the query, the validation and the JSON together. So the statements on
that path (the token lookup, a server's detail) are compiled once by SQLAlchemy, from the
same Core statements the services define, and run here: a psycopg_pool pool of autocommit
connections (no transaction to open and commit on a read) with server-side prepared
statements. Results pass through the columns' own SQLAlchemy result processors, so a row
reads exactly as it does through a session. Errors are raised as SQLAlchemy's, so the app
answers them as it does any database error (503 database_unavailable when it is down).

SQLite keeps the session path (`first` below takes either): there the cost is the thread
aiosqlite hands each call to, which this would not remove. Writes always take a session.
"""

import logging
import time
import weakref
from collections import namedtuple
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import exc
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

log = logging.getLogger("vpsorg.hotreads")

# A connection idle longer than this is pinged before use (as the engine's pool does, see
# vpsorg.db._ping_idle_connections): one handed back moments ago by a busy process is alive.
PING_AFTER_IDLE_SECONDS = 1.0
# How long a read waits for a connection (all in use, or the database refusing new ones)
# before it answers 503: never the 30 s a client would take for a hang.
CHECKOUT_TIMEOUT_SECONDS = 5.0


class _Statement:
    """A Core statement compiled once for psycopg, with its columns' result processors."""

    def __init__(self, stmt: Select[Any], dialect: Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = str(compiled)
        self.dialect = dialect
        self.columns = list(stmt.selected_columns)
        self.row = namedtuple("Row", [c.key for c in self.columns])  # type: ignore[misc]  # noqa: PYI024
        self.processors: list[tuple[int, Callable[[Any], Any]]] | None = None

    def _processors(self, cursor: psycopg.AsyncCursor[Any]) -> list[tuple[int, Callable[[Any], Any]]]:
        """Built at the first result: a processor may depend on the column's type as sent (numeric)."""
        assert cursor.description is not None
        d = self.dialect
        found = [
            c.type.dialect_impl(d).result_processor(d, described.type_code)
            for c, described in zip(self.columns, cursor.description, strict=True)
        ]
        return [(i, p) for i, p in enumerate(found) if p is not None]

    def make(self, cursor: psycopg.AsyncCursor[Any], values: Sequence[Any]) -> Any:
        if self.processors is None:
            self.processors = self._processors(cursor)
        if not self.processors:
            return self.row(*values)
        out = list(values)
        for i, process in self.processors:
            out[i] = process(out[i])
        return self.row(*out)


class HotReads:
    """A pool of autocommit psycopg connections for the module-level statements of the hot path."""

    def __init__(self, url: str, dialect: Dialect, *, max_size: int) -> None:
        u = make_url(url).set(drivername="postgresql")
        self.dialect = dialect
        self._statements: dict[int, tuple[Select[Any], _Statement]] = {}
        self._idle_since: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = (
            weakref.WeakKeyDictionary()
        )
        self.pool = AsyncConnectionPool(
            u.render_as_string(hide_password=False),
            min_size=1,
            max_size=max_size,
            timeout=CHECKOUT_TIMEOUT_SECONDS,
            # UTC: timestamps come back in the zone the session's engine reads them in.
            kwargs={"autocommit": True, "prepare_threshold": 0, "options": "-c TimeZone=UTC"},
            check=self._check,
            open=False,
            name="vpsorg-hot-reads",
        )

    async def open(self) -> None:
        # wait=False: the API starts (and answers 503 on these reads) while the database is away.
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def _check(self, conn: psycopg.AsyncConnection[Any]) -> None:
        idle_since = self._idle_since.get(conn)
        if idle_since is not None and time.monotonic() - idle_since >= PING_AFTER_IDLE_SECONDS:
            await conn.execute("SELECT 1")  # a failure: the pool drops it and tries another

    def _compiled(self, stmt: Select[Any]) -> _Statement:
        found = self._statements.get(id(stmt))
        if found is None or found[0] is not stmt:
            found = self._statements[id(stmt)] = (stmt, _Statement(stmt, self.dialect))
        return found[1]

    async def first(self, stmt: Select[Any], params: dict[str, Any]) -> Any:
        """The statement's first row (attributes named as its columns), or None."""
        compiled = self._compiled(stmt)
        try:
            async with self.pool.connection() as conn:
                try:
                    cursor = await conn.execute(compiled.sql, params)
                    values = await cursor.fetchone()
                finally:
                    self._idle_since[conn] = time.monotonic()
        except PoolTimeout as error:
            raise exc.OperationalError(compiled.sql, params, error) from error
        except psycopg.OperationalError as error:
            raise exc.OperationalError(compiled.sql, params, error) from error
        except psycopg.Error as error:
            raise exc.DBAPIError(compiled.sql, params, error) from error
        return None if values is None else compiled.make(cursor, values)


Reads = AsyncSession | HotReads


async def first(reads: Reads, stmt: Select[Any], params: dict[str, Any]) -> Any:
    """The first row of a module-level Core statement, on the hot reads or a session's connection."""
    if isinstance(reads, HotReads):
        return await reads.first(stmt, params)
    connection = await reads.connection()
    return (await connection.execute(stmt, params)).first()
