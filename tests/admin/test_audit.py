"""The audit log through the admin API: each operator action writes exactly one entry with
its actor, target and details, in the change's transaction; a refused one writes none; the
list is paged and filtered."""

import re

from tests.admin.operators import Operator, audit, on, operator
from tests.conftest import Live
from tests.hosts import fleet
from tests.hosts.test_migration import settle, two_hosts

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
NOWHERE = 2147483647


def only(entries: list[dict], op: Operator, action: str, target_type: str, target_id: int) -> dict:
    """The one entry, checked for its actor, action and target; its details."""
    assert len(entries) == 1, entries
    entry = entries[0]
    assert (entry["actor_id"], entry["actor_email"]) == (op.account_id, op.email)
    assert (entry["action"], entry["target_type"], entry["target_id"]) == (action, target_type, target_id)
    assert TIMESTAMP.match(entry["created_at"])
    return dict(entry["details"])


def test_credit_and_limits_are_recorded_once_and_refusals_not_at_all(live: Live) -> None:
    op = operator(live)
    customer = live.account(credit="10.00")
    account = customer.account_id
    url = f"/api/v1/admin/accounts/{account}"
    for bad in ({"amount": "0", "reason": "x"}, {"amount": "-1.00", "reason": "x", "kind": "top_up"}):
        assert op.http.post(f"{url}/credit/", json=bad).status_code == 400
    assert op.http.patch(f"{url}/limits/", json={"servers": -1}).status_code == 400
    assert on(op.http, "account", account) == []

    key = {"Idempotency-Key": "audit-credit-1"}
    body = {"amount": "2.50", "reason": "promo"}
    first = op.http.post(f"{url}/credit/", json=body, headers=key)
    assert first.status_code == 201, first.text
    replay = op.http.post(f"{url}/credit/", json=body, headers=key)  # the stored answer, no change
    assert replay.headers.get("Idempotency-Replayed") == "true" and replay.json() == first.json()
    details = only(on(op.http, "account", account), op, "account.credit", "account", account)
    assert details == {
        "amount": "2.50",
        "kind": "top_up",
        "reason": "promo",
        "balance_after": "12.50",
        "currency": "USD",
        "ledger_entry_id": first.json()["id"],
    }

    assert op.http.patch(f"{url}/limits/", json={"servers": 3}).status_code == 200
    assert op.http.patch(f"{url}/limits/", json={"servers": None, "ssh_keys": 7}).status_code == 200
    entries = audit(op.http, action="account.limits", target_type="account", target_id=account)
    assert [e["details"] for e in entries] == [
        {"servers": {"old": 3, "new": None}, "ssh_keys": {"old": None, "new": 7}},
        {"servers": {"old": None, "new": 3}},
    ]
    assert len(on(op.http, "account", account)) == 3

    assert op.http.post(f"/api/v1/admin/accounts/{NOWHERE}/credit/", json=body).status_code == 404
    assert op.http.patch(f"/api/v1/admin/accounts/{NOWHERE}/limits/", json={"servers": 1}).status_code == 404
    assert on(op.http, "account", NOWHERE) == []
    # Everything this operator did, and nothing of anyone else's.
    mine = audit(op.http, actor=op.account_id)
    assert [e["action"] for e in mine] == ["account.limits", "account.limits", "account.credit"]


def test_server_suspensions_and_migrations_are_recorded(live: Live) -> None:
    op = operator(live)
    customer = live.account()
    loc, a, b = two_hosts(live)
    sid = customer.active_server(plan_id=fleet.STARTER, location=loc)["id"]
    fleet.set_state(live.settings, b, "enabled")
    assert op.http.post(f"/api/v1/admin/servers/{sid}/unsuspend/").status_code == 400  # not suspended
    assert op.http.post(f"/api/v1/admin/servers/{NOWHERE}/suspend/").status_code == 404
    assert op.http.post(f"/api/v1/admin/servers/{sid}/migrate/", json={"host": a}).status_code == 400
    assert on(op.http, "server", sid) == [] and on(op.http, "server", NOWHERE) == []

    r = op.http.post(f"/api/v1/admin/servers/{sid}/migrate/", json={"host": b})
    assert r.status_code == 200, r.text
    details = only(on(op.http, "server", sid), op, "server.migrate", "server", sid)
    assert details == {
        "account_id": customer.account_id,
        "action_id": r.json()["action"]["id"],
        "from_host_id": fleet.host(live.settings, a).id,
        "to_host": b,
        "to_host_id": fleet.host(live.settings, b).id,
    }
    settle(customer, sid)

    suspended = op.http.post(f"/api/v1/admin/servers/{sid}/suspend/", json={"reason": "abuse 7"})
    assert suspended.status_code == 200, suspended.text
    again = op.http.post(f"/api/v1/admin/servers/{sid}/suspend/", json={"reason": "abuse 7, again"})
    assert again.status_code == 200 and again.json()["action"] is None
    settle(customer, sid)
    lifted = op.http.post(f"/api/v1/admin/servers/{sid}/unsuspend/", json={"reason": "resolved"})
    assert lifted.status_code == 200, lifted.text
    entries = on(op.http, "server", sid)
    assert [e["action"] for e in entries] == [
        "server.unsuspend",
        "server.suspend",
        "server.suspend",
        "server.migrate",
    ]
    assert [e["details"] for e in entries[:3]] == [
        {"account_id": customer.account_id, "action_id": lifted.json()["action"]["id"], "reason": "resolved"},
        {"account_id": customer.account_id, "action_id": None, "reason": "abuse 7, again"},
        {
            "account_id": customer.account_id,
            "action_id": suspended.json()["action"]["id"],
            "reason": "abuse 7",
        },
    ]
    settle(customer, sid)


def test_host_state_changes_and_drains_are_recorded(live: Live) -> None:
    op = operator(live)
    customer = live.account()
    loc, a, b = two_hosts(live)
    sid = customer.active_server(plan_id=fleet.STARTER, location=loc)["id"]
    a_id, b_id = fleet.host(live.settings, a).id, fleet.host(live.settings, b).id
    assert op.http.post(f"/api/v1/admin/hosts/{b_id}/enable/").status_code == 200
    assert op.http.post(f"/api/v1/admin/hosts/{NOWHERE}/disable/").status_code == 404
    assert op.http.post(f"/api/v1/admin/hosts/{NOWHERE}/drain/").status_code == 404
    assert on(op.http, "host", NOWHERE) == []
    details = only(on(op.http, "host", b_id), op, "host.enable", "host", b_id)
    assert details == {"name": b, "old": "disabled", "new": "enabled"}

    r = op.http.post(f"/api/v1/admin/hosts/{a_id}/drain/")
    assert r.status_code == 200, r.text
    details = only(on(op.http, "host", a_id), op, "host.drain", "host", a_id)
    assert details == {"name": a, "queued": [sid], "failed": []}
    settle(customer, sid)
    assert fleet.server_host(live.settings, sid) == b
    assert op.http.post(f"/api/v1/admin/hosts/{b_id}/disable/").status_code == 200
    assert [e["action"] for e in on(op.http, "host", b_id)] == ["host.disable", "host.enable"]
    assert on(op.http, "host", b_id)[0]["details"] == {"name": b, "old": "enabled", "new": "disabled"}


def test_the_audit_list_is_paged_filtered_and_for_operators_only(live: Live) -> None:
    op = operator(live)
    customer = live.account(credit="1.00")
    for amount in ("1.00", "2.00", "3.00"):
        r = op.http.post(
            f"/api/v1/admin/accounts/{customer.account_id}/credit/", json={"amount": amount, "reason": "x"}
        )
        assert r.status_code == 201, r.text
    params = {"target_type": "account", "target_id": customer.account_id, "page_size": 2}
    page = op.http.get("/api/v1/admin/audit/", params=params).json()
    assert page["count"] == 3 and page["previous"] is None and page["next"]
    assert [e["details"]["amount"] for e in page["results"]] == ["3.00", "2.00"]  # newest first
    rest = op.http.get(page["next"]).json()
    assert [e["details"]["amount"] for e in rest["results"]] == ["1.00"] and rest["next"] is None
    assert audit(op.http, action="account.limits", target_id=customer.account_id) == []
    assert len(audit(op.http, action="account.credit", actor=op.account_id)) == 3
    # target_id alone matches any kind of object with that id
    assert {e["target_type"] for e in audit(op.http, target_id=customer.account_id, actor=op.account_id)} == {
        "account"
    }
    for bad in ({"action": "account.delete"}, {"target_type": "planet"}, {"target_id": 0}, {"actor": "me"}):
        r = op.http.get("/api/v1/admin/audit/", params=bad)
        assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error", bad
    r = customer.http.get("/api/v1/admin/audit/")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
