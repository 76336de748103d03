"""Schema migrations through Alembic, driven from code (no alembic.ini needed)."""

from pathlib import Path

from alembic import command
from alembic.config import Config

from vpsorg.config import Settings


def alembic_config(settings: Settings) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(slug)s")
    return cfg


def upgrade(settings: Settings) -> None:
    """Create or upgrade the schema to the newest revision; idempotent."""
    command.upgrade(alembic_config(settings), "head")
