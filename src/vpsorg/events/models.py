from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from vpsorg.db import Base, UTCDateTime


class Event(Base):
    """A change a customer can see, written by the database itself in the transaction that
    makes the change (triggers on servers, actions, snapshots, accounts and ledger_entries:
    migration 2026_12_07_events): a change that rolls back leaves none, one that commits
    always has its own. Never written by the application.

    `id` is the order of commit on both databases, so a reader that has seen every event up
    to id N never sees a later one below N: SQLite takes one writer at a time; PostgreSQL
    gives a row a temporary negative id when inserted and its real one at COMMIT, under a
    lock (a deferred trigger), where it also NOTIFYs the API processes' streams."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_account_id_id", "account_id", "id"),
        Index("ix_events_server_id_id", "server_id", "id"),
        Index("ix_events_created_at", "created_at"),
        {"sqlite_autoincrement": True},  # an id is never given twice, even after a purge
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    type: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(20))
    object_id: Mapped[int]
    # The server it concerns (a server's, an action's, a snapshot's); a plain id, for the
    # list's filter. NULL for an account's events.
    server_id: Mapped[int | None]
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
