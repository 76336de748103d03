"""os slugs: operating_systems.slug, a unique readable key (ubuntu-22.04)

Existing rows get `family-version` in lower case, each run of other characters one hyphen
(vpsorg.catalog.schemas.default_slug, as a catalog file that omits the slug gets), with
`-<id>` added where two would be the same. Nullable: a plain ADD COLUMN (no table rebuild
on SQLite, where servers refer to this table); every catalog load sets it. A unique index,
not a constraint, for the same reason.

Revision ID: 8b3f5d2a6c71
Revises: 2e6b8d4f1a37
Create Date: 2026-12-06 21:10:00
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8b3f5d2a6c71"
down_revision: str | None = "2e6b8d4f1a37"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _slug(family: str, version: str) -> str:
    # As vpsorg.catalog.schemas.default_slug was written on this date (a migration keeps its own copy).
    words = re.sub(r"[^a-z0-9.]+", "-", f"{family}-{version}".lower()).strip("-.")
    return words[:63].rstrip("-.") or "os"


def upgrade() -> None:
    op.add_column("operating_systems", sa.Column("slug", sa.String(length=63), nullable=True))
    table = sa.table(
        "operating_systems", sa.column("id"), sa.column("family"), sa.column("version"), sa.column("slug")
    )
    bind = op.get_bind()
    seen: set[str] = set()
    for os_id, family, version in bind.execute(
        sa.select(table.c.id, table.c.family, table.c.version).order_by(table.c.id)
    ):
        slug = _slug(family, version)
        if slug in seen:
            slug = f"{slug[:50]}-{os_id}"
        seen.add(slug)
        bind.execute(sa.update(table).where(table.c.id == os_id).values(slug=slug))
    op.create_index(op.f("ix_operating_systems_slug"), "operating_systems", ["slug"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_operating_systems_slug"), table_name="operating_systems")
    op.drop_column("operating_systems", "slug")
