"""The history's tiers and metrics: pure data, no I/O.

Raw samples are kept an hour; the roll-up job (usage.jobs) folds them into 5-minute means,
kept 7 days, and those into hourly means, kept 90 days. A tier is named by its bucket width
in seconds (0: raw samples, each at its own time), which is also its key in the table.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

HOUR = 3600
DAY = 24 * HOUR


@dataclass(frozen=True)
class Tier:
    step: int  # bucket width, seconds; 0: raw samples
    keep: int  # seconds a row is kept, counted from its time (a bucket's start)
    name: str


RAW = Tier(step=0, keep=HOUR, name="raw")
FIVE_MINUTES = Tier(step=300, keep=7 * DAY, name="5m")
HOURLY = Tier(step=HOUR, keep=90 * DAY, name="1h")
# Finest first; each tier after the first is rolled up from the one before it.
TIERS = (RAW, FIVE_MINUTES, HOURLY)

# A bucket is rolled up once it ended this long ago: a sampling pass stamps its samples
# before it writes them (in chunks, one transaction each), so the last ones of a bucket may
# commit a few seconds after it ended. A sample committed later still is left out of it.
GRACE_SECONDS = 60
# The longest range the API answers (the hourly tier's retention).
MAX_RANGE = timedelta(seconds=HOURLY.keep)


class Metric(StrEnum):
    CPU = "cpu"
    MEMORY = "memory"
    DISK = "disk"
    BANDWIDTH = "bandwidth"


@dataclass(frozen=True)
class MetricInfo:
    column: str  # of the history table (and of the latest sample, servers' server_usage)
    unit: str
    # How a bucket's value is made from the samples in it: their mean, or for a counter
    # that only grows within the month (bandwidth), the largest (the bucket's last value).
    counter: bool = False


METRICS = {
    Metric.CPU: MetricInfo("cpu_percent", "percent"),
    Metric.MEMORY: MetricInfo("memory_used", "MiB"),
    Metric.DISK: MetricInfo("disk_used", "GB"),
    Metric.BANDWIDTH: MetricInfo("bandwidth_used", "GB", counter=True),
}


def epoch(when: datetime) -> int:
    """A timestamp as the table keeps it: whole seconds since 1970 (UTC)."""
    return int(when.timestamp() // 1)


def pick(start: datetime, now: datetime) -> Tier:
    """The finest tier that still holds `start` (hourly when none does)."""
    for tier in TIERS:
        if start >= now - timedelta(seconds=tier.keep):
            return tier
    return HOURLY


def bucket(time: int, tier: Tier) -> int:
    """The start of the tier's bucket that holds `time` (epoch seconds)."""
    return time if tier.step == 0 else time // tier.step * tier.step
