"""A server whose create failed (status error, never provisioned) reserves no credit: its month
is out of the account's commitment from the moment the create fails, not from its delete."""

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlalchemy import select, update

from tests.billing.test_commitment import counters
from tests.conftest import Customer, Live, prepare_database, run_db, serve_in_thread, test_settings
from vpsorg import migrate
from vpsorg.accounts import service as accounts
from vpsorg.accounts.models import Account
from vpsorg.config import Settings
from vpsorg.db import make_engine, make_sessionmaker, utcnow
from vpsorg.drivers.simulator import SimulatorDriver, inject_fault
from vpsorg.servers import service as servers
from vpsorg.servers.models import Server
from vpsorg.servers.schemas import ServerCreate
from vpsorg.worker.service import Worker

STANDARD = {"name": "web-1", "plan_id": 1, "os_id": 5, "location": "us-west"}  # 24.00 a month


def run_worker(settings: Settings) -> None:
    """Every queued action to its outcome, by a worker in this process (the API has none: the
    test injects a fault before the create is claimed)."""

    async def main() -> None:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        try:
            await Worker(settings, sessions, SimulatorDriver(sessions, time_scale=0)).run_until_idle()
        finally:
            await engine.dispose()

    asyncio.run(main())


def assert_kept(live: Live, account_id: int, month: str, reserving: int) -> None:
    """The month the triggers keep is the recount's (billing.commitment), `reserving` servers."""
    kept, _live_servers, recounted, count = counters(live, account_id)
    assert (kept, recounted, count) == (Decimal(month), Decimal(month), reserving)


def account_of(http: Any) -> dict[str, Any]:
    r = http.get("/api/v1/account/")
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_failed_create_gives_its_month_back_at_once(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "failed.db")
    prepare_database(settings)
    with serve_in_thread(settings, run_worker=False) as live:
        customer = live.account(credit="30.00")
        failing = customer.create_server(**STANDARD)
        before = account_of(customer.http)
        assert (before["available_credit"], before["monthly_commitment"]) == ("6.00", "24.00")
        refused = customer.http.post("/api/v1/servers/", json=STANDARD | {"name": "web-2"})
        assert refused.status_code == 402, refused.text

        live.db(lambda s: inject_fault(s, op="create", server_id=failing["id"], message="no such image"))
        run_worker(settings)
        failed = customer.http.get(f"/api/v1/servers/{failing['id']}/").json()
        assert failed["status"] == "error" and "no such image" in failed["error"]

        after = account_of(customer.http)
        assert (after["available_credit"], after["monthly_commitment"]) == ("30.00", "0.00")
        assert after["servers"] == 1 and after["limits"]["servers"]["used"] == 1  # still the customer's
        assert_kept(live, customer.account_id, "0.00", 0)  # the triggers' count is the recount

        # The month it gave back buys another server, which runs and reserves its month.
        second = customer.create_server(**STANDARD | {"name": "web-2"})
        run_worker(settings)
        assert customer.http.get(f"/api/v1/servers/{second['id']}/").json()["status"] == "active"
        assert account_of(customer.http)["monthly_commitment"] == "24.00"

        # Deleting the failed server changes nothing more.
        assert customer.http.delete(f"/api/v1/servers/{failing['id']}/").status_code == 204
        final = account_of(customer.http)
        assert (final["available_credit"], final["monthly_commitment"], final["servers"]) == (
            "6.00",
            "24.00",
            1,
        )
        assert_kept(live, customer.account_id, "24.00", 1)


def test_only_a_server_that_never_ran_stops_reserving(customer: Customer, live: Live) -> None:
    """A provisioned server in error (a machine that vanished) still reserves; one that failed
    before it ran does not until it leaves error; a queued create reserves."""
    server = customer.active_server(plan_id=1)
    sid = server["id"]

    def set_row(**values: Any) -> None:
        live.db(lambda s: s.execute(update(Server).where(Server.id == sid).values(**values)))

    assert_kept(live, customer.account_id, "24.00", 1)
    set_row(status="error")  # provisioned, then broke: its machine may come back
    assert_kept(live, customer.account_id, "24.00", 1)
    set_row(provisioned_at=None)  # as a failed create leaves it
    assert_kept(live, customer.account_id, "0.00", 0)
    set_row(backups_enabled=True, price_monthly=Decimal("30.00"))  # repriced while failed: nothing
    assert_kept(live, customer.account_id, "0.00", 0)
    set_row(status="provisioning")  # its create queued again: reserving again, at its new price
    assert_kept(live, customer.account_id, "36.00", 1)
    set_row(status="error")
    assert_kept(live, customer.account_id, "0.00", 0)
    set_row(status="active", provisioned_at=utcnow())  # an operator brought it up
    assert_kept(live, customer.account_id, "36.00", 1)
    set_row(status="error", provisioned_at=None, deleted_at=utcnow())  # failed and deleted at once
    assert_kept(live, customer.account_id, "0.00", 0)
    set_row(deleted_at=None)  # undeleted, still failed: reserves nothing
    assert_kept(live, customer.account_id, "0.00", 0)
    assert counters(live, customer.account_id)[1] == 1  # live_servers counts it all along


def test_the_migration_recounts_failed_servers_both_ways(tmp_path: Path) -> None:
    """Down to the revision before it, a failed server's month is counted again; up again, it
    is not; the triggers of each revision keep their own rule."""
    settings = test_settings(tmp_path / "recount.db")
    prepare_database(settings)
    order = ServerCreate(**STANDARD)

    async def two_servers(session: Any) -> int:
        account = await accounts.create_account(session, email="m@example.com", credit=Decimal(100))
        ok, _ = await servers.create_server(session, account_id=account.id, data=order)
        bad, _ = await servers.create_server(session, account_id=account.id, data=order)
        await session.execute(update(Server).where(Server.id == bad.id).values(status="error"))
        return int(account.id)

    account_id = run_db(settings, two_servers)

    def cents() -> int:
        return int(
            run_db(
                settings, lambda s: s.scalar(select(Account.commitment_cents).where(Account.id == account_id))
            )
        )

    assert cents() == 2400
    config = migrate.alembic_config(settings)
    command.downgrade(config, "9c4e7a2b1d53")
    assert cents() == 4800
    run_db(
        settings, lambda s: s.execute(sa.text("UPDATE servers SET status = 'active' WHERE status = 'error'"))
    )
    assert cents() == 4800  # the old triggers ignore the status
    run_db(
        settings,
        lambda s: s.execute(
            sa.text("UPDATE servers SET status = 'error' WHERE id = (SELECT max(id) FROM servers)")
        ),
    )
    migrate.upgrade(settings)
    assert cents() == 2400
