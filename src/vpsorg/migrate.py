"""Schema migrations through Alembic, driven from code (no alembic.ini needed)."""

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy.ext.asyncio import AsyncConnection

from vpsorg.config import Settings, masked
from vpsorg.db import make_engine
from vpsorg.drivers import simtables


class SchemaOutOfDate(Exception):
    """The database's schema is not the one this code needs (never migrated, behind, or ahead)."""


def alembic_config(settings: Settings) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(slug)s")
    return cfg


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's filter: the simulator's tables are its own, not the product's schema."""
    # The old migrations created them, so installed databases have them; the simulator
    # creates them itself where they are missing (vpsorg.drivers.simtables).
    return not (type_ == "table" and name in simtables.TABLES)


def upgrade(settings: Settings) -> None:
    """Create or upgrade the schema to the newest revision; idempotent."""
    command.upgrade(alembic_config(settings), "head")


async def _current_heads(conn: AsyncConnection) -> set[str]:
    return set(await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_heads()))


def current_revisions(settings: Settings) -> set[str]:
    """The revisions the database is at (empty when it was never migrated); connects to it."""

    async def main() -> set[str]:
        engine = make_engine(settings)
        try:
            async with engine.connect() as conn:
                return await _current_heads(conn)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def check(settings: Settings) -> None:
    """SchemaOutOfDate unless the database is at the migrations' head; connection errors pass."""
    script = ScriptDirectory.from_config(alembic_config(settings))
    heads = set(script.get_heads())
    current = current_revisions(settings)
    if current == heads:
        return
    where = f"the database {masked(settings.database_url)}"
    if not current:
        raise SchemaOutOfDate(f"{where} has no schema; run `vpsorg migrate` first")
    known = {rev for rev in current if _known(script, rev)}
    if known != current:
        raise SchemaOutOfDate(
            f"{where} is at revision {', '.join(sorted(current))}, which this version of vpsorg does not "
            "know (a newer version migrated it); run that version"
        )
    raise SchemaOutOfDate(
        f"{where} is at revision {', '.join(sorted(current))}, behind this version's "
        f"{', '.join(sorted(heads))}; run `vpsorg migrate` first"
    )


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except (RevisionError, CommandError):  # an id no migration script has
        return False
