import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field

from vpsorg.schemas import Timestamp
from vpsorg.usage.tiers import Metric

# RFC 3339's date-time (section 5.6): a date, T, a time and an offset (Z or +hh:mm); no
# other ISO 8601 form (a date alone, week dates, a number of seconds).
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def rfc3339(value: Any) -> Any:
    """A query parameter's RFC 3339 date-time, as an aware datetime in UTC; ValueError (400)
    for anything else, or for a time UTC cannot hold (past the year 9999)."""
    if not isinstance(value, str):
        return value
    found = RFC3339.fullmatch(value)
    if found is None:
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-12-06T14:30:00Z")
    if found.group(1) == "60":  # a leap second: Python's datetime has none
        value = value[: found.start(1)] + "59" + value[found.end(1) :]
    try:
        return datetime.fromisoformat(value.upper()).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError("is not a valid date-time (RFC 3339)") from None


QueryTime = Annotated[datetime, BeforeValidator(rfc3339)]


class Point(BaseModel):
    time: Timestamp = Field(description="The sample's time, or the start of the bucket")
    value: float


class MetricSeries(BaseModel):
    """A server's usage over time (see the README's "Usage history")."""

    metric: Metric
    unit: str = Field(examples=["percent"], description="percent, MiB or GB")
    start: Timestamp
    end: Timestamp
    resolution: str = Field(examples=["5m"], description="The tier the points come from: raw, 5m or 1h")
    step_seconds: int | None = Field(
        examples=[300], description="The width of a point's bucket; null for raw samples (one point each)"
    )
    points: list[Point]
