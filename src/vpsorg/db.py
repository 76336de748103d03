"""Database plumbing: the declarative base, engine and session factories."""

import asyncio
import logging
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import MetaData, event, exc
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.util import await_only

from vpsorg.config import Settings

# Re-exported: the models import them from here; the drivers, which may not import this
# module, from vpsorg.sqltypes.
from vpsorg.sqltypes import NAMING_CONVENTION as NAMING_CONVENTION
from vpsorg.sqltypes import UTCDateTime as UTCDateTime
from vpsorg.sqltypes import utcnow as utcnow

log = logging.getLogger("vpsorg.db")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


class WriteTurns:
    """SQLite's write transactions of one process, taken in turn (first come, first served).

    SQLite lets one writer in at a time; the others wait in its busy handler, which sleeps
    and retries (up to 100 ms between tries), so whoever happens to retry when the lock is
    free goes next: under load a few wait for seconds while most pass at once. Here a
    writing transaction of this process first queues on an asyncio lock, so that they take
    turns in the order they came and only another process's writers meet the busy handler.
    The wait is bounded by the busy timeout and then fails as SQLite would ("database is
    locked"). One lock per event loop; a connection holds it from BEGIN IMMEDIATE until its
    COMMIT or ROLLBACK has completed (or it is returned to the pool or invalidated, should
    neither come).
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]
        self._locks = weakref.WeakKeyDictionary()
        self._held: dict[int, asyncio.Lock] = {}  # id of the DB-API connection: its turn

    def take(self, dbapi_conn: Any) -> None:
        """Wait for this connection's turn (from the engine's sync code, in its greenlet)."""
        if id(dbapi_conn) in self._held:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not under an event loop: nothing of ours to queue behind
            return
        lock = self._locks.setdefault(loop, asyncio.Lock())
        try:
            await_only(asyncio.wait_for(lock.acquire(), self.timeout))
        except TimeoutError:
            raise OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
            ) from None
        self._held[id(dbapi_conn)] = lock

    def give_back(self, dbapi_conn: Any) -> None:
        # the dialect is handed the pool's proxy of the connection, the pool the connection
        dbapi_conn = getattr(dbapi_conn, "dbapi_connection", dbapi_conn)
        lock = self._held.pop(id(dbapi_conn), None)
        if lock is not None:
            lock.release()


def _sqlite_write_turns(engine: AsyncEngine, turns: WriteTurns) -> None:
    """Give the turn back when the transaction's COMMIT or ROLLBACK has completed."""
    dialect = engine.sync_engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_conn: Any) -> None:
        try:
            commit(dbapi_conn)
        finally:
            turns.give_back(dbapi_conn)

    def do_rollback(dbapi_conn: Any) -> None:
        try:
            rollback(dbapi_conn)
        finally:
            turns.give_back(dbapi_conn)

    # This engine's own dialect instance: no other engine is affected.
    dialect.do_commit = do_commit  # type: ignore[method-assign,assignment]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign,assignment]

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _returned(dbapi_conn: Any, _record: Any) -> None:
        if dbapi_conn is not None:
            turns.give_back(dbapi_conn)

    # A task cancelled in the middle of a statement (a periodic job stopped at shutdown)
    # gets its connection invalidated, not rolled back, and it comes back to the pool as
    # None. Closing it would not end its transaction: SQLite keeps a connection with a
    # statement still open (the cancelled one, held by the exception's traceback) as a
    # zombie, write lock and all, until that statement is garbage-collected. So the
    # transaction is rolled back here (after the statement the connection is running), and
    # then its turn is given back.
    @event.listens_for(engine.sync_engine.pool, "invalidate")
    def _invalidated(dbapi_conn: Any, _record: Any, _exception: Any) -> None:
        if dbapi_conn is None:
            return
        try:
            dbapi_conn.rollback()
        except Exception as exc:  # a connection already broken: closing it is all there is
            log.debug("rollback of an invalidated SQLite connection failed: %s", exc)
        finally:
            turns.give_back(dbapi_conn)


def make_engine(settings: Settings) -> AsyncEngine:
    url = settings.database_url
    kwargs: dict[str, Any] = {}
    if is_sqlite(url):
        kwargs["connect_args"] = {"timeout": settings.sqlite_busy_timeout_ms / 1000}
    else:
        # Past pool_size a returned connection is closed, and the next request opens a new
        # one (a few ms of both processes' CPU): keep one per request a busy process has in flight.
        kwargs |= {"pool_size": settings.database_pool_size, "max_overflow": settings.database_pool_size // 2}
    engine = create_async_engine(url, **kwargs)
    if not is_sqlite(url):
        _ping_idle_connections(engine)
    if is_sqlite(url):
        busy = settings.sqlite_busy_timeout_ms

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own transaction handling is turned off so that writing sessions
            # can BEGIN IMMEDIATE (below) and take the write lock up front: two writers then
            # queue on the busy timeout instead of failing "database is locked" on upgrade.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={busy}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        turns = WriteTurns(busy / 1000)
        _sqlite_write_turns(engine, turns)

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            if mode == "IMMEDIATE":
                turns.take(conn.connection.dbapi_connection)
            conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


PING_AFTER_IDLE_SECONDS = 1.0


def _ping_idle_connections(engine: AsyncEngine) -> None:
    """pool_pre_ping, for connections idle longer than PING_AFTER_IDLE_SECONDS only.

    A ping is a round trip on every checkout; a connection handed back moments ago by a busy
    process is alive unless the server went away in that instant (and then the request fails
    as any request during the outage does, and the pool is invalidated as pre_ping would).
    A connection that failed its ping invalidates the pool, and the checkout is retried on a
    new connection, as with pool_pre_ping."""
    dialect = engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")  # none yet: a new connection
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_conn, None):
                raise exc.InvalidatePoolError() from error
            raise


def make_sessionmaker(engine: AsyncEngine, *, write: bool = True) -> async_sessionmaker[AsyncSession]:
    """Sessions for writing take SQLite's write lock at BEGIN; read-only ones do not, and on
    PostgreSQL they run in autocommit (no BEGIN and COMMIT round trips: each statement of a
    read sees the latest committed data, as READ COMMITTED's statements do anyway)."""
    if write:
        bind = engine.execution_options(sqlite_begin="IMMEDIATE")
    elif is_sqlite(str(engine.url)):
        bind = engine  # a deferred transaction: one snapshot for the request's statements
    else:
        bind = engine.execution_options(isolation_level="AUTOCOMMIT")
    return async_sessionmaker(bind, expire_on_commit=False, autoflush=False)


async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: commit on success, roll back on any error.

    A session that never began a transaction (a request served by vpsorg.hotreads) holds no
    connection: it is neither committed nor closed (each an await through SQLAlchemy's greenlet)."""
    session = factory()
    try:
        yield session
        if session.in_transaction():
            await session.commit()
    finally:
        if session.in_transaction():  # an error: roll back, and the connection goes back
            await session.close()


T = TypeVar("T")


def run_transaction(settings: Settings, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run fn(session) in one committed transaction on a private engine, from sync code."""

    async def main() -> T:
        engine = make_engine(settings)
        try:
            async with make_sessionmaker(engine).begin() as session:
                return await fn(session)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def dialect_insert(session: AsyncSession) -> Any:
    """The session's dialect's INSERT, which has ON CONFLICT (PostgreSQL's and SQLite's)."""
    return sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
