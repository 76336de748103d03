"""Events are written by the database in the transaction of the change: every change a
customer can see has its event, in commit order, and a change rolled back has none."""

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tests.conftest import Customer, Live, prepare_database, test_settings
from tests.databases import on_postgresql
from vpsorg.accounts.models import Account
from vpsorg.billing import service as billing
from vpsorg.db import make_engine, make_sessionmaker, utcnow
from vpsorg.events import service as events
from vpsorg.events.models import Event
from vpsorg.pagination import PageParams
from vpsorg.servers.models import Server


def _events(live: Live, account_id: int) -> list[events.EventRow]:
    return list(
        reversed(
            live.db(
                lambda s: events.list_events(s, account_id=account_id, page=PageParams(page=1, page_size=200))
            )[1]
        )
    )


def test_a_servers_life_is_told_in_order(live: Live, customer: Customer) -> None:
    server = customer.active_server()
    r = customer.http.post(f"/api/v1/servers/{server['id']}/reboot/")
    assert r.status_code == 200, r.text
    customer.wait_action(r.json()["action"]["id"])
    assert customer.http.delete(f"/api/v1/servers/{server['id']}/").status_code in (200, 202, 204)
    rows = [e for e in _events(live, customer.account_id) if e.type != "account.credit_added"]
    kinds = [(e.type, e.data.get("type"), e.data.get("to"), e.data.get("status")) for e in rows]
    # transaction by transaction (within one, the order of its writes, which may vary)
    transactions = [
        {("server.created", None, None, "provisioning"), ("action.queued", "create", None, "queued")},
        {("action.running", "create", None, "running")},
        {("server.status_changed", None, "active", None), ("action.finished", "create", None, "success")},
        {("action.queued", "reboot", None, "queued"), ("server.status_changed", None, "rebooting", None)},
        {("action.running", "reboot", None, "running")},
        {("server.status_changed", None, "active", None), ("action.finished", "reboot", None, "success")},
    ]
    at = 0
    for expected in transactions:
        assert set(kinds[at : at + len(expected)]) == expected, kinds
        at += len(expected)
    ids = [e.id for e in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(e.server_id == server["id"] for e in rows)
    assert any(e.type == "server.deleted" for e in rows)


def test_credit_and_suspension(live: Live, customer: Customer) -> None:
    async def change(session: Any) -> None:
        await billing.credit(session, account_id=customer.account_id, amount=Decimal("12.50"), reason="gift")

    live.db(change)
    live.db(
        lambda s: s.execute(
            update(Account)
            .where(Account.id == customer.account_id)
            .values(suspended_at=utcnow(), suspended_reason="test")
        )
    )
    live.db(
        lambda s: s.execute(
            update(Account).where(Account.id == customer.account_id).values(suspended_at=None)
        )
    )
    rows = _events(live, customer.account_id)
    credits = [e.data for e in rows if e.type == "account.credit_added"]
    assert {"amount": "12.50", "kind": "top_up", "reason": "gift"}.items() <= credits[-1].items()
    assert [e.type for e in rows][-2:] == ["account.suspended", "account.unsuspended"]
    assert rows[-2].data == {"reason": "test"}


def _status(server_id: int, status: str) -> Any:
    return update(Server).where(Server.id == server_id).values(status=status)


def test_a_change_rolled_back_leaves_no_event(live: Live, customer: Customer) -> None:
    server = customer.active_server()
    before = _events(live, customer.account_id)[-1].id

    async def main() -> None:
        engine = make_engine(live.settings)
        try:
            async with make_sessionmaker(engine)() as session:
                count = select(func.count()).select_from(Event).where(Event.server_id == server["id"])
                outside = await session.scalar(count) or 0
                await session.execute(_status(server["id"], "stopped"))
                inside = await session.scalar(count)
                assert inside == outside + 1  # written in the change's own transaction...
                await session.rollback()  # ...and gone with it
        finally:
            await engine.dispose()

    asyncio.run(main())
    assert _events(live, customer.account_id)[-1].id == before


@pytest.mark.skipif(
    not on_postgresql(), reason="SQLite has one writer at a time: commit order is insert order"
)
def test_ids_follow_the_order_of_commit(tmp_path: Path) -> None:
    """On PostgreSQL the first to write its event commits last: its event's id is the later one."""
    settings = test_settings(tmp_path / "order.db")
    prepare_database(settings)
    live = Live(url="", settings=settings, app=None)
    first, second = live.account(), live.account()

    async def main() -> list[tuple[int, int]]:
        engine = make_engine(settings)
        try:
            sessions = make_sessionmaker(engine)
            async with sessions() as a, sessions() as b:
                for session, account in ((a, first), (b, second)):
                    await billing.credit(
                        session, account_id=account.account_id, amount=Decimal("1"), reason="order"
                    )
                await b.commit()
                await a.commit()
            async with sessions() as s:
                rows = await s.execute(
                    select(Event.id, Event.account_id)
                    .where(Event.data["reason"].as_string() == "order")
                    .order_by(Event.id)
                )
                return [tuple(r) for r in rows]
        finally:
            await engine.dispose()

    rows = asyncio.run(main())
    assert [account for _, account in rows] == [second.account_id, first.account_id]
    assert all(event_id > 0 for event_id, _ in rows)
