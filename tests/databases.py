"""Which database the tests run on: SQLite files by default, or PostgreSQL.

`VPSORG_TEST_DATABASE_URL=postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB` runs the whole
suite on that PostgreSQL server instead: the role must be allowed to create databases, and
every test database (one per `test_settings` call, as with SQLite files) is created fresh
and dropped at the end of the session.
"""

import hashlib
import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url

TEST_DATABASE_URL = os.environ.get("VPSORG_TEST_DATABASE_URL", "")
_created: list[tuple[str, str]] = []  # (server URL, database)


def on_postgresql() -> bool:
    return TEST_DATABASE_URL.startswith("postgresql")


def backend_name() -> str:
    return "PostgreSQL" if on_postgresql() else "SQLite"


def _admin_conninfo(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(db_path: Path, postgresql: str | None = None) -> str:
    """The URL of a fresh database for this path: the SQLite file, or a new database on the
    PostgreSQL server of `postgresql` (default: VPSORG_TEST_DATABASE_URL, if set)."""
    server = postgresql if postgresql is not None else TEST_DATABASE_URL
    if not server.startswith("postgresql"):
        return f"sqlite+aiosqlite:///{db_path}"
    import psycopg

    base = make_url(server)
    name = "vpsorg_t_" + hashlib.sha256(f"{os.getpid()}:{db_path}".encode()).hexdigest()[:20]
    with psycopg.connect(_admin_conninfo(base), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    _created.append((server, name))
    return base.set(database=name).render_as_string(hide_password=False)


def drop_created() -> None:
    if not _created:
        return
    import psycopg

    for server, name in _created:
        try:
            with psycopg.connect(_admin_conninfo(make_url(server)), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.OperationalError:
            pass  # a server a test started and has stopped again, with its databases
    _created.clear()
