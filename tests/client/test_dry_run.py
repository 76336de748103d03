"""A create's dry run through the SDK (sync and async) and `vps servers create --dry-run`."""

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from tests.client.test_vps_cli import as_json, clean_env, ok, vps
from tests.conftest import Live, run_db
from vpsorg.catalog.models import Plan
from vpsorg.client import AsyncClient, Backoff, Client, DryRun, PaymentRequired, ValidationError

FAST = Backoff(initial=0.02, maximum=0.2)
ORDER = {"plan_id": 3, "os_id": 5, "location": "us-west"}


def starter(live: Live) -> Plan:
    plan: Plan = run_db(live.settings, lambda s: s.get(Plan, 3))
    return plan


def test_sync_dry_run_answers_the_price_and_creates_nothing(live: Live) -> None:
    customer = live.account(credit="1000")
    plan = starter(live)
    with Client(live.url, customer.token, backoff=FAST, timeout=10) as api:
        quote = api.servers.create("dry-1", **ORDER, dry_run=True)
        assert quote == DryRun(
            would_create=True,
            monthly_price=plan.price_monthly,
            hourly_price=plan.price_hourly,
            location="us-west",
            raw=quote.raw,
        )
        with_backups = api.servers.create("dry-1", **ORDER, backups_enabled=True, dry_run=True)
        assert with_backups.monthly_price == plan.price_monthly * Decimal("1.2")
        # wait=True does not wait for anything: there is no action.
        assert isinstance(api.servers.create("dry-1", **ORDER, wait=True, dry_run=True), DryRun)
        assert list(api.servers.list()) == []
        with pytest.raises(ValidationError):
            api.servers.create("dry-1", 3, 5, "nowhere", dry_run=True)
        created = api.servers.create("dry-1", **ORDER, dry_run=False)
        assert created.status == "provisioning" and [s.id for s in api.servers.list()] == [created.id]
        created.delete()


def test_async_dry_run_answers_the_price_or_the_refusal(live: Live) -> None:
    poor = live.account(credit="1.00")
    rich = live.account(credit="1000")
    plan = starter(live)

    async def run() -> None:
        async with AsyncClient(live.url, rich.token, backoff=FAST, timeout=10) as api:
            quote = await api.servers.create("dry-a", **ORDER, dry_run=True)
            assert isinstance(quote, DryRun) and quote.would_create
            assert (quote.monthly_price, quote.hourly_price) == (plan.price_monthly, plan.price_hourly)
            assert [s async for s in api.servers.list()] == []
        async with AsyncClient(live.url, poor.token, backoff=FAST, timeout=10) as api:
            with pytest.raises(PaymentRequired):
                await api.servers.create("dry-a", **ORDER, dry_run=True)

    asyncio.run(run())


def test_vps_create_dry_run_prints_the_price_or_the_refusal(live: Live, tmp_path: Path) -> None:
    rich, poor = live.account(credit="1000"), live.account(credit="1.00")
    plan = starter(live)
    args = ("servers", "create", "--name", "cli-dry", "--plan", "3", "--os", "5", "--location", "us-west")
    env = clean_env(tmp_path, VPS_URL=live.url, VPS_TOKEN=rich.token)

    table = ok(vps(*args, "--dry-run", env=env))
    assert f"{plan.price_monthly:.2f}" in table and str(plan.price_hourly) in table and "us-west" in table
    shown = as_json(vps("-o", "json", *args, "--dry-run", env=env))
    assert shown == {
        "would_create": True,
        "monthly_price": f"{plan.price_monthly:.2f}",
        "hourly_price": str(plan.price_hourly),
        "location": "us-west",
    }
    assert rich.http.get("/api/v1/servers/").json()["count"] == 0

    refused = vps(*args, "--dry-run", env=env | {"VPS_TOKEN": poor.token})
    assert refused.returncode == 1 and "(insufficient_credit)" in refused.stderr
    assert poor.http.get("/api/v1/servers/").json()["count"] == 0
