from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from vpsorg.db import Base, UTCDateTime, utcnow


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # to be sent (again, at next_attempt_at)
    SUCCEEDED = "succeeded"  # the receiver answered 2xx
    FAILED = "failed"  # given up after the retry window (or the webhook's URL became unsafe)


class Webhook(Base):
    """A URL the worker POSTs an account's events to, signed with `secret`.

    The secret is stored as it is, not hashed: the worker signs every delivery with it
    (HMAC needs the key itself), so the database must hold it. It is shown to the customer
    once, in the create's answer. `cursor` is the id of the last event fanned out into
    deliveries (vpsorg.webhooks.jobs): events after it are its to deliver."""

    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    url: Mapped[str] = mapped_column(String(2048))
    # The event types it receives; ["*"]: all of them.
    event_types: Mapped[list[str]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(default=True)
    description: Mapped[str] = mapped_column(String(200), default="", server_default="")
    secret: Mapped[str] = mapped_column(String(100))
    cursor: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Base):
    """One event to send to one webhook, and how its attempts went.

    A webhook's pending deliveries go out in id order (= event order), one at a time: only
    the oldest pending one (its head) may be claimed. A claim takes a lease and bumps
    `fence`; the outcome is written only under the fence it was claimed with, so a worker
    that died or lost its lease cannot overwrite, and an expired lease lets the next worker
    send it again (at least once). `body` is the JSON sent, fixed at fan-out: every attempt
    (and a manual redeliver) sends the same bytes, whatever becomes of the event row."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),
        # the claim's queue: the pending ones only
        Index(
            "ix_webhook_deliveries_pending",
            "webhook_id",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[int]
    event_type: Mapped[str] = mapped_column(String(50))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    fence: Mapped[int] = mapped_column(default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A manual redeliver's: the delivery it sends again.
    redelivery_of: Mapped[int | None]
