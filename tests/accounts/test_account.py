"""The account endpoint and the credit check on create."""

import re

import httpx
import pytest

from tests.conftest import Customer, Live

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.mark.parametrize(
    ("credit", "shown"), [("1000", "1000.00"), ("12.5", "12.50"), ("0", "0.00"), ("0.07", "0.07")]
)
def test_account_shows_email_and_credit(live: Live, credit: str, shown: str) -> None:
    customer = live.account(credit=credit)
    r = customer.http.get("/api/v1/account/")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == customer.account_id
    assert re.fullmatch(r"t-[0-9a-f]{12}@example\.com", body["email"])
    assert body["balance"] == body["credit"] == body["available_credit"] == shown
    assert isinstance(body["balance"], str)
    assert body["monthly_commitment"] == "0.00" and body["servers"] == 0
    assert body["currency"] == "USD"
    assert TIMESTAMP.match(body["created_at"])
    assert set(body) == {
        "id",
        "email",
        "balance",
        "credit",
        "available_credit",
        "monthly_commitment",
        "servers",
        "currency",
        "created_at",
        "limits",
        "suspended_at",
        "suspended_reason",
    }
    assert body["suspended_at"] is None and body["suspended_reason"] is None


def test_each_token_sees_its_own_account(live: Live) -> None:
    a, b = live.account(credit="5"), live.account(credit="7")
    assert a.http.get("/api/v1/account/").json()["credit"] == "5.00"
    assert b.http.get("/api/v1/account/").json()["credit"] == "7.00"
    assert a.http.get("/api/v1/account/").json()["email"] != b.http.get("/api/v1/account/").json()["email"]


def _create(customer: Customer, plan_id: int, location: str = "us-west") -> httpx.Response:
    return customer.http.post(
        "/api/v1/servers/", json={"name": "web-1", "plan_id": plan_id, "os_id": 5, "location": location}
    )


@pytest.mark.parametrize(
    ("credit", "plan_id", "price"), [("23.99", 1, "24.00"), ("0", 1, "24.00"), ("47.99", 2, "48.00")]
)
def test_create_with_too_little_credit_is_402(live: Live, credit: str, plan_id: int, price: str) -> None:
    customer = live.account(credit=credit)
    r = _create(customer, plan_id)
    assert r.status_code == 402, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "insufficient_credit"
    assert price in body["error"]["message"]
    assert body["error"]["details"] == {
        "required": price,
        "available": f"{float(credit):.2f}",
        "balance": f"{float(credit):.2f}",
        "currency": "USD",
    }
    listed = customer.http.get("/api/v1/servers/").json()
    assert listed["count"] == 0 and listed["results"] == []
    assert customer.http.get("/api/v1/account/").json()["credit"] == f"{float(credit):.2f}"


def test_credit_check_comes_after_validation(live: Live) -> None:
    """A broken order is 400 whatever the credit; only a valid one is judged against it."""
    customer = live.account(credit="0")
    r = customer.http.post(
        "/api/v1/servers/", json={"name": "web-1", "plan_id": 999, "os_id": 5, "location": "us-west"}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error"
    r = customer.http.post(
        "/api/v1/servers/", json={"name": "_", "plan_id": 1, "os_id": 5, "location": "us-west"}
    )
    assert r.status_code == 400


def test_credit_equal_to_the_price_is_enough(live: Live) -> None:
    customer = live.account(credit="24.00")
    r = _create(customer, 1, location="us-east")
    assert r.status_code == 201, r.text
    assert customer.http.get("/api/v1/servers/").json()["count"] == 1
    # The price is the ordered plan's: 6.00 buys a Starter VPS (plan 3) but not a Standard one.
    poorer = live.account(credit="6.00")
    assert _create(poorer, 1).status_code == 402
    assert _create(poorer, 3, location="us-east").status_code == 201


def test_available_credit_counts_one_month_of_every_server(live: Live) -> None:
    """Available = balance - one month of each server (backups: +20%); a new server's month
    must fit in it. Deleting a server frees its month."""
    customer = live.account(credit="60.00")
    first = customer.create_server(plan_id=1, backups_enabled=True)  # 24.00 + 4.80
    body = customer.http.get("/api/v1/account/").json()
    assert (body["balance"], body["monthly_commitment"], body["available_credit"]) == (
        "60.00",
        "28.80",
        "31.20",
    )
    second = customer.create_server(plan_id=1, location="us-east")  # 24.00 of 31.20
    r = _create(customer, 3)  # 7.20 left: a 6.00 server fits
    assert r.status_code == 201, r.text
    r = _create(customer, 3, location="us-east")  # 1.20 left
    assert r.status_code == 402
    assert r.json()["error"]["details"] == {
        "required": "6.00",
        "available": "1.20",
        "balance": "60.00",
        "currency": "USD",
    }
    assert customer.http.delete(f"/api/v1/servers/{second['id']}/").status_code == 204
    assert customer.http.get("/api/v1/account/").json()["available_credit"] == "25.20"
    assert _create(customer, 3, location="us-east").status_code == 201
    assert customer.http.get(f"/api/v1/servers/{first['id']}/").status_code == 200
