from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from vpsorg.db import Base, UTCDateTime, utcnow


class AuditEntry(Base):
    """One operator action (vpsorg.admin.audit): who, what, on what, when. Written in the
    transaction of the change it records; append-only: never updated, never deleted."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_target", "target_type", "target_id", "id"),
        Index("ix_audit_entries_action_id", "action", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The operator's account. NULL with actor_email NULL: the operator CLI on the control
    # plane's machine (whoever can read its database settings). The email is kept so that
    # the record still names the operator should the account row go (SET NULL).
    actor_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    actor_email: Mapped[str | None] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(40))  # audit.Action: "account.credit", ...
    target_type: Mapped[str] = mapped_column(String(20))  # "account", "server", "host", "token"
    target_id: Mapped[int]
    # What the action did: amounts (decimal strings), reasons, old and new values.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
