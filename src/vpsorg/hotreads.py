"""The reads every authenticated GET runs, straight on the database's driver.

Measured on one core (bench/compare.py and the driver-layer experiment in the issue's note):
SQLAlchemy's async checkout and execution layers cost more than half of a GET of one
server, more than the query, the validation and the JSON together. So the statements on
that path (the token lookup, a server's detail) are compiled once by SQLAlchemy, from the
same Core statements the services define, and run here. Results pass through the columns'
own SQLAlchemy result processors, so a row reads exactly as it does through a session.
Errors are raised as SQLAlchemy's, so the app answers them as it does any database error
(503 database_unavailable when it is down).

- PostgreSQL (`PostgreSQLReads`): a psycopg_pool pool of autocommit connections (no
  transaction to open and commit on a read) with server-side prepared statements.
- SQLite (`SQLiteReads`): one connection of the process's own, used on the event loop
  itself. aiosqlite runs every call in a thread and hands the result back (two loop
  wake-ups and a thread switch, each costlier than an indexed read of a local file); in WAL
  mode a reader never waits for a writer, so the read does not block the loop. Should it
  meet a lock all the same (the busy timeout is 0 on this connection: never a wait on the
  loop), it reads through the engine instead, which waits in its thread as every session does.

Writes always take a session; `first` below takes either.
"""

import logging
import sqlite3
import time
import weakref
from collections import namedtuple
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import exc
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
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
        for name, bind in compiled.binds.items():
            if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
                raise TypeError(f"hot reads take parameters as the driver does: {name} needs a processor")
        self.sql = str(compiled)
        self.positions = compiled.positiontup  # qmark (SQLite): the parameters' order
        # binds with a value of their own (a literal SQLAlchemy bound, such as SQLite's OFFSET 0)
        self.defaults = {k: v for k, v in compiled.params.items() if v is not None}
        self.dialect = dialect
        self.columns = list(stmt.selected_columns)
        self.row = namedtuple("Row", [c.key for c in self.columns])  # type: ignore[misc]  # noqa: PYI024
        self.processors: list[tuple[int, Callable[[Any], Any]]] | None = None

    def parameters(self, params: dict[str, Any]) -> Any:
        if self.defaults:
            params = self.defaults | params
        return params if self.positions is None else tuple(params[name] for name in self.positions)

    def _processors(self, cursor: Any) -> list[tuple[int, Callable[[Any], Any]]]:
        """Built at the first result: a processor may depend on the column's type as sent (numeric)."""
        assert cursor.description is not None
        d = self.dialect
        found = [
            c.type.dialect_impl(d).result_processor(d, described[1])  # DB-API: (name, type_code, ...)
            for c, described in zip(self.columns, cursor.description, strict=True)
        ]
        return [(i, p) for i, p in enumerate(found) if p is not None]

    def make(self, cursor: Any, values: Sequence[Any]) -> Any:
        if self.processors is None:
            self.processors = self._processors(cursor)
        if not self.processors:
            return self.row(*values)
        out = list(values)
        for i, process in self.processors:
            out[i] = process(out[i])
        return self.row(*out)


class _Compiled:
    """Each module-level statement compiled once for this dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._statements: dict[int, tuple[Select[Any], _Statement]] = {}

    def _compiled(self, stmt: Select[Any]) -> _Statement:
        found = self._statements.get(id(stmt))
        if found is None or found[0] is not stmt:
            found = self._statements[id(stmt)] = (stmt, _Statement(stmt, self.dialect))
        return found[1]


class PostgreSQLReads(_Compiled):
    """A pool of autocommit psycopg connections for the module-level statements of the hot path."""

    def __init__(self, url: str, engine: AsyncEngine, *, max_size: int) -> None:
        super().__init__(engine.dialect)
        self.engine = engine
        u = make_url(url).set(drivername="postgresql")
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

    async def rows(self, stmt: Select[Any], params: dict[str, Any], *, limit: int | None = None) -> list[Any]:
        """The statement's rows (attributes named as its columns), at most `limit`."""
        compiled = self._compiled(stmt)
        try:
            async with self.pool.connection() as conn:
                try:
                    cursor = await conn.execute(compiled.sql, compiled.parameters(params))
                    values = await (cursor.fetchall() if limit is None else cursor.fetchmany(limit))
                finally:
                    self._idle_since[conn] = time.monotonic()
        except PoolTimeout as error:
            raise exc.OperationalError(compiled.sql, params, error) from error
        except psycopg.OperationalError as error:
            raise exc.OperationalError(compiled.sql, params, error) from error
        except psycopg.Error as error:
            raise exc.DBAPIError(compiled.sql, params, error) from error
        return [compiled.make(cursor, v) for v in values]


class SQLiteReads(_Compiled):
    """One SQLite connection of this process, read on the event loop (see the module's text)."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine.dialect)
        self.engine = engine
        self._connection: sqlite3.Connection | None = None

    async def open(self) -> None:
        """Nothing to do until the first read (the database may not be there yet)."""

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> sqlite3.Connection:
        (database,), kwargs = self.dialect.create_connect_args(self.engine.url)  # as the engine connects
        options: dict[str, Any] = {**kwargs, "isolation_level": None, "timeout": 0}
        connection = sqlite3.connect(database, **options)
        connection.execute("PRAGMA busy_timeout=0")
        connection.execute("PRAGMA query_only=ON")
        return connection

    async def rows(
        self, stmt: Select[Any], params: dict[str, Any], *, limit: int | None = None, on_loop: bool = True
    ) -> list[Any]:
        """The statement's rows (attributes named as its columns), at most `limit`.

        on_loop=False: a statement that may walk many rows (a count over a filter, a deep
        offset) runs through the engine, in its thread, so that the loop does not wait for it."""
        compiled = self._compiled(stmt)
        try:
            if not on_loop:
                return await self._through_engine(stmt, params, limit)
            if self._connection is None:
                self._connection = self._connect()
            cursor = self._connection.execute(compiled.sql, compiled.parameters(params))
            values = cursor.fetchall() if limit is None else cursor.fetchmany(limit)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise exc.OperationalError(compiled.sql, params, error) from error
            return await self._through_engine(stmt, params, limit)  # a lock: wait for it in a thread
        except sqlite3.Error as error:
            raise exc.DBAPIError(compiled.sql, params, error) from error
        return [compiled.make(cursor, v) for v in values]

    async def _through_engine(
        self, stmt: Select[Any], params: dict[str, Any], limit: int | None
    ) -> list[Any]:
        async with self.engine.connect() as connection:
            result = await connection.execute(stmt, params)
            return list(result.all() if limit is None else result.fetchmany(limit))


HotReads = PostgreSQLReads | SQLiteReads
Reads = AsyncSession | HotReads


def hot_reads(url: str, engine: AsyncEngine, *, pool_size: int) -> HotReads:
    """The hot reads for the engine's database (PostgreSQL or SQLite)."""
    if engine.dialect.name == "sqlite":
        return SQLiteReads(engine)
    return PostgreSQLReads(url, engine, max_size=pool_size)


async def rows(
    reads: Reads, stmt: Select[Any], params: dict[str, Any], *, limit: int | None = None, on_loop: bool = True
) -> list[Any]:
    """The rows of a module-level Core statement (at most `limit`), on the hot reads or a
    session's connection; on_loop=False for one that may walk many rows (see SQLiteReads)."""
    if isinstance(reads, AsyncSession):
        result = await (await reads.connection()).execute(stmt, params)
        return list(result.all() if limit is None else result.fetchmany(limit))
    if isinstance(reads, SQLiteReads):
        return await reads.rows(stmt, params, limit=limit, on_loop=on_loop)
    return await reads.rows(stmt, params, limit=limit)


async def first(reads: Reads, stmt: Select[Any], params: dict[str, Any]) -> Any:
    """The first row of a module-level Core statement (a point read), or None."""
    found = await rows(reads, stmt, params, limit=1)
    return found[0] if found else None


async def through_engine(reads: Reads, stmt: Select[Any], params: dict[str, Any]) -> list[Any]:
    """The rows of a statement built per request (a label selector's: one shape per selector),
    through SQLAlchemy, whose compiled cache is bounded and which applies bind processors (a
    JSON path's, on SQLite); never compiled into the hot reads' own statements, which are
    kept for good. Off the event loop, as every read that may walk many rows."""
    if isinstance(reads, AsyncSession):
        return list((await (await reads.connection()).execute(stmt, params)).all())
    async with reads.engine.connect() as connection:
        return list((await connection.execute(stmt, params)).all())
