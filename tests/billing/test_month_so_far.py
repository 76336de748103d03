"""billing.month_so_far is what the ledger's charges of the month add up to, per server; and
billing.ledger_before walks the whole ledger, newest first."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from tests.conftest import Customer, Live
from vpsorg.billing import prices
from vpsorg.billing import service as billing
from vpsorg.billing.models import EntryKind, LedgerEntry
from vpsorg.db import utcnow
from vpsorg.pagination import PageParams


def charged_in(live: Live, account_id: int, month: str) -> dict[int, tuple[int, int, Decimal]]:
    """Server -> (hours, backup hours, amount) of the ledger's charges of hours in `month`."""

    async def read(session: Any) -> list[LedgerEntry]:
        where = (LedgerEntry.account_id == account_id) & (LedgerEntry.kind == EntryKind.CHARGE)
        return list(await session.scalars(select(LedgerEntry).where(where)))

    sums: dict[int, list[Any]] = defaultdict(lambda: [0, 0, Decimal("0.00")])
    for entry in live.db(read):
        if entry.period_start is not None and prices.month_of(entry.period_start) == month:
            assert entry.server_id is not None and entry.hours is not None
            sums[entry.server_id][0] += entry.hours
            sums[entry.server_id][1] += entry.backup_hours or 0
            sums[entry.server_id][2] += entry.amount
    return {k: (h, b, -amount) for k, (h, b, amount) in sums.items()}


def month_so_far(live: Live, account_id: int, now: datetime) -> dict[int, billing.ServerMonth]:
    rows = live.db(lambda s: billing.month_so_far(s, account_id=account_id, now=now))
    return {r.server_id: r for r in rows}


def test_each_servers_month_is_its_charges_of_the_month(customer: Customer, live: Live) -> None:
    account = customer.account_id
    backed = customer.active_server(name="backed", plan_id=1, backups_enabled=True)
    small = customer.active_server(name="small", plan_id=3)
    gone = customer.active_server(name="gone", plan_id=1)
    assert customer.http.delete(f"/api/v1/servers/{gone['id']}/").status_code == 204
    # Four hours of the live servers and one of the deleted one; in the last hours of a month,
    # only the first hour (all in this month).
    ahead = prices.month_of(utcnow() + timedelta(hours=3)) == prices.month_of(utcnow())
    now = utcnow() + timedelta(hours=3 if ahead else 0)
    live.db(lambda s: billing.charge_account(s, account_id=account, now=now))

    found = month_so_far(live, account, now)
    ledger = charged_in(live, account, prices.month_of(now))
    assert set(found) == set(ledger) == {backed["id"], small["id"], gone["id"]}
    for server_id, row in found.items():
        assert (row.hours, row.backup_hours, row.charged) == ledger[server_id], row
    hours = 4 if ahead else 1
    assert (found[backed["id"]].hours, found[backed["id"]].backup_hours) == (hours, hours)
    assert (found[small["id"]].hours, found[small["id"]].backup_hours) == (hours, 0)
    assert [found[i].deleted for i in (backed["id"], small["id"], gone["id"])] == [False, False, True]
    assert found[gone["id"]].hours == 1 and found[gone["id"]].name == "gone"
    assert found[backed["id"]].monthly == Decimal("28.80")  # 24.00 and 20% for backups
    assert found[small["id"]].monthly == Decimal("6.00")


def test_a_new_month_starts_at_nothing_and_forgets_the_deleted(customer: Customer, live: Live) -> None:
    account = customer.account_id
    kept = customer.active_server(name="kept")
    gone = customer.active_server(name="gone")
    assert customer.http.delete(f"/api/v1/servers/{gone['id']}/").status_code == 204
    now = utcnow()
    live.db(lambda s: billing.charge_account(s, account_id=account, now=now))
    assert month_so_far(live, account, now)[kept["id"]].charged > 0
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    next_month = (first + timedelta(days=32)).replace(day=1, hour=0, minute=30, tzinfo=UTC)
    later = month_so_far(live, account, next_month)
    assert list(later) == [kept["id"]]  # the deleted server was charged in another month only
    assert (later[kept["id"]].hours, later[kept["id"]].charged) == (0, Decimal("0.00"))


def test_ledger_before_walks_every_entry_newest_first(customer: Customer, live: Live) -> None:
    account = customer.account_id

    async def walk(session: Any) -> tuple[list[int], list[int]]:
        for i in range(7):
            await billing.credit(session, account_id=account, amount=Decimal("1.00"), reason=f"r{i}")
        _, listed = await billing.list_ledger(
            session, account_id=account, page=PageParams(page=1, page_size=50)
        )
        walked: list[int] = []
        before = None
        while batch := await billing.ledger_before(session, account_id=account, before_id=before, limit=3):
            assert len(batch) <= 3
            walked += [e.id for e in batch]
            before = batch[-1].id
        return [e.id for e in listed], walked

    listed, walked = live.db(walk)
    assert len(listed) == 8 and walked == listed == sorted(listed, reverse=True)
