"""address allocation: per-location counters of handed-out hosts and free lists

Revision ID: 3f6a1c8e2b90
Revises: 3d8f1b6a9c27
Create Date: 2026-11-29 09:00:00

Existing data is carried over: for each location and family, the counter starts past the
highest host of its pool that a server holds, and every lower host that no server holds
(except the gateway) goes into the free list, so allocation goes on exactly where the
previous allocator (lowest free address, read from every server) would have.
"""

import ipaddress
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3f6a1c8e2b90"
down_revision: str | None = "3d8f1b6a9c27"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (NOT NULL with a default): a batch operation would rebuild the table,
    # and SQLite refuses to drop a table that other tables' rows refer to.
    op.add_column(
        "locations", sa.Column("ipv4_next_host", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column(
        "locations", sa.Column("ipv6_next_host", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.create_table(
        "released_addresses",
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("family", sa.SmallInteger(), nullable=False),
        sa.Column("host", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_released_addresses_location_id_locations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("location_id", "family", "host", name=op.f("pk_released_addresses")),
    )
    _initialize(op.get_bind())


def _hosts(pool: str, gateway: str, held: list[str]) -> tuple[int, list[int]]:
    """The counter and the free list of a pool: host indexes as vpsorg.ipam.service.Pool numbers them."""
    net = ipaddress.ip_network(pool)
    small = net.prefixlen >= net.max_prefixlen - 1
    first = int(net.network_address) + (0 if small else 1)
    size = net.num_addresses - (0 if small else 2 if net.version == 4 else 1)
    used = set()
    for address in held:
        ip = ipaddress.ip_address(address)
        if ip.version == net.version and 0 <= int(ip) - first < size:
            used.add(int(ip) - first)
    next_host = max(used) + 1 if used else 0
    used.add(int(ipaddress.ip_address(gateway)) - first)
    return next_host, [h for h in range(next_host) if h not in used]


def _initialize(conn: sa.Connection) -> None:
    held = {
        4: [
            a
            for (a,) in conn.execute(
                sa.text("SELECT ipv4_address FROM servers WHERE ipv4_address IS NOT NULL")
            )
        ],
        6: [
            a
            for (a,) in conn.execute(
                sa.text("SELECT ipv6_address FROM servers WHERE ipv6_address IS NOT NULL")
            )
        ],
    }
    locations = conn.execute(
        sa.text("SELECT id, ipv4_pool, ipv4_gateway, ipv6_pool, ipv6_gateway FROM locations")
    ).all()
    for loc_id, v4_pool, v4_gw, v6_pool, v6_gw in locations:
        for family, pool, gateway in ((4, v4_pool, v4_gw), (6, v6_pool, v6_gw)):
            next_host, free = _hosts(pool, gateway, held[family])
            conn.execute(
                sa.text(f"UPDATE locations SET ipv{family}_next_host = :n WHERE id = :id"),
                {"n": next_host, "id": loc_id},
            )
            if free:
                conn.execute(
                    sa.text("INSERT INTO released_addresses (location_id, family, host) VALUES (:l, :f, :h)"),
                    [{"l": loc_id, "f": family, "h": h} for h in free],
                )


def downgrade() -> None:
    op.drop_table("released_addresses")
    op.drop_column("locations", "ipv6_next_host")  # plain DROP COLUMN (SQLite 3.35+): no rebuild
    op.drop_column("locations", "ipv4_next_host")
