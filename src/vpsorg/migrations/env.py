"""Alembic environment: runs migrations on the async engine from Settings."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from vpsorg import models  # noqa: F401  (registers every table on Base.metadata)
from vpsorg.config import Settings
from vpsorg.db import Base, make_engine
from vpsorg.migrate import include_name

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    engine = make_engine(Settings(database_url=url) if url else Settings())
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `vpsorg migrate`")
asyncio.run(_main())
