"""The operators' audit log: every change an operator makes, who made it, on what, when.

The admin services (vpsorg.admin.service, vpsorg.admin.accounts) write an entry in the same
transaction as the change, so the admin API, the operator CLI and the web panel all record
it through the one function they call, and an entry exists exactly when its change
committed: a refused change (404, invalid_state, ...) rolls back and leaves none, and a
failed audit write fails the change. Each service function takes `actor_id`: the operator's
account (an admin token's, a panel login's), or None for the operator CLI, which runs on the
control plane's machine with its database settings and has no account; its entries have
neither an actor id nor an email. An accepted action is recorded even when it changed
nothing (suspending what is suspended already): the log is of what operators did.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.accounts.models import Account
from vpsorg.admin.models import AuditEntry
from vpsorg.db import utcnow
from vpsorg.pagination import PageParams


class AuditAction(StrEnum):
    """What was done: stable names, `<target type>.<verb>`."""

    ACCOUNT_CREATE = "account.create"
    ACCOUNT_CREDIT = "account.credit"
    ACCOUNT_LIMITS = "account.limits"
    ACCOUNT_SUSPEND = "account.suspend"
    ACCOUNT_UNSUSPEND = "account.unsuspend"
    ACCOUNT_PASSWORD = "account.password"  # the panel password set (never the password itself)
    ACCOUNT_ROLE = "account.role"  # made an operator of the panel, or no longer one
    SERVER_SUSPEND = "server.suspend"
    SERVER_UNSUSPEND = "server.unsuspend"
    SERVER_MIGRATE = "server.migrate"
    HOST_ADD = "host.add"
    HOST_UPDATE = "host.update"
    HOST_ENABLE = "host.enable"
    HOST_DISABLE = "host.disable"
    HOST_DRAIN = "host.drain"
    HOST_REMOVE = "host.remove"
    TOKEN_CREATE = "token.create"
    TOKEN_REVOKE = "token.revoke"

    @property
    def target_type(self) -> "TargetType":
        return TargetType(self.value.split(".", 1)[0])


class TargetType(StrEnum):
    ACCOUNT = "account"
    SERVER = "server"
    HOST = "host"
    TOKEN = "token"


async def record(
    session: AsyncSession,
    *,
    actor_id: int | None,
    action: AuditAction,
    target_id: int,
    details: dict[str, Any],
) -> AuditEntry:
    """Write an entry in the session's transaction (flushed: a bad entry fails the change
    here). `details` must be JSON: money as decimal strings."""
    email = None
    if actor_id is not None:
        email = await session.scalar(select(Account.email).where(Account.id == actor_id))
    entry = AuditEntry(
        actor_account_id=actor_id,
        actor_email=email,
        action=action.value,
        target_type=action.target_type.value,
        target_id=target_id,
        details=details,
        created_at=utcnow(),
    )
    session.add(entry)
    await session.flush()
    return entry


def view(entry: AuditEntry) -> dict[str, Any]:
    """An entry as the admin API and the CLI show it."""
    return {
        "id": entry.id,
        "actor_id": entry.actor_account_id,
        "actor_email": entry.actor_email,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "details": entry.details,
        "created_at": entry.created_at,
    }


@dataclass(frozen=True)
class AuditFilter:
    action: AuditAction | None = None
    actor_id: int | None = None
    target_type: TargetType | None = None
    target_id: int | None = None


async def list_entries(
    session: AsyncSession, *, filters: AuditFilter, page: PageParams | None
) -> tuple[int, list[dict[str, Any]]]:
    """The entries matching every filter given, newest first (a page, or all for None), and
    their count."""
    where: list[Any] = []
    if filters.action is not None:
        where.append(AuditEntry.action == filters.action.value)
    if filters.actor_id is not None:
        where.append(AuditEntry.actor_account_id == filters.actor_id)
    if filters.target_type is not None:
        where.append(AuditEntry.target_type == filters.target_type.value)
    if filters.target_id is not None:
        where.append(AuditEntry.target_id == filters.target_id)
    count = await session.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0
    q = select(AuditEntry).where(*where).order_by(AuditEntry.id.desc())
    if page is not None:
        q = q.offset(page.offset).limit(page.page_size)
    return count, [view(entry) for entry in await session.scalars(q)]
