from typing import Annotated

from fastapi import APIRouter, Query

from vpsorg import inputs
from vpsorg.deps import AccountId, Session
from vpsorg.errors import AUTH_RESPONSES, NotFound, ValidationFailed, errors
from vpsorg.usage import service as usage
from vpsorg.usage.schemas import MetricSeries, Point, QueryTime
from vpsorg.usage.tiers import Metric

router = APIRouter(
    prefix="/api/v1/servers", tags=["servers"], responses=AUTH_RESPONSES, route_class=inputs.LimitedRoute
)


@router.get(
    "/{server_id}/metrics/",
    summary="Get a server's usage over time",
    description=(
        "One metric from `start` (default: a day before `end`) to `end` (default: now), at most "
        "90 days, from the finest tier that still holds `start`: raw samples (the last hour), "
        "5-minute means (7 days) or hourly means (90 days)."
    ),
    responses=errors(ValidationFailed, NotFound),
)
async def get_server_metrics(
    server_id: inputs.PathId,
    session: Session,
    account_id: AccountId,
    metric: Annotated[Metric, Query(description="cpu (percent), memory (MiB), disk (GB), bandwidth (GB)")],
    start: Annotated[QueryTime | None, Query(description="RFC 3339 date-time; inclusive")] = None,
    end: Annotated[QueryTime | None, Query(description="RFC 3339 date-time; exclusive")] = None,
) -> MetricSeries:
    found = await usage.series(
        session, account_id=account_id, server_id=server_id, metric=metric, start=start, end=end
    )
    return MetricSeries(
        metric=found.metric,
        unit=found.unit,
        start=found.start,
        end=found.end,
        resolution=found.tier.name,
        step_seconds=found.tier.step or None,
        points=[Point(time=t, value=v) for t, v in found.points],
    )
