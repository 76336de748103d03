"""Usage history's periodic job: roll raw samples up into 5-minute means, those into hourly
means, and drop what is past retention (tiers.py), in one transaction.

Idempotent and crash-safe: a pass makes only buckets that are over (ended GRACE_SECONDS
ago) and newer than the target tier's newest, each in one INSERT ... SELECT ... GROUP BY
upserted on (server_id, tier, time); it commits whole or not at all, so a pass run again
after a crash makes the same buckets and counts no sample twice. What retention drops has
been rolled up in the same transaction before (a tier keeps far longer than a bucket of the
next takes to end). Passes run one at a time: PostgreSQL's is under an advisory lock (a
worker that does not get it leaves the pass to the one that has), SQLite's under its write
lock.
"""

import logging
from datetime import datetime

from sqlalchemy import Float, cast, delete, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vpsorg import failpoints
from vpsorg.db import dialect_insert, utcnow
from vpsorg.servers.models import Server
from vpsorg.usage import tiers
from vpsorg.usage.models import UsageHistory
from vpsorg.usage.service import VALUES
from vpsorg.usage.tiers import METRICS, TIERS, Tier

log = logging.getLogger("vpsorg.usage")

LOCK_KEY = 0x7573616765  # pg_try_advisory_xact_lock's key: "usage"
_h = UsageHistory.__table__.c
_servers = Server.__table__
COUNTERS = {info.column for info in METRICS.values() if info.counter}  # rolled up by max, not mean


async def roll_up(
    sessions: async_sessionmaker[AsyncSession], *, now: datetime | None = None
) -> dict[str, int]:
    """One pass (the worker's, every VPSORG_USAGE_ROLLUP_INTERVAL_SECONDS): rows written per
    tier rolled up into and rows deleted per tier, by name; {} when another pass holds the lock."""
    at = tiers.epoch(now or utcnow())
    done: dict[str, int] = {}
    async with sessions.begin() as session:
        if not await _lock(session):
            log.info("usage roll-up: another worker's pass is running; skipped")
            return done
        for source, target in zip(TIERS, TIERS[1:], strict=False):
            done[f"rolled into {target.name}"] = await _roll(session, source, target, at)
        for tier in TIERS:
            done[f"expired {tier.name}"] = await _expire(session, tier, at)
        failpoints.hit("usage.before_commit")
    return done


async def _lock(session: AsyncSession) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite: the write transaction is the lock
    return bool(await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": LOCK_KEY}))


async def _roll(session: AsyncSession, source: Tier, target: Tier, at: int) -> int:
    """Make the target's buckets that are over and newer than its newest, from the source's
    rows of live servers (a deleted server's stray samples stay raw and expire)."""
    upper = (at - tiers.GRACE_SECONDS) // target.step * target.step
    newest = await session.scalar(select(func.max(_h.time)).where(_h.tier == target.step))
    lower = None if newest is None else newest + target.step
    if lower is not None and lower >= upper:
        return 0
    # The step inline, not a bound parameter: PostgreSQL must see one expression in the
    # SELECT and the GROUP BY.
    step = literal_column(str(target.step), _h.time.type)
    start = _h.time // step * step
    samples = func.sum(_h.samples)
    columns = [
        func.max(_h[c]) if c in COUNTERS else func.sum(_h[c] * _h.samples) / cast(samples, Float)
        for c in VALUES
    ]
    rows = (
        select(_h.server_id, literal_column(str(target.step)), start, samples, *columns)
        .select_from(UsageHistory.__table__.join(_servers, _servers.c.id == _h.server_id))
        .where(_h.tier == source.step, _h.time < upper, _servers.c.deleted_at.is_(None))
        .group_by(_h.server_id, start)
    )
    if lower is not None:
        rows = rows.where(_h.time >= lower)
    stmt = dialect_insert(session)(UsageHistory.__table__).from_select(
        ["server_id", "tier", "time", "samples", *VALUES], rows
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[_h.server_id, _h.tier, _h.time],
        set_={c: stmt.excluded[c] for c in ("samples", *VALUES)},
    )
    result = await session.execute(stmt.execution_options(preserve_rowcount=True))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def _expire(session: AsyncSession, tier: Tier, at: int) -> int:
    result = await session.execute(delete(UsageHistory).where(_h.tier == tier.step, _h.time < at - tier.keep))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
