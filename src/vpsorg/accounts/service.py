"""Accounts and API tokens."""

import hashlib
import re
import secrets
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.accounts.models import Account, ApiToken
from vpsorg.errors import NotFound, ValidationFailed

TOKEN_PREFIX = "vps_"
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_account(session: AsyncSession, *, email: str, credit: Decimal) -> Account:
    if not EMAIL_RE.match(email):
        raise ValidationFailed.field("email", "not an email address")
    if credit < 0:
        raise ValidationFailed.field("credit", "must not be negative")
    if await session.scalar(select(Account.id).where(Account.email == email)) is not None:
        raise ValidationFailed.field("email", "an account with this email exists")
    account = Account(email=email, credit=credit.quantize(Decimal("0.01")))
    session.add(account)
    await session.flush()
    return account


async def find_account(session: AsyncSession, *, email: str) -> Account | None:
    return await session.scalar(select(Account).where(Account.email == email))


async def get_account(session: AsyncSession, *, account_id: int) -> Account:
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound(f"No account with id {account_id}")
    return account


async def create_token(session: AsyncSession, *, account_id: int) -> str:
    """Mint a token for the account; the plain token is returned once and never stored."""
    await get_account(session, account_id=account_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(account_id=account_id, token_hash=hash_token(token)))
    await session.flush()
    return token


async def authenticate(session: AsyncSession, *, token: str) -> int | None:
    """The account id a token belongs to, or None."""
    return await session.scalar(select(ApiToken.account_id).where(ApiToken.token_hash == hash_token(token)))
