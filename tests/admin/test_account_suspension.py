"""An operator suspends a whole account: its servers are suspended, its creates refused with
403 account_suspended; unsuspending restores them, except an operator's suspension of a
single server, and except while the balance is at or below zero (billing's rule)."""

from typing import Any

from tests.admin.operators import on, operator
from tests.conftest import Customer, Live
from tests.hosts.test_migration import settle

NOWHERE = 2147483647
STARTER = {"plan_id": 3, "os_id": 5, "location": "us-west"}


def statuses(customer: Customer) -> dict[int, str]:
    return {s["id"]: s["status"] for s in customer.http.get("/api/v1/servers/").json()["results"]}


def settled(customer: Customer) -> dict[int, str]:
    """The statuses once every server's actions are over."""
    for sid in statuses(customer):
        settle(customer, sid)
    return statuses(customer)


def create(customer: Customer, name: str) -> Any:
    return customer.http.post("/api/v1/servers/", json=STARTER | {"name": name})


def test_suspending_an_account_suspends_its_servers_and_refuses_creates(live: Live) -> None:
    op = operator(live)
    customer = live.account()
    url = f"/api/v1/admin/accounts/{customer.account_id}"
    running = customer.active_server(**STARTER, name="running")["id"]
    stopped = customer.active_server(**STARTER, name="stopped")["id"]
    singled = customer.active_server(**STARTER, name="singled")["id"]
    assert customer.http.post(f"/api/v1/servers/{stopped}/stop/").status_code == 200
    assert (
        op.http.post(f"/api/v1/admin/servers/{singled}/suspend/", json={"reason": "abuse"}).status_code == 200
    )
    assert settled(customer) == {running: "active", stopped: "stopped", singled: "suspended"}

    r = op.http.post(f"{url}/suspend/", json={"reason": "chargeback under review"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["account"]["id"] == customer.account_id and body["account"]["suspended_at"]
    assert body["account"]["suspended_reason"] == "chargeback under review"
    assert sorted((a["server_id"], a["type"]) for a in body["actions"]) == [
        (running, "suspend"),
        (stopped, "suspend"),
    ]
    assert body["actions"][0]["reason"] == "account suspended: chargeback under review"
    assert settled(customer) == {running: "suspended", stopped: "suspended", singled: "suspended"}
    mine = customer.http.get("/api/v1/account/").json()
    assert (mine["suspended_at"], mine["suspended_reason"]) == (
        body["account"]["suspended_at"],
        "chargeback under review",
    )

    refused = create(customer, "more")
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["code"] == "account_suspended" and "chargeback under review" in error["message"]
    assert error["details"] == {"suspended_at": mine["suspended_at"], "reason": "chargeback under review"}
    assert customer.http.post(f"/api/v1/servers/{stopped}/start/").status_code == 400
    r = op.http.post(f"/api/v1/admin/servers/{running}/unsuspend/")
    assert r.status_code == 400 and "unsuspend the account" in r.json()["error"]["message"]
    assert on(op.http, "server", running) == []  # refused: not recorded

    # Again: the same state, nothing queued; the first reason and time stay.
    again = op.http.post(f"{url}/suspend/", json={"reason": "second thoughts"})
    assert again.status_code == 200 and again.json()["actions"] == []
    assert again.json()["account"]["suspended_at"] == body["account"]["suspended_at"]
    assert again.json()["account"]["suspended_reason"] == "chargeback under review"
    listed = op.http.get("/api/v1/admin/accounts/", params={"suspended": "true", "page_size": 200}).json()
    assert customer.account_id in [a["id"] for a in listed["results"]]

    r = op.http.post(f"{url}/unsuspend/", json={"reason": "cleared"})
    assert r.status_code == 200, r.text
    assert r.json()["account"]["suspended_at"] is None and r.json()["account"]["suspended_reason"] is None
    assert sorted((a["server_id"], a["type"]) for a in r.json()["actions"]) == [
        (running, "start"),
        (stopped, "stop"),
    ]
    # The operator's suspension of one server outlives the account's.
    assert settled(customer) == {running: "active", stopped: "stopped", singled: "suspended"}
    assert create(customer, "more").status_code == 201
    mine = customer.http.get("/api/v1/account/").json()
    assert (mine["suspended_at"], mine["suspended_reason"]) == (None, None)

    entries = on(op.http, "account", customer.account_id)
    assert [e["action"] for e in entries] == ["account.unsuspend", "account.suspend", "account.suspend"]
    assert [e["details"] for e in entries] == [
        {"reason": "cleared", "was_suspended": True, "servers_unsuspended": 2, "balance": mine["balance"]},
        {"reason": "second thoughts", "already_suspended": True, "servers_suspended": 0},
        {"reason": "chargeback under review", "already_suspended": False, "servers_suspended": 2},
    ]
    assert all(e["actor_id"] == op.account_id for e in entries)
    settled(customer)


def test_unknown_accounts_and_bad_bodies_are_refused_and_not_recorded(live: Live) -> None:
    op = operator(live)
    customer = live.account()
    for verb in ("suspend", "unsuspend"):
        r = op.http.post(f"/api/v1/admin/accounts/{NOWHERE}/{verb}/", json={"reason": "x"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = customer.http.post(f"/api/v1/admin/accounts/{customer.account_id}/{verb}/", json={"reason": "x"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    for bad in (None, {}, {"reason": ""}, {"reason": "x" * 501}, {"reason": "x", "why": "y"}):
        r = op.http.post(f"/api/v1/admin/accounts/{customer.account_id}/suspend/", json=bad)
        assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error", bad
    assert on(op.http, "account", NOWHERE) == [] and on(op.http, "account", customer.account_id) == []
    # Unsuspending an account that is not suspended changes nothing, and says so.
    r = op.http.post(f"/api/v1/admin/accounts/{customer.account_id}/unsuspend/")
    assert r.status_code == 200 and r.json()["actions"] == [] and r.json()["account"]["suspended_at"] is None
    assert [e["details"]["was_suspended"] for e in on(op.http, "account", customer.account_id)] == [False]


def test_billing_keeps_its_suspensions_after_an_operator_unsuspends_while_the_balance_is_zero(
    live: Live,
) -> None:
    op = operator(live)
    customer = live.account(credit="6.00")  # one month of one Starter server
    url = f"/api/v1/admin/accounts/{customer.account_id}"
    sid = customer.active_server(**STARTER)["id"]
    balance = customer.http.get("/api/v1/account/").json()["balance"]
    r = op.http.post(f"{url}/credit/", json={"amount": f"-{balance}", "reason": "chargeback"})
    assert r.status_code == 201 and r.json()["balance_after"] == "0.00", r.text
    assert settled(customer) == {sid: "suspended"}  # by billing

    assert op.http.post(f"{url}/suspend/", json={"reason": "fraud check"}).json()["actions"] == []
    # A top-up while the account is suspended lifts nothing: the account's suspension holds.
    r = op.http.post(f"{url}/credit/", json={"amount": "1.00", "reason": "partial payment"})
    assert r.status_code == 201, r.text
    assert settled(customer) == {sid: "suspended"}
    r = op.http.post(f"{url}/credit/", json={"amount": "-1.00", "reason": "payment reversed"})
    assert r.status_code == 201 and r.json()["balance_after"] == "0.00", r.text

    r = op.http.post(f"{url}/unsuspend/", json={"reason": "fraud check passed"})
    assert r.status_code == 200 and r.json()["actions"] == [], r.text
    assert r.json()["account"]["suspended_at"] is None
    assert settled(customer) == {sid: "suspended"}  # the balance is 0.00: billing's again
    entry = on(op.http, "account", customer.account_id)[0]
    assert entry["details"]["servers_unsuspended"] == 0 and entry["details"]["balance"] == "0.00"
    r = op.http.post(f"/api/v1/admin/servers/{sid}/unsuspend/")
    assert r.status_code == 400 and "balance" in r.json()["error"]["message"]
    # ... and billing lifts it with the next credit that brings the balance above zero.
    assert op.http.post(f"{url}/credit/", json={"amount": "10.00", "reason": "paid"}).status_code == 201
    assert settled(customer) == {sid: "active"}
