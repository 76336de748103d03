"""Usage history: raw samples written beside each latest sample, and a metric's series over a
range, read from the finest tier that still holds it (tiers.py)."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.db import dialect_insert, utcnow
from vpsorg.errors import ValidationFailed
from vpsorg.servers import service as servers
from vpsorg.usage import tiers
from vpsorg.usage.models import UsageHistory
from vpsorg.usage.tiers import METRICS, TIERS, Metric, Tier

_h = UsageHistory.__table__.c
VALUES = ("cpu_percent", "memory_used", "disk_used", "bandwidth_used")
DEFAULT_RANGE = timedelta(hours=24)


def raw_row(sample: dict[str, Any]) -> dict[str, Any]:
    """A raw history row from a latest-usage row (`servers.lifecycle.usage_row`)."""
    row = {"server_id": sample["server_id"], "tier": tiers.RAW.step, "samples": 1}
    row["time"] = tiers.epoch(sample["sampled_at"])
    return row | {c: sample[c] for c in VALUES}


async def store_samples(session: AsyncSession, samples: list[dict[str, Any]]) -> None:
    """Keep these samples (`usage_row`s) as raw history, in one statement.

    An upsert: two samples of a server stamped in the same second (an action's and a
    sampling pass's) are one raw row, the later one's."""
    if not samples:
        return
    stmt = dialect_insert(session)(UsageHistory)
    stmt = stmt.on_conflict_do_update(
        index_elements=[_h.server_id, _h.tier, _h.time],
        set_={c: stmt.excluded[c] for c in ("samples", *VALUES)},
    )
    await session.execute(stmt, [raw_row(s) for s in samples])


async def forget(session: AsyncSession, server_ids: Sequence[int]) -> None:
    """Drop the history of these servers (their machines are gone)."""
    if server_ids:
        await session.execute(delete(UsageHistory).where(UsageHistory.server_id.in_(server_ids)))


@dataclass(frozen=True)
class Series:
    metric: Metric
    unit: str
    start: datetime
    end: datetime
    tier: Tier
    points: list[tuple[datetime, float]]


def _range(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The range asked for, with its defaults (end: now; start: a day before end), checked."""
    end = end or now
    try:
        start = start or end - DEFAULT_RANGE
    except OverflowError:
        raise ValidationFailed.field("end", "too early to start a day before it; give start") from None
    if start >= end:
        raise ValidationFailed.field("start", "must be before end")
    if end - start > tiers.MAX_RANGE:
        raise ValidationFailed.field("start", f"the range may span at most {tiers.MAX_RANGE.days} days")
    return start, end


async def series(
    session: AsyncSession,
    *,
    account_id: int,
    server_id: int,
    metric: Metric,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
) -> Series:
    """One metric of the account's server from start (inclusive) to end (exclusive).

    A bucketed tier's points are its buckets (the first one may start before `start`); the
    buckets not rolled up yet are made here from the finer tiers, so the last point is the
    mean of the samples so far of a bucket still running."""
    now = now or utcnow()
    start, end = _range(start, end, now)
    await servers.ensure_visible(session, account_id=account_id, server_id=server_id)
    tier = tiers.pick(start, now)
    info = METRICS[metric]
    low = tiers.bucket(tiers.epoch(start), tier)
    rows = await _rows(session, server_id, TIERS.index(tier), low, math.ceil(end.timestamp()), info)
    points = [(datetime.fromtimestamp(t, UTC), value) for t, _, value in rows]
    return Series(metric, info.unit, start, end, tier, points)


Row = tuple[int, int, float]  # time, samples, value


async def _rows(
    session: AsyncSession, server_id: int, index: int, low: int, high: int, info: tiers.MetricInfo
) -> list[Row]:
    """A tier's rows in [low, high), then the buckets after its last one made from the tier
    below (the raw samples for 5 minutes, the 5-minute means for an hour)."""
    tier = TIERS[index]
    stmt = (
        select(_h.time, _h.samples, _h[info.column])
        .where(_h.server_id == server_id, _h.tier == tier.step, _h.time >= low, _h.time < high)
        .order_by(_h.time)
    )
    rows: list[Row] = [(t, n, v) for t, n, v in await session.execute(stmt)]
    if index == 0:
        return rows
    after = rows[-1][0] + tier.step if rows else low
    if after >= high:
        return rows
    return rows + fold(await _rows(session, server_id, index - 1, after, high, info), tier, info.counter)


def fold(rows: Sequence[Row], tier: Tier, counter: bool) -> list[Row]:
    """Rows in time order gathered into the tier's buckets: each the mean of its rows weighted
    by their samples (for a counter, the largest), as the roll-up computes it."""
    buckets: list[list[Any]] = []  # [start, samples, sum of value x samples (a counter: max)]
    for time, samples, value in rows:
        start = tiers.bucket(time, tier)
        if not buckets or buckets[-1][0] != start:
            buckets.append([start, 0, value if counter else 0.0])
        b = buckets[-1]
        b[1] += samples
        b[2] = max(b[2], value) if counter else b[2] + value * samples
    return [(start, n, total if counter else total / n) for start, n, total in buckets]
