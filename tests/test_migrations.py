"""The migrations build exactly the schema the models describe, on the database under test."""

import asyncio
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import vpsorg.models  # noqa: F401 (every model on Base.metadata)
from tests.conftest import test_settings
from vpsorg import migrate
from vpsorg.db import Base, make_engine


def test_migrations_match_the_models(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "schema.db")
    migrate.upgrade(settings)

    def diff(connection: Any) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    async def main() -> list[Any]:
        engine = make_engine(settings)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(diff)
        finally:
            await engine.dispose()

    assert asyncio.run(main()) == []
