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
_created: list[str] = []


def on_postgresql() -> bool:
    return TEST_DATABASE_URL.startswith("postgresql")


def backend_name() -> str:
    return "PostgreSQL" if on_postgresql() else "SQLite"


def _admin_conninfo(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(db_path: Path) -> str:
    """The URL of a fresh database for this path: the SQLite file, or a new PostgreSQL database."""
    if not on_postgresql():
        return f"sqlite+aiosqlite:///{db_path}"
    import psycopg

    base = make_url(TEST_DATABASE_URL)
    name = "vpsorg_t_" + hashlib.sha256(f"{os.getpid()}:{db_path}".encode()).hexdigest()[:20]
    with psycopg.connect(_admin_conninfo(base), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    _created.append(name)
    return base.set(database=name).render_as_string(hide_password=False)


def drop_created() -> None:
    if not _created:
        return
    import psycopg

    with psycopg.connect(_admin_conninfo(make_url(TEST_DATABASE_URL)), autocommit=True) as conn:
        for name in _created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _created.clear()
