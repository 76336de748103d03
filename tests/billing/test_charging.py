"""Hourly charges over 40 simulated days: exact to the cent, capped per month, never twice.

API and workers are real processes on a simulated clock (vpsorg.clock: every process adds
the offset in one file to the system time); the test moves the clock forward in steps and
waits after each until the workers have charged every hour that started. Meanwhile two
workers charge side by side, one is killed with kill -9, two more die at crash points in
the middle of a pass, a server is deleted and another gets backups; at the end every
server's charges must be exactly what the documented formula gives, month by month.
"""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select

from tests.production.cluster import Cluster
from vpsorg import clock
from vpsorg.accounts.models import Account
from vpsorg.billing.models import LedgerEntry
from vpsorg.servers.models import Server

HOUR = timedelta(hours=1)
START = datetime(2027, 1, 25, 10, 0, tzinfo=UTC)  # 40 days: the end of January, all of February, March
# (plan, price per hour, price per month), as in the default catalog.
PLANS = {
    1: (Decimal("0.0360"), Decimal("24.00")),
    3: (Decimal("0.0089"), Decimal("6.00")),
    5: (Decimal("0.2500"), Decimal("168.00")),
}


def cents(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def expected_month(n: int, b: int, hourly: Decimal, monthly: Decimal) -> Decimal:
    """The README's formula, written out again here on purpose."""
    return min(cents(n * hourly), monthly) + min(
        cents(b * hourly * Decimal("0.2")), cents(monthly * Decimal("0.2"))
    )


def expected_charges(
    provisioned: datetime, end: datetime, plan: int, backups_from: datetime | None
) -> dict[str, Decimal]:
    """Month -> what the server costs: every hour that started before `end`."""
    hours: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    t = provisioned
    while t < end:
        month = hours[t.strftime("%Y-%m")]
        month[0] += 1
        if backups_from is not None and t > backups_from:
            month[1] += 1
        t += HOUR
    hourly, monthly = PLANS[plan]
    return {m: expected_month(n, b, hourly, monthly) for m, (n, b) in hours.items()}


class Clock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0.0

    def set(self, when: datetime) -> None:
        new = (when - datetime.now(UTC)).total_seconds()
        assert new >= self.offset - 1, "the simulated clock only moves forward"
        self.offset = new
        clock.set_offset(str(self.path), new)

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)


def test_forty_days_of_hourly_charges(tmp_path: Path) -> None:
    sim = Clock(tmp_path / "clock")
    sim.set(START)
    cluster = Cluster(tmp_path, env={clock.ENV: str(sim.path)}, billing_interval_seconds=0.1)
    try:
        workers = [cluster.worker(), cluster.worker()]  # two workers charging side by side
        clients = [
            cluster.client(cluster.token(credit="100000", email=f"c{i}@example.com")) for i in range(3)
        ]
        orders: list[tuple[Any, dict[str, Any]]] = [
            (clients[0], {"plan_id": 1}),
            (clients[0], {"plan_id": 1, "backups_enabled": True}),
            (clients[0], {"plan_id": 3}),  # gets backups on day 5
            (clients[1], {"plan_id": 5}),
            (clients[1], {"plan_id": 3, "backups_enabled": True}),  # deleted on day 10
            (clients[2], {"plan_id": 1}),
        ]
        ids = []
        for i, (http, order) in enumerate(orders):
            body = {"name": f"s{i}", "os_id": 5, "location": "us-west"} | order
            r = http.post("/api/v1/servers/", json=body)
            assert r.status_code == 201, r.text
            ids.append((http, r.json()["id"]))
        cluster.wait(cluster.settled, 30, "the servers to be provisioned")
        provisioned = dict(cluster.rows(select(Server.id, Server.provisioned_at)))
        anchor = max(provisioned.values())
        backups_from: dict[int, datetime] = {}

        def step(hours: float) -> None:
            """Move the clock to half past an hour of every server, wait until all is charged."""
            target = anchor + timedelta(hours=int(hours)) + timedelta(minutes=30)
            sim.set(target)
            behind = (
                select(func.count())
                .select_from(Server)
                .where(
                    Server.billed_until <= target,
                    or_(Server.deleted_at.is_(None), Server.billed_until < Server.deleted_at),
                )
            )
            cluster.wait(lambda: cluster.scalars(behind) == [0], 60, f"charges up to {target}")

        for h in (0, 1, 2, 7, 30, 95, 120):
            step(h)
        # Day 5: backups on for the third server (hours charged from now on carry the surcharge).
        http, sid = ids[2]
        assert http.patch(f"/api/v1/servers/{sid}/", json={"backups_enabled": True}).status_code == 200
        backups_from[sid] = sim.now()
        for h in (150, 200, 239):
            step(h)
        # Day 10: delete the fifth server; it is charged for the hours that started before.
        http, sid = ids[4]
        assert http.delete(f"/api/v1/servers/{sid}/").status_code == 204
        cluster.wait(cluster.settled, 30, "the delete")
        step(241)
        # One worker killed outright; the other stopped. Then two workers that die inside a
        # pass: before committing their first account, and right after committing it.
        workers[0].kill()
        workers[1].stop()
        sim.set(anchor + timedelta(hours=300, minutes=30))
        for point in ("billing.before_commit", "billing.after_account"):
            dying = cluster.worker(failpoint=point)
            assert dying.popen.wait(timeout=60) == 70, f"the worker did not die at {point}"
        cluster.worker()
        for h in (301, 420, 500, 671, 672, 673, 700, 800, 900, 959, 960):
            step(h)
        end = anchor + timedelta(hours=960, minutes=30)

        deleted = dict(
            cluster.rows(select(Server.id, Server.deleted_at).where(Server.deleted_at.is_not(None)))
        )
        plan_of = dict(cluster.rows(select(Server.id, Server.plan_id)))

        def backups_since(i: int, sid: int) -> datetime | None:
            if sid in backups_from:
                return backups_from[sid]
            return provisioned[sid] - HOUR if orders[i][1].get("backups_enabled") else None

        charged: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        periods: dict[int, list[tuple[datetime, datetime, int]]] = defaultdict(list)
        for sid, start, stop, hours, amount in cluster.rows(
            select(
                LedgerEntry.server_id,
                LedgerEntry.period_start,
                LedgerEntry.period_end,
                LedgerEntry.hours,
                LedgerEntry.amount,
            ).where(LedgerEntry.kind == "charge")
        ):
            assert amount < 0
            charged[sid][start.strftime("%Y-%m")] -= amount
            periods[sid].append((start, stop, hours))
        for i, (_http, sid) in enumerate(ids):
            want = expected_charges(
                provisioned[sid], deleted.get(sid, end), plan_of[sid], backups_since(i, sid)
            )
            assert dict(charged[sid]) == {m: v for m, v in want.items() if v}, sid
            # The monthly cap holds (with the surcharge when the server had backups).
            hourly, monthly = PLANS[plan_of[sid]]
            for month, total in charged[sid].items():
                assert total <= monthly + cents(monthly * Decimal("0.2")), (sid, month)
            # No hour twice: the charged periods tile the server's life without overlap.
            spans = sorted(periods[sid])
            for (_a, end_a, _), (start_b, _b, _) in zip(spans, spans[1:], strict=False):
                assert end_a <= start_b, (sid, spans)
        # February is whole: the servers that lived through it paid exactly the cap.
        assert charged[ids[0][1]]["2027-02"] == Decimal("24.00")
        assert charged[ids[1][1]]["2027-02"] == Decimal("28.80")
        assert charged[ids[3][1]]["2027-02"] == Decimal("168.00")
        # Each account's balance is the sum of its ledger.
        for account_id, balance in cluster.rows(select(Account.id, Account.balance)):
            amounts = cluster.scalars(select(LedgerEntry.amount).where(LedgerEntry.account_id == account_id))
            assert sum(amounts, Decimal(0)) == balance
    finally:
        cluster.close()
