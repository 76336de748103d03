"""Passwords and the web panel's login sessions.

Passwords are argon2id hashes (argon2-cffi's defaults, RFC 9106's second recommended
parameters). A session is a random secret in an HttpOnly cookie; the database keeps its
SHA-256 hash, the account, a CSRF token and an expiry, so that logging out, an expiry or an
operator's revocation ends it at once in every process. Logging in always opens a new
session (the old one, if the browser sent one, is deleted): a session id planted before the
login is worth nothing after it.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg import clock
from vpsorg.accounts.models import Account, LoginSession
from vpsorg.accounts.service import Scope
from vpsorg.errors import NotFound, ValidationFailed

SESSION_DAYS = 14
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 takes any length; this only bounds the work one request asks for

_hasher = PasswordHasher()
# Verified against when the email is unknown, so that a wrong email costs as long as a
# wrong password and the answer's timing does not tell which accounts exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Viewer:
    """Who a session belongs to, as every panel page needs it."""

    account_id: int
    email: str
    is_admin: bool
    csrf_token: str

    @property
    def scope(self) -> Scope:
        """What the session may do, as a token's scope: an operator's is admin, anyone else's
        write (so the tokens a session makes are at most that, as a token's are)."""
        return Scope.ADMIN if self.is_admin else Scope.WRITE


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed.field("password", f"at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed.field("password", f"at most {MAX_PASSWORD} characters")


async def set_password(session: AsyncSession, *, account_id: int, password: str) -> None:
    """Set (or replace) an account's password; every open session of the account ends."""
    check_password(password)
    done = await session.execute(
        update(Account).where(Account.id == account_id).values(password_hash=_hasher.hash(password))
    )
    if done.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"No account with id {account_id}")
    await session.execute(delete(LoginSession).where(LoginSession.account_id == account_id))


async def verify_login(session: AsyncSession, *, email: str, password: str) -> int | None:
    """The account id whose email and password these are, or None (never saying which was wrong)."""
    row = (
        await session.execute(
            select(Account.id, Account.password_hash).where(
                func.lower(Account.email) == email.strip().lower()
            )
        )
    ).first()
    stored = row.password_hash if row is not None and row.password_hash else None
    if len(password) > MAX_PASSWORD:
        return None
    try:
        _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None or stored is None:
        return None
    if _hasher.check_needs_rehash(stored):  # parameters raised since: store the stronger hash
        await session.execute(
            update(Account).where(Account.id == row.id).values(password_hash=_hasher.hash(password))
        )
    return int(row.id)


async def open_session(
    session: AsyncSession, *, account_id: int, previous: str | None = None, days: int = SESSION_DAYS
) -> str:
    """A new session for the account (the previous one, if any, ends): the cookie's secret."""
    now = clock.now()
    if previous:
        await session.execute(delete(LoginSession).where(LoginSession.id_hash == _hash(previous)))
    # The account's expired sessions go as it logs in again: the table holds live ones only.
    await session.execute(
        delete(LoginSession).where(LoginSession.account_id == account_id, LoginSession.expires_at <= now)
    )
    secret = secrets.token_urlsafe(32)
    session.add(
        LoginSession(
            id_hash=_hash(secret),
            account_id=account_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
    )
    await session.flush()
    return secret


async def viewer(session: AsyncSession, *, secret: str) -> Viewer | None:
    """The session's account, or None for an unknown, ended or expired session (one query)."""
    row = (
        await session.execute(
            select(
                LoginSession.account_id,
                LoginSession.csrf_token,
                LoginSession.expires_at,
                Account.email,
                Account.is_admin,
            )
            .join(Account, Account.id == LoginSession.account_id)
            .where(LoginSession.id_hash == _hash(secret))
        )
    ).first()
    if row is None or row.expires_at <= clock.now():
        return None
    return Viewer(
        account_id=row.account_id, email=row.email, is_admin=bool(row.is_admin), csrf_token=row.csrf_token
    )


async def close_session(session: AsyncSession, *, secret: str) -> None:
    await session.execute(delete(LoginSession).where(LoginSession.id_hash == _hash(secret)))


async def set_admin(session: AsyncSession, *, account_id: int, admin: bool) -> None:
    done = await session.execute(update(Account).where(Account.id == account_id).values(is_admin=admin))
    if done.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"No account with id {account_id}")
