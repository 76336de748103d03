from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, SmallInteger
from sqlalchemy.orm import Mapped, mapped_column

from vpsorg.db import Base


class UsageHistory(Base):
    """One server's usage in one bucket of a tier (vpsorg.usage.tiers): a raw sample (tier 0,
    `samples` 1) or the mean of the `samples` raw samples a 5-minute or hourly bucket holds
    (for bandwidth, their largest).

    Times are epoch seconds, not timestamps: a bucket is then `time / 300 * 300` in integer
    arithmetic, the same SQL on SQLite and PostgreSQL. A deleted server's rows go when its
    machine is torn down (vpsorg.servers.lifecycle), or with its row (the foreign key)."""

    __tablename__ = "usage_history"
    __table_args__ = (
        # the roll-up's and the retention's range scans over one tier
        Index("ix_usage_history_tier_time", "tier", "time"),
    )

    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"), primary_key=True)
    tier: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # bucket width, s; 0 raw
    time: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # the bucket's start, epoch s
    samples: Mapped[int] = mapped_column(Integer)
    cpu_percent: Mapped[float] = mapped_column(Float)
    memory_used: Mapped[float] = mapped_column(Float)  # MiB
    disk_used: Mapped[float] = mapped_column(Float)  # GB
    bandwidth_used: Mapped[float] = mapped_column(Float)  # GB this calendar month
