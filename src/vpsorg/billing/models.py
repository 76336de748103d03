from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vpsorg.db import Base, UTCDateTime, utcnow


class EntryKind(StrEnum):
    TOP_UP = "top_up"
    CHARGE = "charge"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"


class LedgerEntry(Base):
    """One change of an account's balance. Append-only: never updated, never deleted.

    The account's balance is the sum of its entries' amounts; `balance_after` is that sum
    up to and including this entry. A charge names its server and the hours it covers; the
    unique (server_id, period_start) is the database's own guard against charging an hour
    twice (the worker's compare-and-set on the server's billing state is the first)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("server_id", "period_start"),
        Index("ix_ledger_entries_account_id_id", "account_id", "id"),
        # a snapshot's charge: the same guard as a server's (migration 2026_12_06_snapshots)
        Index("uq_ledger_entries_snapshot_id_period_start", "snapshot_id", "period_start", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    balance_after: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    reason: Mapped[str] = mapped_column(Text)
    server_id: Mapped[int | None] = mapped_column(ForeignKey("servers.id"))
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hours: Mapped[int | None]
    backup_hours: Mapped[int | None]
    # A snapshot's charge names it (vpsorg.snapshots.charging); no foreign key, as a host's.
    snapshot_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
