"""GET /api/v1/servers/{id}/metrics/: the finest tier that holds the range, its defaults, the
buckets not rolled up yet made from finer ones, its refusals, and other accounts' servers."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import Customer, Live, prepare_database, serve_in_thread, test_settings
from vpsorg.usage import tiers
from vpsorg.usage.models import UsageHistory

HOUR = 3600


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """An API without a worker: no sampling and no roll-up but the rows each test writes."""
    settings = test_settings(tmp_path_factory.mktemp("metrics") / "vpsorg.db")
    prepare_database(settings)
    with serve_in_thread(settings, run_worker=False) as server:
        yield server


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def row(server_id: int, tier: int, time: int, samples: int, value: float) -> dict[str, Any]:
    return {
        "server_id": server_id,
        "tier": tier,
        "time": time,
        "samples": samples,
        "cpu_percent": value,
        "memory_used": 1000 + value,
        "disk_used": 20.0,
        "bandwidth_used": value,
    }


def write(live: Live, rows: list[dict[str, Any]]) -> None:
    live.db(lambda s: s.execute(UsageHistory.__table__.insert(), rows))


class History:
    """A server with every tier: hourly means 30 days back to 5 hours ago (the hourly roll-up's
    last), 5-minute means from 3 hours ago to 20 minutes ago (the 5-minute roll-up's last),
    raw samples every minute of the last 50 minutes."""

    def __init__(self, live: Live, customer: Customer) -> None:
        self.id = customer.create_server(name="metered")["id"]
        self.now = tiers.epoch(datetime.now(UTC))
        last_hour = (self.now - 5 * HOUR) // HOUR * HOUR
        self.hourly = {
            t: (360, float(t // HOUR % 50)) for t in range(last_hour - 30 * 24 * HOUR, last_hour + 1, HOUR)
        }
        self.watermark = (self.now - 20 * 60) // 300 * 300
        first = (self.now - 3 * HOUR) // 300 * 300
        self.five = {t: (20 + t // 300 % 7, float(t // 300 % 40)) for t in range(first, self.watermark, 300)}
        self.raw = {self.now - 60 * k: (1, float(k)) for k in range(50, 0, -1)}
        rows = [row(self.id, 3600, t, n, v) for t, (n, v) in self.hourly.items()]
        rows += [row(self.id, 300, t, n, v) for t, (n, v) in self.five.items()]
        rows += [row(self.id, 0, t, n, v) for t, (n, v) in self.raw.items()]
        write(live, rows)

    def expected(self, step: int, start: int, widths: list[int]) -> list[tuple[int, float]]:
        """The tiers' rows (by width, coarsest first), each tier's after the last bucket of the
        one before it, as weighted means per step."""
        sources = {3600: self.hourly, 300: self.five, 0: self.raw}
        sums: dict[int, list[float]] = {}
        after = start // step * step
        for width in widths:
            kept = {t: nv for t, nv in sources[width].items() if t >= after}
            for t, (n, v) in kept.items():
                b = sums.setdefault(t // step * step, [0, 0.0])
                b[0] += n
                b[1] += n * v
            if kept:
                after = max(kept) + width
        return [(t, total / n) for t, (n, total) in sorted(sums.items())]


@pytest.fixture(scope="module")
def owner(quiet: Live) -> Customer:
    return quiet.account()


@pytest.fixture(scope="module")
def history(quiet: Live, owner: Customer) -> History:
    return History(quiet, owner)


def points(body: dict[str, Any]) -> list[tuple[int, float]]:
    return [(tiers.epoch(datetime.fromisoformat(p["time"])), p["value"]) for p in body["points"]]


def get(owner: Customer, sid: int, **params: Any) -> dict[str, Any]:
    r = owner.http.get(f"/api/v1/servers/{sid}/metrics/", params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_the_last_day_by_default_in_5_minute_means_the_running_buckets_made_from_raw_samples(
    owner: Customer, history: History
) -> None:
    body = get(owner, history.id, metric="cpu")
    assert (body["metric"], body["unit"], body["resolution"], body["step_seconds"]) == (
        "cpu",
        "percent",
        "5m",
        300,
    )
    end = tiers.epoch(datetime.fromisoformat(body["end"]))
    assert tiers.epoch(datetime.fromisoformat(body["start"])) == end - 24 * HOUR
    want = history.expected(300, end - 24 * HOUR, [300, 0])
    assert [t for t, _ in points(body)] == [t for t, _ in want]
    assert [v for _, v in points(body)] == pytest.approx([v for _, v in want], rel=1e-12)
    # the stored buckets as they are, then the raw samples after them (a minute apart: 5 a bucket)
    assert points(body)[0] == (min(history.five), history.five[min(history.five)][1])
    assert points(body)[-1][0] >= history.watermark


def test_the_last_hour_in_raw_samples(owner: Customer, history: History) -> None:
    body = get(owner, history.id, metric="memory", start=iso(history.now - 30 * 60))
    assert (body["unit"], body["resolution"], body["step_seconds"]) == ("MiB", "raw", None)
    want = [(t, 1000 + v) for t, (_, v) in history.raw.items() if t >= history.now - 30 * 60]
    assert points(body) == want and len(want) == 30


def test_a_month_in_hourly_means_the_last_hours_from_the_finer_tiers(
    owner: Customer, history: History
) -> None:
    start = history.now - 30 * 24 * HOUR
    body = get(owner, history.id, metric="cpu", start=iso(start), end=iso(history.now + 60))
    assert (body["resolution"], body["step_seconds"]) == ("1h", 3600)
    want = history.expected(3600, start, [3600, 300, 0])
    assert [t for t, _ in points(body)] == [t for t, _ in want]
    assert [v for _, v in points(body)] == pytest.approx([v for _, v in want], rel=1e-12)
    assert max(history.hourly) < points(body)[-3][0]  # three hours made from 5-minute means and raw


def test_a_range_the_finer_tiers_no_longer_hold_comes_from_a_coarser_one(
    owner: Customer, history: History
) -> None:
    # an hour ending 2 hours ago: raw samples are kept one hour, so 5-minute means
    body = get(
        owner, history.id, metric="cpu", start=iso(history.now - 3 * HOUR), end=iso(history.now - 2 * HOUR)
    )
    assert body["resolution"] == "5m"
    assert points(body) == [(t, v) for t, (_, v) in history.five.items() if t < history.now - 2 * HOUR]


def test_bandwidth_is_the_months_counter_at_each_buckets_end(owner: Customer, quiet: Live) -> None:
    sid = owner.create_server(name="counter")["id"]
    now = tiers.epoch(datetime.now(UTC))
    bucket = (now - 30 * 60) // 300 * 300
    write(quiet, [row(sid, 0, bucket + 60 * k, 1, v) for k, v in enumerate([3.0, 5.0, 9.0, 9.0, 12.0])])
    body = get(owner, sid, metric="bandwidth", start=iso(now - 2 * HOUR))
    assert (body["unit"], body["resolution"], points(body)) == ("GB", "5m", [(bucket, 12.0)])
    assert get(owner, sid, metric="disk", start=iso(now - 2 * HOUR))["points"][0]["value"] == 20.0


def test_a_server_with_no_history_has_no_points(owner: Customer) -> None:
    sid = owner.create_server(name="fresh")["id"]
    for metric in ("cpu", "memory", "disk", "bandwidth"):
        assert get(owner, sid, metric=metric)["points"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "metric"),
        ({"metric": "gpu"}, "metric"),
        ({"metric": "cpu", "start": "2026-12-06T10:00:00Z", "end": "2026-12-06T10:00:00Z"}, "start"),
        ({"metric": "cpu", "start": "2026-12-06T11:00:00+01:00", "end": "2026-12-06T09:59:59Z"}, "start"),
        (
            {"metric": "cpu", "start": "2026-09-06T10:00:00Z", "end": "2026-12-06T10:00:00Z"},
            "start",
        ),  # 91 days
        ({"metric": "cpu", "start": "2026-12-06T10:00:00"}, "start"),  # no offset
        ({"metric": "cpu", "start": "2026-12-06"}, "start"),
        ({"metric": "cpu", "end": "1700000000"}, "end"),
        ({"metric": "cpu", "end": "2026-02-30T00:00:00Z"}, "end"),
        ({"metric": "cpu", "end": "0001-01-01T00:00:00Z"}, "end"),  # no day before it to start at
    ],
)
def test_refusals(owner: Customer, history: History, params: dict[str, str], field: str) -> None:
    r = owner.http.get(f"/api/v1/servers/{history.id}/metrics/", params=params)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert [f["name"] for f in error["details"]["fields"]] == [field]


def test_ninety_days_exactly_is_answered(owner: Customer, history: History) -> None:
    start, end = iso(history.now - 90 * 24 * HOUR), iso(history.now)
    body = get(owner, history.id, metric="cpu", start=start, end=end)
    assert (body["start"], body["end"], body["resolution"]) == (start, end, "1h")


def test_another_accounts_server_is_not_found(quiet: Live, owner: Customer, history: History) -> None:
    stranger = quiet.account()
    for sid in (history.id, 2**31 - 1):
        r = stranger.http.get(f"/api/v1/servers/{sid}/metrics/", params={"metric": "cpu"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
    gone = owner.create_server(name="gone")["id"]
    assert owner.http.delete(f"/api/v1/servers/{gone}/").status_code == 204
    r = owner.http.get(f"/api/v1/servers/{gone}/metrics/", params={"metric": "cpu"})
    assert r.status_code == 404


def test_the_worker_samples_a_live_server_into_its_history(customer: Customer) -> None:
    """On the shared server: its worker samples every 0.5 s (VPSORG_METRICS_INTERVAL_SECONDS)."""
    server = customer.active_server(plan_id=2)
    start = iso(datetime.now(UTC).timestamp() - 600)
    for _ in range(300):
        body = get(customer, server["id"], metric="memory", start=start)
        if len(body["points"]) >= 3:
            break
        time.sleep(0.05)
    assert body["resolution"] == "raw" and len(body["points"]) >= 3
    times = [p["time"] for p in body["points"]]
    assert times == sorted(set(times))
    assert all(0 < p["value"] <= 8192 for p in body["points"])
