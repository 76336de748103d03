"""What operators do to accounts, through the admin API, the operator CLI or the web panel:
create them, credit them, set their quotas, suspend and unsuspend them, mint and revoke their
tokens. Each change is recorded in the audit log (vpsorg.admin.audit) in its own transaction;
`actor_id` is the operator's account, None for the operator CLI.

An account's suspension: its servers are suspended (vpsorg.servers.suspension, as the
account's: an operator's suspension of one server outranks it, billing's is taken over) and
its creates are refused (403 account_suspended, checked where a create locks the account);
its customer keeps reading, deleting and paying. Suspending a suspended account changes
nothing but suspends any server of it that has come back since (one that was migrating, say):
the answer is the account's state, as for the first time. Unsuspending lifts the servers it
suspended when the balance is above zero, and leaves them to billing otherwise.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.accounts import limits, logins
from vpsorg.accounts import service as accounts
from vpsorg.accounts.models import Account, ApiToken
from vpsorg.accounts.service import Scope
from vpsorg.actions.models import Action
from vpsorg.admin import audit
from vpsorg.admin.audit import AuditAction
from vpsorg.billing import service as billing
from vpsorg.billing.models import EntryKind, LedgerEntry
from vpsorg.db import utcnow
from vpsorg.servers import suspension
from vpsorg.tokens import service as tokens


async def create_account(
    session: AsyncSession, *, email: str, credit: Decimal, actor_id: int | None
) -> Account:
    account = await accounts.create_account(session, email=email, credit=credit)
    await audit.record(
        session,
        actor_id=actor_id,
        action=AuditAction.ACCOUNT_CREATE,
        target_id=account.id,
        details={"email": account.email, "credit": f"{credit:.2f}"},
    )
    return account


async def set_password(
    session: AsyncSession, *, account_id: int, password: str, actor_id: int | None
) -> None:
    """logins.set_password, by an operator (its sessions end)."""
    await logins.set_password(session, account_id=account_id, password=password)
    await audit.record(
        session, actor_id=actor_id, action=AuditAction.ACCOUNT_PASSWORD, target_id=account_id, details={}
    )


async def set_operator(session: AsyncSession, *, account_id: int, admin: bool, actor_id: int | None) -> None:
    """Make an account an operator of the panel (or no longer one)."""
    await logins.set_admin(session, account_id=account_id, admin=admin)
    await audit.record(
        session,
        actor_id=actor_id,
        action=AuditAction.ACCOUNT_ROLE,
        target_id=account_id,
        details={"admin": admin},
    )


async def credit(
    session: AsyncSession,
    *,
    account_id: int,
    amount: Decimal,
    reason: str,
    kind: EntryKind | None,
    actor_id: int | None,
) -> LedgerEntry:
    """billing.credit, by an operator."""
    entry = await billing.credit(session, account_id=account_id, amount=amount, reason=reason, kind=kind)
    await audit.record(
        session,
        actor_id=actor_id,
        action=AuditAction.ACCOUNT_CREDIT,
        target_id=account_id,
        details={
            "amount": f"{entry.amount:.2f}",
            "kind": entry.kind,
            "reason": entry.reason,
            "balance_after": f"{entry.balance_after:.2f}",
            "currency": billing.CURRENCY,
            "ledger_entry_id": entry.id,
        },
    )
    return entry


async def set_limits(
    session: AsyncSession,
    *,
    account_id: int,
    changes: dict[limits.Resource, int | None],
    defaults: limits.Defaults,
    actor_id: int | None,
) -> dict[str, Any]:
    """limits.set_limits, by an operator; the entry has each limit's old and new override
    (null: the default)."""
    account = await billing.lock_account(session, account_id)
    old = {r: limits.override(account, r) for r in changes}
    usage = await limits.set_limits(session, account_id=account_id, changes=changes, defaults=defaults)
    await audit.record(
        session,
        actor_id=actor_id,
        action=AuditAction.ACCOUNT_LIMITS,
        target_id=account_id,
        details={r.value: {"old": old[r], "new": value} for r, value in changes.items()},
    )
    return usage


@dataclass(frozen=True)
class AccountSuspension:
    """An account after its suspension or unsuspension, and the actions queued on its servers."""

    account: dict[str, Any]  # as limits.summary shows it
    actions: list[Action]


async def suspend(
    session: AsyncSession, *, account_id: int, reason: str, defaults: limits.Defaults, actor_id: int | None
) -> AccountSuspension:
    """Suspend the account and every server of it that can be (see the module docstring)."""
    account = await billing.lock_account(session, account_id)
    already = account.suspended_at is not None
    if not already:
        account.suspended_at = utcnow()
        account.suspended_reason = reason
    queued = await suspension.suspend_account(
        session, account_id=account_id, reason=f"account suspended: {reason}", by=suspension.BY_ACCOUNT
    )
    await audit.record(
        session,
        actor_id=actor_id,
        action=AuditAction.ACCOUNT_SUSPEND,
        target_id=account_id,
        details={"reason": reason, "already_suspended": already, "servers_suspended": len(queued)},
    )
    return AccountSuspension(await limits.summary(session, account_id=account_id, defaults=defaults), queued)


async def unsuspend(
    session: AsyncSession, *, account_id: int, reason: str, defaults: limits.Defaults, actor_id: int | None
) -> AccountSuspension:
    """Lift the account's suspension (see the module docstring); an account not suspended
    stays as it is."""
    account = await billing.lock_account(session, account_id)
    was = account.suspended_at is not None
    account.suspended_at = account.suspended_reason = None
    queued = await suspension.end_account_suspension(
        session, account_id=account_id, paid=account.balance > 0, reason=f"account unsuspended: {reason}"
    )
    await audit.record(
        session,
        actor_id=actor_id,
        action=AuditAction.ACCOUNT_UNSUSPEND,
        target_id=account_id,
        details={
            "reason": reason,
            "was_suspended": was,
            "servers_unsuspended": len(queued),
            "balance": f"{account.balance:.2f}",
        },
    )
    return AccountSuspension(await limits.summary(session, account_id=account_id, defaults=defaults), queued)


async def create_token(
    session: AsyncSession,
    *,
    account_id: int,
    scope: Scope,
    name: str,
    expires_in_days: int | None,
    actor_id: int | None,
) -> str:
    """A token for any account (the operator CLI); the entry names it, never its secret."""
    row, token = await accounts.mint_token(
        session, account_id=account_id, scope=scope, name=name, expires_in_days=expires_in_days
    )
    await audit.record(
        session,
        actor_id=actor_id,
        action=AuditAction.TOKEN_CREATE,
        target_id=row.id,
        details={
            "account_id": account_id,
            "scope": row.scope,
            "name": name,
            "expires_in_days": expires_in_days,
        },
    )
    return token


async def revoke_token(session: AsyncSession, *, token_id: int, actor_id: int | None) -> None:
    """Revoke any account's token; the entry keeps whose it was."""
    token = await session.get(ApiToken, token_id)
    details = (
        {} if token is None else {"account_id": token.account_id, "scope": token.scope, "name": token.name}
    )
    await tokens.revoke_token(session, token_id=token_id)
    await audit.record(
        session, actor_id=actor_id, action=AuditAction.TOKEN_REVOKE, target_id=token_id, details=details
    )
