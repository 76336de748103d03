from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from vpsorg.db import Base, UTCDateTime, utcnow


class ConsoleTicket(Base):
    """A ticket for one WebSocket session on a server's serial console.

    Only the SHA-256 of the ticket is kept (`token_hash`): a database reader cannot open a
    console. It lives `console_ticket_seconds` (`expires_at`) and is used once: `used_at` is
    set by the one conditional UPDATE that consumes it, in whichever process the WebSocket
    reaches (vpsorg.console.service.consume)."""

    __tablename__ = "console_tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
