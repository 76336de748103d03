from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from vpsorg.db import Base, UTCDateTime, utcnow


class SnapshotKind(StrEnum):
    SNAPSHOT = "snapshot"  # taken on a customer's request
    BACKUP = "backup"  # taken by the worker, daily, for a server with backups enabled


class SnapshotStatus(StrEnum):
    CREATING = "creating"
    AVAILABLE = "available"
    ERROR = "error"


class Snapshot(Base):
    """A copy of a server's disk, the account's: it outlives its server (server_id keeps the
    source; the server row itself is never removed, only marked deleted).

    Deleting one hides it at once (deleted_at: charged no more from then) and leaves the
    image to the worker's purge (vpsorg.snapshots.jobs), which asks the driver to remove it
    and then sets removed_at; the row stays, for the ledger's sake. `action_id` is the
    `snapshot` action that takes it (the worker finds the row by it)."""

    __tablename__ = "snapshots"
    __table_args__ = (
        Index("ix_snapshots_account_id_id", "account_id", "id"),
        Index("ix_snapshots_server_id_kind", "server_id", "kind"),
        # the purge's queue: deleted, not yet removed by the driver
        Index(
            "ix_snapshots_to_remove",
            "id",
            postgresql_where=text("deleted_at IS NOT NULL AND removed_at IS NULL"),
            sqlite_where=text("deleted_at IS NOT NULL AND removed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id"))
    # The host whose driver holds the image (the server's when it was taken); a plain id:
    # the row outlives a host removed later.
    host_id: Mapped[int | None]
    action_id: Mapped[int | None] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(63))
    # The server's OS when it was taken: a server restored or created from it takes it (a
    # plain id: the catalog may retire the OS later). None only for rows that lost theirs.
    os_id: Mapped[int | None]
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    size_gb: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Billing (vpsorg.snapshots.charging): its prices, fixed when it became available (size
    # times the catalog's price per GB-month), and how far it has been charged.
    price_hourly: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    price_monthly: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    billed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    billing_month: Mapped[str | None] = mapped_column(String(7))
    month_hours: Mapped[int] = mapped_column(default=0, server_default="0")
