"""A customer's API tokens: list, create (at most the caller's own scope), revoke.

Revoking deletes the row: authentication looks the token up on every request, so it stops
working at once, in every process. Minting and authenticating live in vpsorg.accounts.service."""

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.accounts import service as accounts
from vpsorg.accounts.models import ApiToken
from vpsorg.accounts.service import Scope
from vpsorg.errors import Forbidden, NotFound
from vpsorg.pagination import PageParams


async def list_tokens(
    session: AsyncSession, *, account_id: int, page: PageParams
) -> tuple[int, list[ApiToken]]:
    where = ApiToken.account_id == account_id
    count = await session.scalar(select(func.count()).select_from(ApiToken).where(where)) or 0
    rows = await session.scalars(
        select(ApiToken).where(where).order_by(ApiToken.id).offset(page.offset).limit(page.page_size)
    )
    return count, list(rows)


async def all_tokens(session: AsyncSession, *, account_id: int) -> list[ApiToken]:
    """Every token of an account (the operator CLI), after checking that the account exists."""
    await accounts.get_account(session, account_id=account_id)
    rows = await session.scalars(
        select(ApiToken).where(ApiToken.account_id == account_id).order_by(ApiToken.id)
    )
    return list(rows)


async def create_token(
    session: AsyncSession,
    *,
    account_id: int,
    caller_scope: Scope,
    name: str,
    scope: Scope,
    expires_in_days: int | None,
) -> tuple[ApiToken, str]:
    """A token of the caller's account; a scope above the caller's own is refused (403)."""
    if not caller_scope.allows(scope):
        raise Forbidden(
            f"A {caller_scope} token cannot create a {scope} token",
            details={"scope": caller_scope, "requested": scope},
        )
    return await accounts.mint_token(
        session, account_id=account_id, scope=scope, name=name, expires_in_days=expires_in_days
    )


async def revoke_token(session: AsyncSession, *, token_id: int, account_id: int | None = None) -> None:
    """Delete the token; account_id None (an operator) reaches any account's token."""
    token = await session.get(ApiToken, token_id)
    if token is None or (account_id is not None and token.account_id != account_id):
        raise NotFound(f"Token {token_id} not found")
    await session.delete(token)
    await session.flush()
