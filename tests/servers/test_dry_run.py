"""POST /api/v1/servers/?dry_run=true: the create's checks, its prices, and nothing created."""

import random
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import TINY_LOCATION, Customer, Live, run_db
from tests.hosts import fleet
from vpsorg.accounts import limits
from vpsorg.actions.models import Action
from vpsorg.admin import accounts as admin_accounts
from vpsorg.billing import prices
from vpsorg.billing.models import LedgerEntry
from vpsorg.catalog import service as catalog
from vpsorg.catalog.models import Location, Plan
from vpsorg.catalog.schemas import CatalogIn
from vpsorg.hosts.models import Host
from vpsorg.idempotency import IdempotencyRecord
from vpsorg.ipam.models import ReleasedAddress
from vpsorg.servers.models import Server

DRY = {"dry_run": "true"}


def one_address_location(live: Live) -> str:
    """A location like TINY_LOCATION (one assignable IPv4 address) that no other test uses."""
    x, y = random.randrange(256), random.randrange(64) * 4
    code = f"dry-{uuid.uuid4().hex[:8]}"
    loc = TINY_LOCATION | {
        "code": code,
        "ipv4_pool": f"100.64.{x}.{y}/30",
        "ipv4_gateway": f"100.64.{x}.{y + 1}",
        "ipv6_pool": f"2001:db8:d{x:02x}:{y:x}::/64",
        "ipv6_gateway": f"2001:db8:d{x:02x}:{y:x}::1",
    }
    data = CatalogIn.model_validate({"locations": [loc]})
    run_db(live.settings, lambda s: catalog.load_catalog(s, catalog=data))
    return code


def state(live: Live, account_id: int, location: str) -> dict[str, Any]:
    """Everything a create could leave behind: rows, counters, free lists."""

    async def read(s: Any) -> dict[str, Any]:
        loc = await s.scalar(select(Location).where(Location.code == location))
        count = func.count()
        hosts = (
            await s.execute(
                select(Host.id, Host.used_vcpus, Host.used_memory_mib, Host.used_disk_gb, Host.servers)
                .where(Host.location_id == loc.id)
                .order_by(Host.id)
            )
        ).all()
        return {
            "servers": await s.scalar(select(count).select_from(Server)),
            "actions": await s.scalar(select(count).select_from(Action)),
            "ledger": await s.scalar(select(count).where(LedgerEntry.account_id == account_id)),
            "idempotency": await s.scalar(select(count).where(IdempotencyRecord.account_id == account_id)),
            "released": await s.scalar(select(count).where(ReleasedAddress.location_id == loc.id)),
            "next_hosts": (loc.ipv4_next_host, loc.ipv6_next_host),
            "hosts": [tuple(h) for h in hosts],
        }

    return dict(run_db(live.settings, read))


def body(location: str, **fields: Any) -> dict[str, Any]:
    return {"name": "dry-1", "plan_id": 1, "os_id": 5, "location": location} | fields


def create(who: Customer, data: dict[str, Any], **params: str) -> httpx.Response:
    return who.http.post("/api/v1/servers/", json=data, params=params)


def same_refusal(who: Customer, data: dict[str, Any], status: int, code: str) -> dict[str, Any]:
    """The dry run's answer is the real create's, and neither creates anything."""
    dry, real = create(who, data, **DRY), create(who, data)
    assert dry.status_code == real.status_code == status, (dry.text, real.text)
    assert dry.json() == real.json()
    assert dry.json()["error"]["code"] == code
    assert who.http.get("/api/v1/servers/").json()["count"] == 0
    return dict(dry.json()["error"])


@pytest.fixture
def wakes(live: Live) -> Iterator[list[int]]:
    """How many times requests wake the in-process worker from now on."""
    worker = live.app.state.worker
    woken = [0]
    wake = worker.wake

    def counting() -> None:
        woken[0] += 1
        wake()

    worker.wake = counting
    try:
        yield woken
    finally:
        del worker.wake  # the method again


def commitment(who: Customer) -> Decimal:
    return Decimal(who.http.get("/api/v1/account/").json()["monthly_commitment"])


def test_a_dry_run_answers_the_prices_and_creates_nothing(live: Live, wakes: list[int]) -> None:
    customer = live.account()
    location = one_address_location(live)
    data = body(location)
    before = state(live, customer.account_id, location)
    key = {"Idempotency-Key": uuid.uuid4().hex}

    r = customer.http.post("/api/v1/servers/", json=data, params=DRY, headers=key)
    assert r.status_code == 200, r.text
    plan = run_db(live.settings, lambda s: s.get(Plan, 1))
    assert r.json() == {
        "would_create": True,
        "monthly_price": f"{plan.price_monthly:.2f}",
        "hourly_price": str(plan.price_hourly),
        "location": location,
    }
    assert state(live, customer.account_id, location) == before
    assert wakes == [0]
    # Again: its address and host room were given back, or this one would be refused (503).
    assert create(customer, data, **DRY).status_code == 200
    assert state(live, customer.account_id, location) == before

    # The real create (with the same key: the dry run did not store it) charges those prices.
    spent = commitment(customer)
    real = customer.http.post("/api/v1/servers/", json=data, headers=key)
    assert real.status_code == 201, real.text
    assert real.json()["location"] == r.json()["location"]
    assert commitment(customer) - spent == Decimal(r.json()["monthly_price"])
    kept = run_db(live.settings, lambda s: s.get(Server, real.json()["id"]))
    assert kept.price_hourly == Decimal(r.json()["hourly_price"])
    after = state(live, customer.account_id, location)
    assert after["servers"] == before["servers"] + 1 and after["actions"] == before["actions"] + 1
    assert after["idempotency"] == before["idempotency"] + 1
    assert after["next_hosts"] != before["next_hosts"] and after["hosts"] != before["hosts"]
    assert wakes[0] >= 1
    customer.http.delete(f"/api/v1/servers/{real.json()['id']}/")


def test_backups_add_the_surcharge_to_both_prices(live: Live) -> None:
    customer = live.account()
    data = body("us-west", plan_id=2, backups_enabled=True)
    r = create(customer, data, **DRY)
    assert r.status_code == 200, r.text
    plan = run_db(live.settings, lambda s: s.get(Plan, 2))
    monthly = prices.monthly_price(plan.price_monthly, backups=True)
    assert monthly > plan.price_monthly  # the assertions below would see a missing surcharge
    assert r.json()["monthly_price"] == f"{monthly:.2f}"
    assert Decimal(r.json()["hourly_price"]) == plan.price_hourly * Decimal("1.2")

    spent = commitment(customer)
    real = create(customer, data)
    assert real.status_code == 201, real.text
    assert commitment(customer) - spent == monthly
    customer.http.delete(f"/api/v1/servers/{real.json()['id']}/")


def test_dry_run_false_creates(live: Live) -> None:
    customer = live.account()
    r = create(customer, body("us-west"), dry_run="false")
    assert r.status_code == 201, r.text
    assert customer.http.get("/api/v1/servers/").json()["count"] == 1
    customer.http.delete(f"/api/v1/servers/{r.json()['id']}/")


def test_a_dry_run_value_other_than_a_boolean_is_400(live: Live) -> None:
    customer = live.account()
    r = create(customer, body("us-west"), dry_run="perhaps")
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "validation_error"
    assert customer.http.get("/api/v1/servers/").json()["count"] == 0


def test_insufficient_credit_is_the_creates_402(live: Live) -> None:
    poor = live.account(credit="23.99")  # plan 1 costs 24.00 a month
    same_refusal(poor, body("us-west"), 402, "insufficient_credit")


def test_the_quota_is_the_creates_403(live: Live) -> None:
    customer = live.account()
    run_db(
        live.settings,
        lambda s: limits.set_limits(s, account_id=customer.account_id, changes={limits.Resource.SERVERS: 0}),
    )
    same_refusal(customer, body("us-west"), 403, "quota_exceeded")


def test_a_suspended_account_gets_the_creates_403(live: Live) -> None:
    customer = live.account()
    run_db(
        live.settings,
        lambda s: admin_accounts.suspend(
            s, account_id=customer.account_id, reason="unpaid", defaults=limits.Defaults(), actor_id=None
        ),
    )
    error = same_refusal(customer, body("us-west"), 403, "account_suspended")
    assert "unpaid" in error["message"]


def test_validation_is_the_creates_400(live: Live) -> None:
    customer = live.account()
    # A body the schema refuses, and a body it accepts that names a plan that does not exist.
    error = same_refusal(customer, body("us-west", name="-bad-"), 400, "validation_error")
    assert {f["name"] for f in error["details"]["fields"]} == {"name"}
    error = same_refusal(customer, body("us-west", plan_id=999_999), 400, "validation_error")
    assert {f["name"] for f in error["details"]["fields"]} == {"plan_id"}
    error = same_refusal(customer, body("us-west", ssh_key_id=999_999), 400, "validation_error")
    assert {f["name"] for f in error["details"]["fields"]} == {"ssh_key_id"}


def test_a_full_location_is_the_creates_503(live: Live) -> None:
    location = one_address_location(live)
    first, second = live.account(), live.account()
    taken = first.create_server(location=location)
    assert create(second, body(location), **DRY).status_code == 503
    before = state(live, second.account_id, location)
    error = same_refusal(second, body(location), 503, "capacity_exhausted")
    assert error["details"]["location"] == location
    assert state(live, second.account_id, location) == before
    first.http.delete(f"/api/v1/servers/{taken['id']}/")


def test_hosts_without_room_are_the_creates_503(live: Live) -> None:
    location = fleet.new_location(live.settings)
    fleet.add_host(live.settings, location, fits=1)
    customer = live.account()
    starter = body(location, plan_id=fleet.STARTER)
    assert create(customer, starter, **DRY).status_code == 200
    taken = customer.create_server(**starter)
    other = live.account()
    same_refusal(other, starter, 503, "capacity_exhausted")
    customer.http.delete(f"/api/v1/servers/{taken['id']}/")


def test_the_openapi_document_describes_the_dry_run(live: Live) -> None:
    document = httpx.get(f"{live.url}/openapi.json").json()
    create_op = document["paths"]["/api/v1/servers/"]["post"]
    (param,) = [p for p in create_op["parameters"] if p["name"] == "dry_run"]
    assert param["schema"]["type"] == "boolean" and "Idempotency-Key" in param["description"]
    assert create_op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ServerDryRun"
    }
    shown = document["components"]["schemas"]["ServerDryRun"]
    assert set(shown["required"]) == {"would_create", "monthly_price", "hourly_price", "location"}
