"""Quotas: how many servers and SSH keys an account may have.

The defaults are settings (VPSORG_DEFAULT_SERVER_LIMIT, VPSORG_DEFAULT_SSH_KEY_LIMIT); an
operator can set an account's own limit for either (accounts.server_limit and ssh_key_limit;
NULL means the default). A create counts what the account has with the account row locked
(the lock the credit check takes, held until the transaction ends; on SQLite the write
transaction is exclusive anyway), so concurrent creates are counted one after another and N
creates past a limit of K make exactly K. Deleted servers do not count.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.accounts.models import Account
from vpsorg.billing import service as billing
from vpsorg.config import Settings
from vpsorg.errors import NotFound, QuotaExceeded, ValidationFailed
from vpsorg.pagination import PageParams
from vpsorg.servers.models import Server
from vpsorg.ssh_keys.models import SshKey

MAX_LIMIT = 1_000_000


class Resource(StrEnum):
    SERVERS = "servers"
    SSH_KEYS = "ssh_keys"


# The account column holding an operator's limit for each resource.
COLUMNS = {Resource.SERVERS: "server_limit", Resource.SSH_KEYS: "ssh_key_limit"}
WHAT = {Resource.SERVERS: "servers", Resource.SSH_KEYS: "SSH keys"}


def _default(name: str) -> int:
    value = Settings.model_fields[name].default
    assert isinstance(value, int)
    return value


@dataclass(frozen=True)
class Defaults:
    """The limits of an account that has none of its own (from the settings)."""

    servers: int = _default("default_server_limit")
    ssh_keys: int = _default("default_ssh_key_limit")

    @classmethod
    def from_settings(cls, settings: Settings) -> "Defaults":
        return cls(servers=settings.default_server_limit, ssh_keys=settings.default_ssh_key_limit)

    def of(self, resource: Resource) -> int:
        return self.servers if resource == Resource.SERVERS else self.ssh_keys


def override(account: Any, resource: Resource) -> int | None:
    value = getattr(account, COLUMNS[resource])
    return None if value is None else int(value)


def effective(account: Any, resource: Resource, defaults: Defaults) -> int:
    own = override(account, resource)
    return defaults.of(resource) if own is None else own


async def used(session: AsyncSession, *, account_id: int, resource: Resource) -> int:
    """What the account has of the resource now (servers: not deleted)."""
    if resource == Resource.SERVERS:
        where = (Server.account_id == account_id) & Server.deleted_at.is_(None)
        stmt = select(func.count()).select_from(Server).where(where)
    else:
        stmt = select(func.count()).select_from(SshKey).where(SshKey.account_id == account_id)
    return int(await session.scalar(stmt) or 0)


async def require_room(
    session: AsyncSession, *, account_id: int, resource: Resource, defaults: Defaults
) -> None:
    """Refuse (403 quota_exceeded) one more of the resource when the account is at its limit.
    Locks the account row until the caller's transaction ends."""
    account = await billing.lock_account(session, account_id)
    count = await used(session, account_id=account_id, resource=resource)
    check_room(account, resource=resource, used=count, defaults=defaults)


def check_room(account: Any, *, resource: Resource, used: int, defaults: Defaults) -> None:
    """require_room's rule, for a caller that locked the account (an entity, or a row with its
    limit columns) and counted what it has."""
    limit = effective(account, resource, defaults)
    if used >= limit:
        raise QuotaExceeded(
            f"Quota exceeded: the account has {used} {WHAT[resource]} and may have {limit}; "
            f"delete one, or ask an operator to raise the limit",
            details={"resource": resource.value, "limit": limit, "used": used},
        )


async def _get(session: AsyncSession, account_id: int) -> Account:
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound(f"No account with id {account_id}")
    return account


async def usage(session: AsyncSession, *, account_id: int, defaults: Defaults) -> dict[str, Any]:
    """Each resource's effective limit, what is used, and the operator's override (None:
    the default applies)."""
    account = await _get(session, account_id)
    return {
        r.value: {
            "limit": effective(account, r, defaults),
            "used": await used(session, account_id=account_id, resource=r),
            "override": override(account, r),
        }
        for r in Resource
    }


async def set_limits(
    session: AsyncSession,
    *,
    account_id: int,
    changes: dict[Resource, int | None],
    defaults: Defaults = Defaults(),  # noqa: B008 (frozen: never mutated)
) -> dict[str, Any]:
    """An operator's limits for the account (None: back to the default); returns usage().
    Lowering a limit below what the account has removes nothing; creates are refused."""
    if not changes:
        raise ValidationFailed("Nothing to change: give servers and/or ssh_keys", details={"fields": []})
    for resource, value in changes.items():
        if value is not None and not 0 <= value <= MAX_LIMIT:
            raise ValidationFailed.field(resource.value, f"must be from 0 to {MAX_LIMIT}, or default")
    account = await billing.lock_account(session, account_id)
    for resource, value in changes.items():
        setattr(account, COLUMNS[resource], value)
    await session.flush()
    return await usage(session, account_id=account_id, defaults=defaults)


_accounts = Account.__table__.c
_SSH_KEYS_USED = (
    select(func.count())
    .where(SshKey.__table__.c.account_id == _accounts.id)
    .correlate(Account.__table__)
    .scalar_subquery()
    .label("ssh_keys_used")
)
# An account as it is shown, in one statement however many servers and keys it has: the live
# servers and their month are the counters triggers keep (see Account).
_ACCOUNT_COLUMNS = (
    _accounts.id,
    _accounts.email,
    _accounts.balance,
    _accounts.created_at,
    _accounts.server_limit,
    _accounts.ssh_key_limit,
    _accounts.live_servers,
    _accounts.commitment_cents,
    _accounts.suspended_at,
    _accounts.suspended_reason,
    _SSH_KEYS_USED,
)


def account_view(row: Any, defaults: Defaults) -> dict[str, Any]:
    """An account (a row of _ACCOUNT_COLUMNS) as GET /api/v1/account/ shows it."""
    committed = billing.committed(row)
    used = {Resource.SERVERS: row.live_servers, Resource.SSH_KEYS: row.ssh_keys_used}
    return {
        "id": row.id,
        "email": row.email,
        "balance": row.balance,
        "credit": row.balance,
        "available_credit": row.balance - committed,
        "monthly_commitment": committed,
        "servers": row.live_servers,
        "currency": billing.CURRENCY,
        "created_at": row.created_at,
        "suspended_at": row.suspended_at,
        "suspended_reason": row.suspended_reason,
        "limits": {r.value: {"limit": effective(row, r, defaults), "used": used[r]} for r in Resource},
    }


async def summary(session: AsyncSession, *, account_id: int, defaults: Defaults) -> dict[str, Any]:
    """The account as GET /api/v1/account/ shows it: balance, available credit, limits,
    suspension."""
    row = (await session.execute(select(*_ACCOUNT_COLUMNS).where(_accounts.id == account_id))).first()
    if row is None:
        raise NotFound(f"No account with id {account_id}")
    return account_view(row, defaults)


@dataclass(frozen=True)
class AccountFilter:
    email: str | None = None  # a case-insensitive substring of the email
    suspended: bool | None = None


async def list_accounts(
    session: AsyncSession, *, filters: AccountFilter, page: PageParams | None, defaults: Defaults
) -> tuple[int, list[dict[str, Any]]]:
    """The accounts matching the filters in id order (a page of them, or all for None), with
    their count: two statements, whatever the page size."""
    where: list[Any] = []
    if filters.email:
        where.append(_accounts.email.icontains(filters.email, autoescape=True))
    if filters.suspended is not None:
        where.append(
            _accounts.suspended_at.is_not(None) if filters.suspended else _accounts.suspended_at.is_(None)
        )
    count = await session.scalar(select(func.count()).select_from(Account.__table__).where(*where)) or 0
    q = select(*_ACCOUNT_COLUMNS).where(*where).order_by(_accounts.id)
    if page is not None:
        q = q.offset(page.offset).limit(page.page_size)
    return count, [account_view(row, defaults) for row in (await session.execute(q)).all()]
