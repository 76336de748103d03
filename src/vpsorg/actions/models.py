from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from vpsorg.db import Base, UTCDateTime, utcnow


class Action(Base):
    """A lifecycle change: the worker's job and the customer's audit record in one row.

    `fence` grows by one at every claim; the worker records an outcome only while the fence
    it claimed with is still current, so a worker that lost its lease cannot overwrite.
    """

    __tablename__ = "actions"
    __table_args__ = (
        Index("ix_actions_status_id", "status", "id"),
        # fair claims: the accounts with queued actions, and each one's oldest (actions.service);
        # partial, so it holds the queue only, not the history
        Index(
            "ix_actions_queued_account_id",
            "account_id",
            "id",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
        # A migration waits for the earlier open migrations off its source host (one at a
        # time per host, actions.service._first_off_host): they are found on this one.
        Index("ix_actions_source_host_id", "source_host_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id"), index=True)
    type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    fence: Mapped[int] = mapped_column(default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A migration's (vpsorg.servers.migration): the host it leaves, the host it goes to (its
    # room reserved there when queued), and the status the server returns to afterwards.
    # Plain ids, no foreign keys: the history outlives a host removed later. NULL otherwise.
    source_host_id: Mapped[int | None]
    target_host_id: Mapped[int | None]
    resume_status: Mapped[str | None] = mapped_column(String(20))
    # A resize's (vpsorg.servers.resize): the plan the server had before; a plain id, NULL otherwise.
    from_plan_id: Mapped[int | None]
