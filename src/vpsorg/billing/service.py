"""Credit: the ledger, the create-time credit check, hourly charges, suspension for non-payment.

Every change of an account's balance is a ledger entry written in the same transaction as
the new balance, with the account row locked (FOR UPDATE; on SQLite the write transaction
is already exclusive), so the balance always equals the sum of the ledger and concurrent
writers take turns. Prices and the charging formula: vpsorg.billing.prices.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.accounts.models import Account
from vpsorg.billing import prices
from vpsorg.billing.models import EntryKind, LedgerEntry
from vpsorg.db import utcnow
from vpsorg.errors import NotFound, PaymentRequired, ValidationFailed
from vpsorg.pagination import PageParams
from vpsorg.servers import suspension
from vpsorg.servers.models import Server
from vpsorg.servers.states import ServerStatus

log = logging.getLogger("vpsorg.billing")

CURRENCY = "USD"
# Kinds that add credit; an adjustment may go either way.
POSITIVE_KINDS = frozenset({EntryKind.TOP_UP, EntryKind.REFUND})


class ChargeConflict(Exception):
    """Another worker charged the same server meanwhile; this account's pass is rolled back."""


async def lock_account(session: AsyncSession, account_id: int) -> Account:
    account = await session.scalar(
        select(Account)
        .where(Account.id == account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if account is None:
        raise NotFound(f"No account with id {account_id}")
    return account


def _post(
    session: AsyncSession,
    account: Account,
    *,
    kind: EntryKind,
    amount: Decimal,
    reason: str,
    server_id: int | None = None,
    charge: prices.Charge | None = None,
) -> LedgerEntry:
    """Append an entry and move the balance with it (the account row locked by the caller)."""
    account.balance = account.balance + amount
    entry = LedgerEntry(
        account_id=account.id,
        kind=kind,
        amount=amount,
        balance_after=account.balance,
        reason=reason,
        server_id=server_id,
        period_start=charge.period_start if charge else None,
        period_end=charge.period_end if charge else None,
        hours=charge.hours if charge else None,
        backup_hours=charge.backup_hours if charge else None,
        created_at=utcnow(),
    )
    session.add(entry)
    return entry


post = _post  # for the other charges billing makes (vpsorg.snapshots.charging)


async def _settle(session: AsyncSession, account: Account) -> None:
    """Suspend the account's servers while its balance is at or below zero; lift the
    suspensions billing made once it is above."""
    if account.balance <= 0:
        n = len(
            await suspension.suspend_account(
                session,
                account_id=account.id,
                reason=f"suspended: the account's balance is {account.balance:.2f} {CURRENCY}",
            )
        )
        if n:
            log.warning("account %s: balance %s, %s servers suspended", account.id, account.balance, n)
    else:
        n = await suspension.lift_account(
            session,
            account_id=account.id,
            reason=f"suspension lifted: the account's balance is {account.balance:.2f} {CURRENCY}",
        )
        if n:
            log.info("account %s: balance %s, %s servers unsuspended", account.id, account.balance, n)


MAX_AMOUNT = Decimal("1e10")


def check_amount(amount: Decimal, field: str) -> None:
    """Money as the ledger keeps it: finite, at most two decimals, below 10 billion."""
    if not amount.is_finite() or abs(amount) >= MAX_AMOUNT or amount != amount.quantize(prices.CENT):
        raise ValidationFailed.field(field, "must be a number with at most two decimals, below 10000000000")


async def credit(
    session: AsyncSession,
    *,
    account_id: int,
    amount: Decimal,
    reason: str,
    kind: EntryKind | None = None,
) -> LedgerEntry:
    """An operator's change of credit: a top-up or refund (positive) or an adjustment
    (either sign). Crossing zero suspends or unsuspends the account's servers."""
    check_amount(amount, "amount")
    if amount == 0:
        raise ValidationFailed.field("amount", "must not be zero")
    if not reason.strip():
        raise ValidationFailed.field("reason", "must not be empty")
    kind = kind or (EntryKind.TOP_UP if amount > 0 else EntryKind.ADJUSTMENT)
    if kind in POSITIVE_KINDS and amount < 0:
        raise ValidationFailed.field("amount", f"a {kind} must be positive; use an adjustment")
    if kind == EntryKind.CHARGE:
        raise ValidationFailed.field("kind", "charges are made by the worker")
    account = await lock_account(session, account_id)
    entry = _post(session, account, kind=kind, amount=amount, reason=reason.strip())
    await session.flush()
    await _settle(session, account)
    return entry


def reserves() -> Any:
    """A server that reserves a month of credit: live, and not one whose create failed
    (status error, never provisioned: no machine, never charged). As the triggers that keep
    accounts.commitment_cents count it (migration 2e6b8d4f1a37)."""
    failed = (Server.status == ServerStatus.ERROR.value) & Server.provisioned_at.is_(None)
    return Server.deleted_at.is_(None) & ~failed


async def commitment(session: AsyncSession, *, account_id: int) -> tuple[Decimal, int]:
    """One month of every server of the account that reserves credit (see reserves), and
    how many there are: a recount of what accounts.commitment_cents keeps.

    Grouped in SQL by price, summed here in Decimal: SQLite keeps NUMERIC as floating point,
    so its SUM would not be exact to the cent."""
    rows = await session.execute(
        select(Server.price_monthly, Server.backups_enabled, func.count())
        .where(Server.account_id == account_id, reserves())
        .group_by(Server.price_monthly, Server.backups_enabled)
    )
    total, count = Decimal("0.00"), 0
    for monthly, backups, n in rows:
        total += n * prices.monthly_price(monthly, backups=backups)
        count += n
    return total, count


_accounts = Account.__table__.c
# An order's account row, locked: what its quota and credit checks read (the counters are
# kept by triggers on servers: migrations 5b1e7d3c9a40 and 7d4e2a9c6b15).
_LOCK_COUNTED = (
    select(
        _accounts.balance,
        _accounts.server_limit,
        _accounts.ssh_key_limit,
        _accounts.live_servers,
        _accounts.commitment_cents,
        _accounts.suspended_at,
        _accounts.suspended_reason,
    )
    .where(_accounts.id == bindparam("account_id"))
    .with_for_update()
)


def lock_counted(conn: Connection, account_id: int) -> Any:
    """The account row locked until the transaction ends (as lock_account), with its live
    servers and their month in cents: one statement, O(1). A row, not an entity."""
    row = conn.execute(_LOCK_COUNTED, {"account_id": account_id}).first()
    if row is None:
        raise NotFound(f"No account with id {account_id}")
    return row


def committed(account: Any) -> Decimal:
    """One month of the account's live servers (a row of lock_counted), in Decimal."""
    return Decimal(account.commitment_cents).scaleb(-2)


async def require_credit(session: AsyncSession, *, account_id: int, monthly: Decimal, what: str) -> None:
    """Refuse (402) an order of `monthly` a month that the account's available credit (its
    balance less one month of every server it has) does not cover. Locks the account row
    until the caller's transaction ends, so concurrent orders are checked one after another,
    each seeing the servers the previous ones created."""
    account = await session.run_sync(lambda s: lock_counted(s.connection(), account_id))
    count = account.live_servers
    check_credit(account, committed=committed(account), count=count, monthly=monthly, what=what)


def check_credit(account: Any, *, committed: Decimal, count: int, monthly: Decimal, what: str) -> None:
    """require_credit's rule, for a caller that locked the account (an entity or a row of
    lock_counted) and read its commitment."""
    available = account.balance - committed
    if available < monthly:
        raise PaymentRequired(
            f"Insufficient credit: {what} costs {monthly:.2f} {CURRENCY} a month; the account has "
            f"{available:.2f} {CURRENCY} available ({account.balance:.2f} balance less "
            f"{committed:.2f} for one month of its servers)",
            details={
                "required": f"{monthly:.2f}",
                "available": f"{available:.2f}",
                "balance": f"{account.balance:.2f}",
                "currency": CURRENCY,
            },
        )


async def list_ledger(
    session: AsyncSession, *, account_id: int, page: PageParams
) -> tuple[int, list[LedgerEntry]]:
    """The account's entries, newest first."""
    where = LedgerEntry.account_id == account_id
    count = await session.scalar(select(func.count()).select_from(LedgerEntry).where(where)) or 0
    rows = await session.scalars(
        select(LedgerEntry)
        .where(where)
        .order_by(LedgerEntry.id.desc())
        .offset(page.offset)
        .limit(page.page_size)
    )
    return count, list(rows)


async def ledger_before(
    session: AsyncSession, *, account_id: int, before_id: int | None, limit: int
) -> list[LedgerEntry]:
    """Up to `limit` of the account's entries with ids below `before_id` (None: from the
    newest), newest first: a keyset walk over the whole ledger, one index range a batch.
    Entries written meanwhile have higher ids, so a walk is the ledger as it was at its start."""
    where = LedgerEntry.account_id == account_id
    if before_id is not None:
        where = where & (LedgerEntry.id < before_id)
    rows = await session.scalars(
        select(LedgerEntry).where(where).order_by(LedgerEntry.id.desc()).limit(limit)
    )
    return list(rows)


@dataclass(frozen=True)
class ServerMonth:
    """What billing has charged a server in the current calendar month (UTC) so far."""

    server_id: int
    name: str
    deleted: bool
    hours: int  # hours charged this month
    backup_hours: int  # of those, with backups
    charged: Decimal
    monthly: Decimal  # a whole month at the server's prices, backups as they are now


async def month_so_far(
    session: AsyncSession, *, account_id: int, now: datetime | None = None
) -> list[ServerMonth]:
    """Each live server of the account, and each deleted one charged this month, with what
    its charges this month add up to, in id order.

    Read from the servers' billing state, not summed from the ledger: the month's charges of
    a server add up to exactly month_total(hours, backup_hours) (vpsorg.billing.prices), and
    the state says how many hours of which month were charged (a server whose last charge
    was in an earlier month has none in this one yet)."""
    month = prices.month_of(now or utcnow())
    rows = await session.execute(
        select(
            Server.id,
            Server.name,
            Server.deleted_at,
            Server.backups_enabled,
            Server.price_hourly,
            Server.price_monthly,
            Server.billing_month,
            Server.month_hours,
            Server.month_backup_hours,
            Server.month_carried,
        )
        .where(
            Server.account_id == account_id, or_(Server.deleted_at.is_(None), Server.billing_month == month)
        )
        .order_by(Server.id)
    )
    out = []
    for row in rows:
        hours, backup_hours, carried = (
            (row.month_hours, row.month_backup_hours, row.month_carried)
            if row.billing_month == month
            else (0, 0, prices.ZERO)
        )
        out.append(
            ServerMonth(
                server_id=row.id,
                name=row.name,
                deleted=row.deleted_at is not None,
                hours=hours,
                backup_hours=backup_hours,
                charged=prices.month_total(
                    hours, backup_hours, hourly=row.price_hourly, monthly=row.price_monthly, carried=carried
                ),
                monthly=prices.monthly_price(row.price_monthly, backups=row.backups_enabled),
            )
        )
    return out


# Charging --------------------------------------------------------------------------------


def start_charging(server: Server, *, now: datetime) -> None:
    """The server's machine is up: it is charged by the hour from `now` on (`charge_account`)."""
    server.billed_until = now


def due(now: datetime) -> Any:
    """Servers with an hour that started (before now, and before deletion) and is not charged."""
    return (
        Server.billed_until.is_not(None)
        & (Server.billed_until < now)
        & or_(Server.deleted_at.is_(None), Server.billed_until < Server.deleted_at)
    )


_DUE_COLUMNS = (
    Server.id,
    Server.deleted_at,
    Server.backups_enabled,
    Server.price_hourly,
    Server.price_monthly,
    Server.billed_until,
    Server.billing_month,
    Server.month_hours,
    Server.month_backup_hours,
    Server.month_carried,
)


def _state(row: Any) -> prices.BillingState:
    assert row.billed_until is not None
    return prices.BillingState(
        row.billed_until, row.billing_month, row.month_hours, row.month_backup_hours, row.month_carried
    )


async def charge_account(session: AsyncSession, *, account_id: int, now: datetime) -> int:
    account = await lock_account(session, account_id)
    written = await _charge_due(session, account, Server.account_id == account_id, now)
    await session.flush()
    if account.balance <= 0:  # charges only lower the balance: nothing to lift here
        await _settle(session, account)
    return written


async def _charge_due(session: AsyncSession, account: Account, which: Any, now: datetime) -> int:
    """Charge the hours that started before `now` of the account's servers `which` selects
    (the account row locked by the caller); how many ledger entries were written."""
    rows = (
        await session.execute(
            select(*_DUE_COLUMNS).where(which, due(now)).order_by(Server.id).with_for_update()
        )
    ).all()
    written = 0
    for row in rows:
        before = _state(row)
        until = min(now, row.deleted_at) if row.deleted_at is not None else now
        charges, after = prices.charges_due(
            before,
            until=until,
            backups=row.backups_enabled,
            hourly=row.price_hourly,
            monthly=row.price_monthly,
        )
        await _move(session, row.id, before, after)
        for charge in charges:
            if charge.amount == 0:
                continue  # the month's cap is reached: the hours are counted, nothing is owed
            backups = f", {charge.backup_hours} with backups" if charge.backup_hours else ""
            _post(
                session,
                account,
                kind=EntryKind.CHARGE,
                amount=-charge.amount,
                reason=f"server {row.id}: {charge.hours} hour(s) in {charge.month}{backups}",
                server_id=row.id,
                charge=charge,
            )
            written += 1
    return written


async def _move(
    session: AsyncSession,
    server_id: int,
    before: prices.BillingState,
    after: prices.BillingState,
    **values: Any,
) -> None:
    """Write a server's new billing state (and `values`), if no one charged it meanwhile."""
    moved = await session.execute(
        update(Server)
        .where(Server.id == server_id, Server.billed_until == before.billed_until)
        .values(
            billed_until=after.billed_until,
            billing_month=after.month,
            month_hours=after.hours,
            month_backup_hours=after.backup_hours,
            month_carried=after.carried,
            **values,
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise ChargeConflict(server_id)


async def reprice(
    session: AsyncSession, *, server_id: int, hourly: Decimal, monthly: Decimal, now: datetime
) -> None:
    """A resized server's new prices, from its next hour on (vpsorg.billing.prices): its
    hours that started by `now` (the one `now` is in among them) are charged first, at the
    prices it had; then its month so far is carried and its hours counted afresh.

    Billing's lock order: the account row, then the server's. The billing columns are
    written with Core: a caller holding the server as an entity must not write them back."""
    owner = await session.scalar(select(Server.account_id).where(Server.id == server_id))
    assert owner is not None
    account = await lock_account(session, owner)
    await _charge_due(session, account, Server.id == server_id, now)
    row = (await session.execute(select(*_DUE_COLUMNS).where(Server.id == server_id).with_for_update())).one()
    if row.billed_until is not None:  # provisioned (a resize needs it stopped, so it is)
        before = _state(row)
        after = prices.carry(before, hourly=row.price_hourly, monthly=row.price_monthly)
        await _move(session, server_id, before, after, price_hourly=hourly, price_monthly=monthly)
    await session.flush()
    if account.balance <= 0:
        await _settle(session, account)
