"""Billing's periodic job: charge every started hour, one account per transaction."""

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vpsorg import failpoints
from vpsorg.billing import service as billing
from vpsorg.db import utcnow
from vpsorg.servers.models import Server
from vpsorg.snapshots import charging as snapshot_charging
from vpsorg.snapshots.models import Snapshot

log = logging.getLogger("vpsorg.billing")


async def charge_due(sessions: async_sessionmaker[AsyncSession], *, now: datetime | None = None) -> int:
    """One charging pass (the worker's): every started hour not yet charged, one account
    per transaction. Returns how many ledger entries were written.

    Safe to run anywhere, any number of times, concurrently: an account's pass holds the
    account row, and moves each server's billing state only from the state it read
    (compare-and-set); the unique (server, period start) of charges is a last guard."""
    now = now or utcnow()
    async with sessions() as session:
        account_ids = sorted(
            set(await session.scalars(select(Server.account_id).where(billing.due(now)).distinct()))
            | set(
                await session.scalars(
                    select(Snapshot.account_id).where(snapshot_charging.due(now)).distinct()
                )
            )
        )
    written = 0
    for account_id in account_ids:
        try:
            async with sessions.begin() as session:
                # snapshots first: the servers' pass then settles the balance both left
                written += await snapshot_charging.charge_account(session, account_id=account_id, now=now)
                written += await billing.charge_account(session, account_id=account_id, now=now)
                failpoints.hit("billing.before_commit")
        except billing.ChargeConflict:
            log.warning("account %s: charged meanwhile by another worker; skipped", account_id)
        failpoints.hit("billing.after_account")
    return written
