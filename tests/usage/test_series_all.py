"""usage.series_all: every metric over one range, the same series as series() makes each, in
one check of the server and one read per tier (the panel's server page draws all four)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from tests.conftest import Customer, Live, prepare_database, serve_in_thread, test_settings
from tests.usage.test_api import History
from vpsorg.errors import NotFound
from vpsorg.usage import service as usage
from vpsorg.usage import tiers
from vpsorg.usage.tiers import Metric


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """An API without a worker: no sampling and no roll-up but the history written here."""
    settings = test_settings(tmp_path_factory.mktemp("series-all") / "vpsorg.db")
    prepare_database(settings)
    with serve_in_thread(settings, run_worker=False) as server:
        yield server


@pytest.fixture(scope="module")
def metered(quiet: Live) -> tuple[Customer, History]:
    owner = quiet.account()
    return owner, History(quiet, owner)


@pytest.mark.parametrize(
    "span", [timedelta(minutes=40), timedelta(hours=24), timedelta(days=7), timedelta(days=30)]
)
def test_every_metric_as_series_makes_it(
    quiet: Live, metered: tuple[Customer, History], span: timedelta
) -> None:
    owner, history = metered
    now = datetime.fromtimestamp(history.now, UTC)

    async def both(session: Any) -> tuple[dict[Metric, usage.Series], dict[Metric, usage.Series]]:
        ids = {"account_id": owner.account_id, "server_id": history.id, "start": now - span, "now": now}
        one_by_one = {m: await usage.series(session, metric=m, **ids) for m in Metric}
        return await usage.series_all(session, **ids), one_by_one

    together, apart = quiet.db(both)
    assert together == apart
    assert all(s.points for s in together.values())  # the history has points in each range


def test_one_check_and_one_read_per_tier(quiet: Live, metered: tuple[Customer, History]) -> None:
    owner, history = metered
    now = datetime.fromtimestamp(history.now, UTC)
    seen: list[str] = []

    async def read(session: Any) -> dict[Metric, usage.Series]:
        engine = session.bind.sync_engine

        def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                seen.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            ids = {"account_id": owner.account_id, "server_id": history.id}
            return await usage.series_all(session, start=now - timedelta(days=30), now=now, **ids)
        finally:
            event.remove(engine, "before_cursor_execute", count)

    found = quiet.db(read)
    assert found[Metric.CPU].tier.name == "1h"
    # the server's check, then the hourly means, the 5-minute ones after them, the raw samples after those
    assert len(seen) == 1 + 3, seen


def test_another_accounts_server_is_not_found(quiet: Live, metered: tuple[Customer, History]) -> None:
    _, history = metered
    stranger = quiet.account()

    async def read(session: Any) -> Any:
        return await usage.series_all(session, account_id=stranger.account_id, server_id=history.id)

    with pytest.raises(NotFound):
        quiet.db(read)


def test_coarse_points_come_from_a_coarser_tier_as_a_longer_range_would(
    quiet: Live, metered: tuple[Customer, History]
) -> None:
    owner, history = metered
    now = datetime.fromtimestamp(history.now, UTC)
    week = now - timedelta(days=7)

    async def read(session: Any) -> tuple[dict[Metric, usage.Series], dict[Metric, usage.Series]]:
        ids = {"account_id": owner.account_id, "server_id": history.id, "now": now}
        coarse = await usage.series_all(session, start=week, coarse=tiers.HOURLY, **ids)
        month = await usage.series_all(session, start=now - timedelta(days=30), **ids)  # hourly anyway
        return coarse, month

    coarse, month = quiet.db(read)
    first = tiers.bucket(tiers.epoch(week), tiers.HOURLY)
    for metric in Metric:
        assert coarse[metric].tier == tiers.HOURLY and coarse[metric].start == week
        assert coarse[metric].points == [p for p in month[metric].points if tiers.epoch(p[0]) >= first]
        assert len(coarse[metric].points) <= 7 * 24 + 1
