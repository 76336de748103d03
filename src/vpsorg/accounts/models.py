from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Numeric, String, false
from sqlalchemy.orm import Mapped, mapped_column

from vpsorg.db import Base, UTCDateTime, utcnow


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # The sum of the account's ledger entries, kept here so that a create can check it with
    # the account row locked; written only together with an entry (vpsorg.billing.service).
    balance: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0.00"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # An operator's per-account quotas (vpsorg.accounts.limits); NULL: the default setting.
    server_limit: Mapped[int | None] = mapped_column(default=None)
    ssh_key_limit: Mapped[int | None] = mapped_column(default=None)
    # The account's servers not deleted: kept by triggers on servers (migration 5b1e7d3c9a40),
    # never written by the application; the servers list's count reads it.
    live_servers: Mapped[int] = mapped_column(default=0, server_default="0")
    # One month of those servers (vpsorg.billing.prices.monthly_price of each), in cents, but
    # those whose create failed (status error, never provisioned: they reserve nothing): kept
    # by triggers on servers (migrations 7d4e2a9c6b15, 2e6b8d4f1a37), never written by the
    # application; a create's credit check reads it with the account row locked.
    commitment_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The web panel's login (vpsorg.accounts.logins): an argon2id hash; NULL: no password, so
    # no login (the API's tokens work regardless).
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    # An operator: the panel's /admin/ pages (the admin API goes by its token's scope).
    is_admin: Mapped[bool] = mapped_column(default=False, server_default=false())
    # An operator's suspension of the whole account (vpsorg.admin.accounts): its servers are
    # suspended and its creates refused until an operator lifts it. NULL: not suspended.
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    suspended_reason: Mapped[str | None] = mapped_column(String(500), default=None)


class ApiToken(Base):
    """A bearer token; only its SHA-256 hash is kept. Revoking one deletes its row."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # read: GET only; write: the customer API; admin: that and /api/v1/admin/.
    scope: Mapped[str] = mapped_column(String(10), default="write", server_default="write")
    # Tokens minted before tokens had names are called "legacy".
    name: Mapped[str] = mapped_column(String(100), server_default="legacy")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # None: never expires. From then on the token no longer authenticates.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Written at most once a minute per token (vpsorg.accounts.service.touch_token).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginSession(Base):
    """A web panel login: the cookie holds a random secret, this row only its SHA-256 hash.
    Logging out or an operator deleting the row ends it at once, in every process."""

    __tablename__ = "login_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    # The synchronizer token every form and htmx request of this session must send back.
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
