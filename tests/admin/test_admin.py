"""The operators' API: accounts (searched), credit, ledger, suspending and unsuspending servers."""

import time
import uuid
from decimal import Decimal
from typing import Any

import httpx

from tests.conftest import Customer, Live, new_public_key
from vpsorg.accounts import service as accounts


def _admin(live: Live) -> httpx.Client:
    operator = live.account()
    return live.client(live.token(operator.account_id, "admin"))


def _wait(customer: Customer, server_id: int, status: str) -> dict[str, Any]:
    server = customer.wait_status(server_id, status)
    deadline = time.monotonic() + 15
    while customer.http.get(f"/api/v1/servers/{server_id}/actions/").json()["results"][-1]["status"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline, "actions did not finish"
        time.sleep(0.05)
    return server


def test_accounts_are_listed_and_credited(live: Live) -> None:
    admin = _admin(live)
    customer = live.account(credit="10.00")
    r = admin.get(f"/api/v1/admin/accounts/{customer.account_id}/")
    assert r.status_code == 200, r.text
    assert r.json()["balance"] == "10.00" and r.json()["available_credit"] == "10.00"
    page = admin.get("/api/v1/admin/accounts/", params={"page_size": 1}).json()
    assert page["count"] >= 2 and len(page["results"]) == 1 and page["next"]
    r = admin.post(
        f"/api/v1/admin/accounts/{customer.account_id}/credit/", json={"amount": "2.50", "reason": "promo"}
    )
    assert r.status_code == 201, r.text
    entry = r.json()
    assert (entry["kind"], entry["amount"], entry["balance_after"], entry["currency"]) == (
        "top_up",
        "2.50",
        "12.50",
        "USD",
    )
    r = admin.post(
        f"/api/v1/admin/accounts/{customer.account_id}/credit/",
        json={"amount": "0.50", "reason": "goodwill", "kind": "refund"},
    )
    assert r.json()["kind"] == "refund" and r.json()["balance_after"] == "13.00"
    assert customer.http.get("/api/v1/account/").json()["balance"] == "13.00"
    mine = customer.http.get("/api/v1/account/ledger/").json()
    theirs = admin.get(f"/api/v1/admin/accounts/{customer.account_id}/ledger/").json()
    assert mine == theirs | {"next": mine["next"], "previous": mine["previous"]}
    assert [e["amount"] for e in mine["results"]] == ["0.50", "2.50", "10.00"]
    for bad in (
        {"amount": "1.234", "reason": "x"},
        {"amount": 5, "reason": "x"},
        {"amount": "abc", "reason": "x"},
        {"amount": "0", "reason": "x"},
        {"amount": "-1.00", "reason": "x", "kind": "top_up"},
        {"amount": "1.00", "reason": "x", "kind": "charge"},
        {"amount": "1.00", "reason": "   "},
        {"amount": "1.00"},
    ):
        r = admin.post(f"/api/v1/admin/accounts/{customer.account_id}/credit/", json=bad)
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]["code"] == "validation_error"
    assert admin.get("/api/v1/admin/accounts/2147483647/").status_code == 404
    r = admin.post("/api/v1/admin/accounts/2147483647/credit/", json={"amount": "1.00", "reason": "x"})
    assert r.status_code == 404
    assert customer.http.get("/api/v1/account/").json()["balance"] == "13.00"


def test_an_operators_suspension_outlives_a_top_up(live: Live) -> None:
    admin = _admin(live)
    customer = live.account()
    server = customer.active_server()
    sid = server["id"]
    r = admin.post(f"/api/v1/admin/servers/{sid}/suspend/", json={"reason": "abuse report 42"})
    assert r.status_code == 200, r.text
    assert r.json()["server"]["status"] == "suspended" and r.json()["action"]["type"] == "suspend"
    _wait(customer, sid, "suspended")
    actions = customer.http.get(f"/api/v1/servers/{sid}/actions/").json()["results"]
    assert actions[-1]["type"] == "suspend" and actions[-1]["status"] == "success"
    assert actions[-1]["reason"] == "suspended: abuse report 42"
    assert customer.http.post(f"/api/v1/servers/{sid}/start/").status_code == 400
    # Suspending again is no error and queues nothing.
    again = admin.post(f"/api/v1/admin/servers/{sid}/suspend/")
    assert again.status_code == 200 and again.json()["action"] is None
    # A top-up lifts billing's suspensions only.
    admin.post(f"/api/v1/admin/accounts/{customer.account_id}/credit/", json={"amount": "5", "reason": "x"})
    time.sleep(0.3)
    assert customer.http.get(f"/api/v1/servers/{sid}/").json()["status"] == "suspended"
    r = admin.post(f"/api/v1/admin/servers/{sid}/unsuspend/")
    assert r.status_code == 200, r.text
    assert r.json()["server"]["status"] == "starting" and r.json()["action"]["type"] == "start"
    _wait(customer, sid, "active")
    r = admin.post(f"/api/v1/admin/servers/{sid}/unsuspend/")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_state"
    assert admin.post("/api/v1/admin/servers/2147483647/suspend/").status_code == 404


def test_a_debit_to_zero_suspends_and_unsuspending_needs_credit(live: Live) -> None:
    admin = _admin(live)
    customer = live.account(credit="60.00")
    running = customer.active_server(plan_id=3)
    stopped = customer.active_server(plan_id=3, name="web-2")
    assert customer.http.post(f"/api/v1/servers/{stopped['id']}/stop/").status_code == 200
    _wait(customer, stopped["id"], "stopped")
    balance = customer.http.get("/api/v1/account/").json()["balance"]
    r = admin.post(
        f"/api/v1/admin/accounts/{customer.account_id}/credit/",
        json={"amount": f"-{balance}", "reason": "chargeback"},
    )
    assert r.status_code == 201 and r.json()["balance_after"] == "0.00", r.text
    for s in (running, stopped):
        _wait(customer, s["id"], "suspended")
    r = admin.post(f"/api/v1/admin/servers/{running['id']}/unsuspend/")
    assert r.status_code == 400 and "balance" in r.json()["error"]["message"]
    r = customer.http.post(
        "/api/v1/servers/", json={"name": "more", "plan_id": 3, "os_id": 5, "location": "us-west"}
    )
    assert r.status_code == 402
    admin.post(
        f"/api/v1/admin/accounts/{customer.account_id}/credit/", json={"amount": "0.01", "reason": "x"}
    )
    _wait(customer, running["id"], "active")
    _wait(customer, stopped["id"], "stopped")


def test_accounts_are_searched_by_email_with_their_servers_balance_and_limits(live: Live) -> None:
    admin = _admin(live)
    tag = uuid.uuid4().hex[:10]
    ids = {}
    for email in (f"Under_{tag}@Example.com", f"underx{tag}@example.com"):
        ids[email] = live.db(
            lambda s, email=email: accounts.create_account(s, email=email, credit=Decimal("30.00"))
        ).id
    exact, other = ids.values()
    customer = Customer(live, exact, live.token(exact))
    customer.create_server(plan_id=3)
    key = customer.http.post("/api/v1/ssh-keys/", json={"name": "k", "public_key": new_public_key()})
    assert key.status_code == 201, key.text
    assert admin.patch(f"/api/v1/admin/accounts/{exact}/limits/", json={"servers": 4}).status_code == 200

    def search(text: str, **params: Any) -> list[dict[str, Any]]:
        r = admin.get("/api/v1/admin/accounts/", params={"email": text, "page_size": 200} | params)
        assert r.status_code == 200, r.text
        return list(r.json()["results"])

    # A substring in any case; `_` and `%` are themselves, not wildcards.
    assert [a["id"] for a in search(f"UNDER_{tag.upper()}")] == [exact]
    assert [a["id"] for a in search(tag)] == [exact, other]
    assert search(f"under%{tag}") == []
    assert search(tag, suspended="true") == [] and len(search(tag, suspended="false")) == 2
    found = search(f"under_{tag}")[0]
    assert found == admin.get(f"/api/v1/admin/accounts/{exact}/").json()
    assert (found["servers"], found["balance"], found["monthly_commitment"]) == (1, "30.00", "6.00")
    assert found["available_credit"] == "24.00" and found["suspended_at"] is None
    assert found["limits"] == {"servers": {"limit": 4, "used": 1}, "ssh_keys": {"limit": 100, "used": 1}}
    r = admin.get("/api/v1/admin/accounts/", params={"email": ""})
    assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error"
