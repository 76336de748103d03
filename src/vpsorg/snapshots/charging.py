"""Snapshots' hourly charges: as servers' (vpsorg.billing.prices), with a snapshot's own
prices (size times the price per GB-month, fixed when it became available) and no backup
surcharge. Charged from when it became available until it is deleted; a suspended account's
snapshots are kept and charged, as its servers are."""

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.billing import prices
from vpsorg.billing import service as billing
from vpsorg.billing.models import EntryKind
from vpsorg.snapshots.models import Snapshot


def due(now: datetime) -> Any:
    """Snapshots with an hour that started (before now, and before deletion) not charged."""
    return (
        Snapshot.billed_until.is_not(None)
        & (Snapshot.billed_until < now)
        & or_(Snapshot.deleted_at.is_(None), Snapshot.billed_until < Snapshot.deleted_at)
    )


async def charge_account(session: AsyncSession, *, account_id: int, now: datetime) -> int:
    """Charge the account's snapshots every started hour, in the caller's transaction (the
    account row locked first, as billing does); the ledger entries written. Each snapshot's
    state moves only from the state read (compare-and-set: ChargeConflict otherwise), and
    the unique (snapshot_id, period_start) of the ledger is the last guard."""
    account = await billing.lock_account(session, account_id)
    rows = (
        await session.execute(
            select(Snapshot)
            .where(Snapshot.account_id == account_id, due(now))
            .order_by(Snapshot.id)
            .with_for_update()
        )
    ).scalars()
    written = 0
    for snap in list(rows):
        assert (
            snap.billed_until is not None and snap.price_hourly is not None and snap.price_monthly is not None
        )
        before = prices.BillingState(snap.billed_until, snap.billing_month, snap.month_hours, 0)
        until = min(now, snap.deleted_at) if snap.deleted_at is not None else now
        charges, after = prices.charges_due(
            before, until=until, backups=False, hourly=snap.price_hourly, monthly=snap.price_monthly
        )
        moved = await session.execute(
            update(Snapshot)
            .where(Snapshot.id == snap.id, Snapshot.billed_until == before.billed_until)
            .values(billed_until=after.billed_until, billing_month=after.month, month_hours=after.hours)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise billing.ChargeConflict(snap.id)
        for charge in charges:
            if charge.amount == 0:
                continue  # the month's cap is reached
            entry = billing.post(
                session,
                account,
                kind=EntryKind.CHARGE,
                amount=-charge.amount,
                reason=f"snapshot {snap.id} ({snap.size_gb} GB): {charge.hours} hour(s) in {charge.month}",
                charge=charge,
            )
            entry.snapshot_id = snap.id
            written += 1
    await session.flush()
    return written
