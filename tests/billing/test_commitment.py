"""accounts.commitment_cents (kept by triggers) is always one month of the account's live
servers, as billing.commitment counts it from the rows, whatever changes them."""

from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, update

from tests.conftest import Customer, Live
from vpsorg.accounts.models import Account
from vpsorg.actions.models import Action
from vpsorg.billing import service as billing
from vpsorg.db import utcnow
from vpsorg.servers.models import Server


def counters(live: Live, account_id: int) -> tuple[Decimal, int, Decimal, int]:
    """(kept month, kept count, recounted month, recounted count)."""

    async def read(session: Any) -> tuple[Decimal, int, Decimal, int]:
        row = (
            await session.execute(
                select(Account.commitment_cents, Account.live_servers).where(Account.id == account_id)
            )
        ).one()
        month, count = await billing.commitment(session, account_id=account_id)
        return Decimal(row.commitment_cents).scaleb(-2), row.live_servers, month, count

    result: tuple[Decimal, int, Decimal, int] = live.db(read)
    return result


def assert_kept(live: Live, account_id: int, month: str, count: int) -> None:
    assert counters(live, account_id) == (Decimal(month), count, Decimal(month), count)


def test_the_commitment_follows_creates_backups_deletes_and_removals(customer: Customer, live: Live) -> None:
    account = customer.account_id
    assert_kept(live, account, "0.00", 0)
    plain = customer.create_server(name="plain", plan_id=1)
    backed = customer.create_server(name="backed", plan_id=3, backups_enabled=True)
    other = customer.create_server(name="other", plan_id=5)
    month = counters(live, account)[2]
    assert counters(live, account)[:2] == (month, 3)

    # backups on and off through the API: the month moves by the surcharge
    r = customer.http.patch(f"/api/v1/servers/{plain['id']}/", json={"backups_enabled": True})
    assert r.status_code == 200, r.text
    more = counters(live, account)
    assert more[0] == more[2] > month and more[1] == 3
    r = customer.http.patch(f"/api/v1/servers/{plain['id']}/", json={"backups_enabled": False})
    assert r.status_code == 200, r.text
    assert_kept(live, account, str(month), 3)

    # a deleted server no longer counts; a change to it does not count either
    assert customer.http.delete(f"/api/v1/servers/{backed['id']}/").status_code == 204
    after_delete = counters(live, account)
    assert after_delete[0] == after_delete[2] < month and after_delete[1] == 2

    async def behind_the_api(session: Any) -> None:
        await session.execute(update(Server).where(Server.id == backed["id"]).values(backups_enabled=False))
        await session.execute(
            update(Server).where(Server.id == other["id"]).values(price_monthly=Decimal("12.35"))
        )
        await session.execute(
            update(Server).where(Server.id == backed["id"]).values(deleted_at=None)
        )  # undelete
        await session.execute(delete(Action).where(Action.server_id == plain["id"]))
        await session.execute(delete(Server).where(Server.id == plain["id"]))  # removed while live

    live.db(behind_the_api)
    kept = counters(live, account)
    assert kept[0] == kept[2] and kept[1] == kept[3] == 2

    async def delete_all(session: Any) -> None:
        await session.execute(update(Server).where(Server.account_id == account).values(deleted_at=utcnow()))

    live.db(delete_all)
    assert_kept(live, account, "0.00", 0)


def test_a_moved_server_moves_its_month(live: Live) -> None:
    a, b = live.account(), live.account()
    server = a.create_server(name="moving", plan_id=3, backups_enabled=True)

    async def move(session: Any) -> None:
        await session.execute(update(Server).where(Server.id == server["id"]).values(account_id=b.account_id))

    live.db(move)
    # (live_servers, kept by the triggers of 5b1e7d3c9a40, does not follow an owner change: no
    # code path makes one; the month does)
    assert counters(live, a.account_id)[0] == counters(live, a.account_id)[2] == 0
    kept, _, month, _ = counters(live, b.account_id)
    assert kept == month > 0
