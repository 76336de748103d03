"""Accounts and API tokens."""

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg import clock
from vpsorg.accounts.models import Account, ApiToken
from vpsorg.billing import service as billing
from vpsorg.billing.models import EntryKind
from vpsorg.errors import NotFound, ValidationFailed
from vpsorg.hotreads import Reads, first

TOKEN_PREFIX = "vps_"
# last_used_at is written at most this often per token, so that reads stay reads.
TOUCH_EVERY = timedelta(seconds=60)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Scope(StrEnum):
    """What a token may do: `read` only GETs, `write` the whole customer API, `admin` that
    and the operators' API under /api/v1/admin/."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    def allows(self, other: "Scope") -> bool:
        """Whether a token of this scope may mint one of `other` (read < write < admin)."""
        order = list(Scope)
        return order.index(other) <= order.index(self)


@dataclass(frozen=True)
class TokenUse:
    """A token that authenticated: whose it is, what it may do, and whether this use is to be
    recorded (its last_used_at is unset or older than TOUCH_EVERY)."""

    token_id: int
    token_hash: str
    account_id: int
    scope: Scope
    touch: bool


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_account(session: AsyncSession, *, email: str, credit: Decimal) -> Account:
    """A new account; starting credit is its first ledger entry (a top-up)."""
    if not EMAIL_RE.match(email):
        raise ValidationFailed.field("email", "not an email address")
    billing.check_amount(credit, "credit")
    if credit < 0:
        raise ValidationFailed.field("credit", "must not be negative")
    if await session.scalar(select(Account.id).where(Account.email == email)) is not None:
        raise ValidationFailed.field("email", "an account with this email exists")
    account = Account(email=email, balance=Decimal("0.00"))
    session.add(account)
    await session.flush()
    if credit > 0:
        await billing.credit(
            session, account_id=account.id, amount=credit, kind=EntryKind.TOP_UP, reason="initial credit"
        )
    return account


async def find_account(session: AsyncSession, *, email: str) -> Account | None:
    return await session.scalar(select(Account).where(Account.email == email))


async def get_account(session: AsyncSession, *, account_id: int) -> Account:
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound(f"No account with id {account_id}")
    return account


async def mint_token(
    session: AsyncSession,
    *,
    account_id: int,
    scope: Scope = Scope.WRITE,
    name: str = "token",
    expires_in_days: int | None = None,
) -> tuple[ApiToken, str]:
    """A new token row and the plain token, which is returned once and never stored."""
    await get_account(session, account_id=account_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    expires_at = None if expires_in_days is None else now + timedelta(days=expires_in_days)
    row = ApiToken(
        account_id=account_id,
        token_hash=hash_token(token),
        scope=Scope(scope),
        name=name,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    return row, token


async def create_token(
    session: AsyncSession,
    *,
    account_id: int,
    scope: Scope = Scope.WRITE,
    name: str = "token",
    expires_in_days: int | None = None,
) -> str:
    """Mint a token for the account; the plain token is returned once and never stored."""
    _, token = await mint_token(
        session, account_id=account_id, scope=scope, name=name, expires_in_days=expires_in_days
    )
    return token


# Built once, run on the session's connection (Core): every request runs it, and building the
# statement and the ORM's execution layer cost more than the query itself.
_tokens = ApiToken.__table__.c
# What token_use reads, labelled so that a statement may select them beside another table's
# (servers.get_detail_by_token: the token and the server in one round trip).
TOKEN_COLUMNS = (
    _tokens.id.label("token_id"),
    _tokens.account_id.label("token_account_id"),
    _tokens.scope.label("token_scope"),
    _tokens.expires_at.label("token_expires_at"),
    _tokens.last_used_at.label("token_last_used_at"),
)
_TOKEN_QUERY = select(*TOKEN_COLUMNS).where(_tokens.token_hash == bindparam("token_hash"))


async def authenticate(reads: Reads, *, token: str) -> TokenUse | None:
    """The token's account and scope, or None for an unknown (or revoked) or expired token.

    One query on the unique token_hash index (on the hot reads or a session); it writes
    nothing (see touch_token)."""
    token_hash = hash_token(token)
    return token_use(await first(reads, _TOKEN_QUERY, {"token_hash": token_hash}), token_hash)


def token_use(row: Any, token_hash: str) -> TokenUse | None:
    """The use of a token from a row of TOKEN_COLUMNS (None: no such token, or one expired)."""
    now = clock.now()
    if row is None or row.token_id is None:
        return None
    if row.token_expires_at is not None and row.token_expires_at <= now:
        return None
    touch = row.token_last_used_at is None or row.token_last_used_at <= now - TOUCH_EVERY
    scope = Scope(row.token_scope)
    return TokenUse(
        token_id=row.token_id,
        token_hash=token_hash,
        account_id=row.token_account_id,
        scope=scope,
        touch=touch,
    )


async def touch_token(session: AsyncSession, *, token_id: int) -> None:
    """Record a use of the token: set last_used_at to now unless another process did within
    TOUCH_EVERY (compare and set, so concurrent requests write it once)."""
    now = clock.now()
    stale = or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - TOUCH_EVERY)
    await session.execute(update(ApiToken).where(ApiToken.id == token_id, stale).values(last_used_at=now))
