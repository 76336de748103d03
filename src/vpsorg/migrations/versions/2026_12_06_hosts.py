"""hosts: the hypervisor hosts of each location; servers.host_id, the host a server is on

Every location gets one host, named after its code, driven by the worker's own configuration
(driver NULL: VPSORG_DRIVER and VPSORG_LIBVIRT_*), with a large default capacity: an install
that had one hypervisor keeps working with no new configuration. Every server that still has
a machine (live, or deleted and not yet torn down) is placed on its location's host, and the
host's usage counters are counted from their plans.

Revision ID: 8e4b2c6d1f70
Revises: 7d4e2a9c6b15
Create Date: 2026-12-06 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import vpsorg.db

revision: str = "8e4b2c6d1f70"
down_revision: str | None = "7d4e2a9c6b15"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# vpsorg.hosts.service.DEFAULT_CAPACITY, as it was when this migration was written.
DEFAULT_VCPUS, DEFAULT_MEMORY_MIB, DEFAULT_DISK_GB = 1_000_000, 2**40, 2**40


def upgrade() -> None:
    op.create_table(
        "hosts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("driver", sa.String(length=20), nullable=True),
        sa.Column("uri", sa.String(length=500), nullable=True),
        sa.Column("storage", sa.String(length=500), nullable=True),
        sa.Column("network", sa.String(length=100), nullable=True),
        sa.Column("bridge", sa.String(length=100), nullable=True),
        sa.Column("vcpus", sa.Integer(), nullable=False),
        sa.Column("memory_mib", sa.BigInteger(), nullable=False),
        sa.Column("disk_gb", sa.BigInteger(), nullable=False),
        sa.Column("cpu_overcommit", sa.Float(), nullable=False),
        sa.Column("memory_overcommit", sa.Float(), nullable=False),
        sa.Column("disk_overcommit", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("heartbeat_at", vpsorg.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("used_vcpus", sa.Integer(), server_default="0", nullable=False),
        sa.Column("used_memory_mib", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("used_disk_gb", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("servers", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", vpsorg.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_hosts_location_id_locations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hosts")),
        sa.UniqueConstraint("name", name=op.f("uq_hosts_name")),
    )
    op.create_index(op.f("ix_hosts_location_id"), "hosts", ["location_id"], unique=False)
    # Not a batch operation: SQLite's batch mode copies the table, and would drop the
    # triggers that keep accounts.live_servers. A column with its foreign key inline is a
    # plain ADD COLUMN there.
    op.add_column(
        "servers",
        sa.Column(
            "host_id",
            sa.Integer(),
            sa.ForeignKey("hosts.id", name=op.f("fk_servers_host_id_hosts")),
            nullable=True,
        ),
        inline_references=op.get_bind().dialect.name == "sqlite",
    )
    op.create_index(op.f("ix_servers_host_id"), "servers", ["host_id"], unique=False)
    op.execute(
        "INSERT INTO hosts (name, location_id, vcpus, memory_mib, disk_gb, cpu_overcommit,"
        " memory_overcommit, disk_overcommit, state, created_at)"
        f" SELECT code, id, {DEFAULT_VCPUS}, {DEFAULT_MEMORY_MIB}, {DEFAULT_DISK_GB}, 4.0, 1.0, 1.0,"
        " 'enabled', CURRENT_TIMESTAMP FROM locations"
    )
    op.execute(
        "UPDATE servers SET host_id = (SELECT hosts.id FROM hosts WHERE hosts.location_id = servers.location_id)"
        " WHERE deleted_at IS NULL OR ipv4_address IS NOT NULL OR ipv6_address IS NOT NULL"
    )
    placed = "FROM servers JOIN plans ON plans.id = servers.plan_id WHERE servers.host_id = hosts.id"
    op.execute(
        f"UPDATE hosts SET used_vcpus = (SELECT coalesce(sum(plans.vcpus), 0) {placed}),"
        f" used_memory_mib = (SELECT coalesce(sum(plans.memory), 0) {placed}),"
        f" used_disk_gb = (SELECT coalesce(sum(plans.storage), 0) {placed}),"
        f" servers = (SELECT count(*) {placed})"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_servers_host_id"), table_name="servers")
    # Not a batch operation either (it would copy the table and drop its triggers; nor could
    # it find the inline reference, which SQLite does not name): SQLite (3.35+) drops the
    # column in place, its reference with it.
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("fk_servers_host_id_hosts"), "servers", type_="foreignkey")
    op.drop_column("servers", "host_id")
    op.drop_index(op.f("ix_hosts_location_id"), table_name="hosts")
    op.drop_table("hosts")
