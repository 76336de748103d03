"""Accounts and API tokens."""

import hashlib
import re
import secrets
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.accounts.models import Account, ApiToken
from vpsorg.billing import service as billing
from vpsorg.billing.models import EntryKind
from vpsorg.errors import NotFound, ValidationFailed

TOKEN_PREFIX = "vps_"
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Scope(StrEnum):
    """What a token may do: `read` only GETs, `write` the whole customer API, `admin` that
    and the operators' API under /api/v1/admin/."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


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


async def create_token(session: AsyncSession, *, account_id: int, scope: Scope = Scope.WRITE) -> str:
    """Mint a token for the account; the plain token is returned once and never stored."""
    await get_account(session, account_id=account_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(account_id=account_id, token_hash=hash_token(token), scope=Scope(scope)))
    await session.flush()
    return token


async def authenticate(session: AsyncSession, *, token: str) -> tuple[int, Scope] | None:
    """The account a token belongs to and the token's scope, or None."""
    row = (
        await session.execute(
            select(ApiToken.account_id, ApiToken.scope).where(ApiToken.token_hash == hash_token(token))
        )
    ).first()
    return None if row is None else (row.account_id, Scope(row.scope))
