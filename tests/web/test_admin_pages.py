"""The operators' pages (/admin/) over real HTTP: who may see them, credit and limits, suspend
and unsuspend servers and accounts, hosts' drain, enable and disable, the audit log each of
them writes (with the operator as its actor), the filters, and the CSRF check."""

import re
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from tests.conftest import Customer, Live
from tests.hosts import fleet
from tests.hosts.test_migration import settle, two_hosts
from tests.web.panel import browser_client, form_csrf, signed_in
from vpsorg.accounts.models import Account
from vpsorg.actions.models import Action
from vpsorg.admin.models import AuditEntry
from vpsorg.billing.models import LedgerEntry
from vpsorg.drivers.simulator import inject_fault
from vpsorg.servers.models import Server


def operator(live: Live) -> tuple[httpx.Client, str, int]:
    """A logged-in operator's client, its session's CSRF token, and its account id."""
    http, account_id = signed_in(live, admin=True)
    return http, form_csrf(http.get("/admin/").text), account_id


def audited(live: Live, target_type: str, target_id: int) -> list[tuple[str, int | None, dict[str, Any]]]:
    """The audit entries on one object, oldest first: (action, actor account, details)."""
    q = (
        select(AuditEntry.action, AuditEntry.actor_account_id, AuditEntry.details)
        .where(AuditEntry.target_type == target_type, AuditEntry.target_id == target_id)
        .order_by(AuditEntry.id)
    )
    return [tuple(r) for r in live.db(lambda s: s.execute(q)).all()]


def balance(live: Live, account_id: int) -> Decimal:
    return Decimal(live.db(lambda s: s.scalar(select(Account.balance).where(Account.id == account_id))))


def status(live: Live, server_id: int) -> str:
    return str(live.db(lambda s: s.scalar(select(Server.status).where(Server.id == server_id))))


def actions(live: Live, server_id: int) -> list[Any]:
    q = (
        select(Action.type, Action.status, Action.reason)
        .where(Action.server_id == server_id)
        .order_by(Action.id)
    )
    return list(live.db(lambda s: s.execute(q)).all())


def rows(html: str) -> list[str]:
    """The table rows of a page's body (its head's row left out)."""
    body = html.split("<tbody>", 1)[1] if "<tbody>" in html else ""
    return re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)


def admin_pages(customer: Customer, server_id: int) -> list[str]:
    return [
        "/admin/",
        "/admin/accounts/",
        f"/admin/accounts/{customer.account_id}/",
        "/admin/servers/",
        f"/admin/servers/{server_id}/",
        "/admin/hosts/",
        "/admin/audit/",
    ]


def test_a_customer_gets_403_and_an_anonymous_visitor_the_login_on_every_operators_page(live: Live) -> None:
    target = live.account()
    sid = target.active_server()["id"]
    http, _ = signed_in(live)
    csrf = form_csrf(http.get("/servers/").text)
    anonymous = browser_client(live)
    for path in admin_pages(target, sid):
        refused = http.get(path)
        assert refused.status_code == 403 and "text/html" in refused.headers["content-type"], path
        assert "These pages are for operators only" in refused.text
        away = anonymous.get(path)
        assert away.status_code == 303 and away.headers["location"] == f"/login?next={path}", path
    assert 'href="/admin/"' not in http.get("/servers/").text  # no Operators link in the nav
    before = balance(live, target.account_id)
    posts = {
        f"/admin/accounts/{target.account_id}/credit": {"amount": "50", "reason": "mine now"},
        f"/admin/accounts/{target.account_id}/limits": {"servers": "0"},
        f"/admin/accounts/{target.account_id}/suspend": {"reason": "no"},
        f"/admin/servers/{sid}/suspend": {"reason": "no"},
        "/admin/hosts/1/disable": {},
    }
    for path, form in posts.items():
        assert http.post(path, data=form | {"csrf_token": csrf}).status_code == 403, path
        assert anonymous.post(path, data=form).status_code == 303, path
    assert balance(live, target.account_id) == before and status(live, sid) == "active"
    assert audited(live, "account", target.account_id) == [] and audited(live, "server", sid) == []


def test_the_operators_pages_open_for_an_operator(live: Live) -> None:
    target = live.account()
    sid = target.active_server()["id"]
    http, _, _ = operator(live)
    for path in admin_pages(target, sid):
        page = http.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        assert page.text.count("<h1") == 1 and 'aria-label="Operators"' in page.text
    assert 'href="/admin/"' in http.get("/servers/").text


def test_an_operator_credits_an_account_with_a_reason(live: Live) -> None:
    target = live.account(credit="10")
    http, csrf, me = operator(live)
    page = http.get(f"/admin/accounts/{target.account_id}/")
    assert "$10.00" in page.text and 'id="credit-reason"' in page.text
    done = http.post(
        f"/admin/accounts/{target.account_id}/credit",
        data={"amount": "25.50", "reason": "goodwill for the outage", "csrf_token": csrf},
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/admin/accounts/{target.account_id}/?done=credited"
    assert balance(live, target.account_id) == Decimal("35.50")
    q = select(LedgerEntry).where(LedgerEntry.account_id == target.account_id).order_by(LedgerEntry.id.desc())
    entry = live.db(lambda s: s.scalar(q))
    assert (entry.kind, entry.amount, entry.reason) == ("top_up", Decimal("25.50"), "goodwill for the outage")
    shown = http.get(done.headers["location"]).text
    assert "Credit added" in shown and "goodwill for the outage" in shown and "$35.50" in shown
    debit = http.post(
        f"/admin/accounts/{target.account_id}/credit",
        data={"amount": "-5", "kind": "adjustment", "reason": "typo", "csrf_token": csrf},
    )
    assert debit.status_code == 303 and balance(live, target.account_id) == Decimal("30.50")
    credits = [
        (a, who, d["amount"], d["reason"]) for a, who, d in audited(live, "account", target.account_id)
    ]
    assert credits == [
        ("account.credit", me, "25.50", "goodwill for the outage"),
        ("account.credit", me, "-5.00", "typo"),
    ]


def test_a_refused_credit_is_said_in_words_beside_the_form_and_changes_nothing(live: Live) -> None:
    target = live.account(credit="10")
    http, csrf, me = operator(live)
    path = f"/admin/accounts/{target.account_id}/credit"
    for form, words in (
        ({"amount": "lots", "reason": "why not"}, "Invalid amount: must be a number"),
        (
            {"amount": "1.234", "reason": "why not"},
            "Invalid amount: must be a number with at most two decimals",
        ),
        ({"amount": "5", "reason": "   "}, "Invalid reason: give a reason"),
        ({"amount": "-5", "kind": "refund", "reason": "no"}, "a refund must be positive"),
        ({"amount": "5", "kind": "charge", "reason": "no"}, "Invalid kind"),
    ):
        refused = http.post(path, data=form | {"csrf_token": csrf})
        assert refused.status_code == 400 and "text/html" in refused.headers["content-type"], form
        assert words in refused.text, (form, refused.text[:2000])
        assert 'role="alert"' in refused.text and f'value="{form["amount"]}"' in refused.text
    assert (
        balance(live, target.account_id) == Decimal("10.00")
        and audited(live, "account", target.account_id) == []
    )
    unknown = {"amount": "5", "reason": "x", "csrf_token": csrf}
    assert http.post("/admin/accounts/2147483647/credit", data=unknown).status_code == 404


def test_an_operator_sets_and_clears_an_accounts_limits(live: Live) -> None:
    target = live.account()
    http, csrf, me = operator(live)
    path = f"/admin/accounts/{target.account_id}/limits"
    done = http.post(path, data={"servers": "3", "ssh_keys": "", "csrf_token": csrf})
    assert done.status_code == 303
    limits = select(Account.server_limit, Account.ssh_key_limit).where(Account.id == target.account_id)
    assert tuple(live.db(lambda s: s.execute(limits)).one()) == (3, None)
    page = http.get(done.headers["location"]).text
    assert "Limits saved." in page and "0 of 3" in page and 'name="servers" type="number"' in page
    refused = http.post(path, data={"servers": "many", "ssh_keys": "2", "csrf_token": csrf})
    assert refused.status_code == 400 and "Invalid servers: must be a whole number" in refused.text
    refused = http.post(path, data={"servers": "2000000", "csrf_token": csrf})
    assert refused.status_code == 400 and "must be from 0 to 1000000" in refused.text
    assert tuple(live.db(lambda s: s.execute(limits)).one()) == (3, None)
    assert http.post(path, data={"servers": "", "ssh_keys": "", "csrf_token": csrf}).status_code == 303
    assert tuple(live.db(lambda s: s.execute(limits)).one()) == (None, None)
    assert audited(live, "account", target.account_id) == [
        ("account.limits", me, {"servers": {"old": None, "new": 3}, "ssh_keys": {"old": None, "new": None}}),
        ("account.limits", me, {"servers": {"old": 3, "new": None}, "ssh_keys": {"old": None, "new": None}}),
    ]


def test_an_operator_suspends_from_the_list_and_unsuspends_from_the_servers_page(live: Live) -> None:
    target = live.account()
    sid = target.active_server()["id"]
    http, csrf, me = operator(live)
    listed = http.get("/admin/servers/", params={"account": target.account_id})
    assert f'action="/admin/servers/{sid}/suspend"' in listed.text
    back = f"/admin/servers/?account={target.account_id}"
    done = http.post(
        f"/admin/servers/{sid}/suspend", data={"reason": "abuse report 17", "back": back, "csrf_token": csrf}
    )
    assert done.status_code == 303 and done.headers["location"] == f"{back}&done=suspended"
    assert status(live, sid) == "suspended"
    last = actions(live, sid)[-1]
    assert (last.type, last.reason) == ("suspend", "suspended: abuse report 17")
    shown = http.get(done.headers["location"]).text
    assert "Server suspended" in shown and f'action="/admin/servers/{sid}/unsuspend"' in shown
    settle(target, sid)
    page = http.get(f"/admin/servers/{sid}/").text
    assert "suspended: abuse report 17" in page and "Lift the suspension" in page
    done = http.post(f"/admin/servers/{sid}/unsuspend", data={"reason": "resolved", "csrf_token": csrf})
    assert done.status_code == 303 and done.headers["location"] == f"/admin/servers/{sid}/?done=unsuspended"
    assert status(live, sid) in ("starting", "active")
    assert [(a.type, a.reason) for a in actions(live, sid)][-1] == ("start", "suspension lifted: resolved")
    target.wait_status(sid, "active")
    entries = [(a, who, d["reason"]) for a, who, d in audited(live, "server", sid)]
    assert entries == [("server.suspend", me, "abuse report 17"), ("server.unsuspend", me, "resolved")]


def test_a_refused_suspension_change_is_said_on_the_servers_page(live: Live) -> None:
    target = live.account()
    sid = target.active_server()["id"]
    http, csrf, me = operator(live)
    refused = http.post(f"/admin/servers/{sid}/unsuspend", data={"reason": "x", "csrf_token": csrf})
    assert refused.status_code == 400 and "is active, not suspended" in refused.text
    assert f"<h1>{target.http.get(f'/api/v1/servers/{sid}/').json()['name']}" in refused.text
    refused = http.post(f"/admin/servers/{sid}/suspend", data={"reason": "", "csrf_token": csrf})
    assert refused.status_code == 400 and "Invalid reason" in refused.text
    assert status(live, sid) == "active"
    # Unsuspending needs a balance above zero: the refusal rolls back, the server stays suspended.
    assert (
        http.post(f"/admin/servers/{sid}/suspend", data={"reason": "x", "csrf_token": csrf}).status_code
        == 303
    )
    debit = str(-balance(live, target.account_id))
    data = {"amount": debit, "reason": "to zero", "csrf_token": csrf}
    assert http.post(f"/admin/accounts/{target.account_id}/credit", data=data).status_code == 303
    refused = http.post(f"/admin/servers/{sid}/unsuspend", data={"reason": "x", "csrf_token": csrf})
    assert refused.status_code == 400 and "credit it above zero first" in refused.text
    assert status(live, sid) == "suspended"
    assert [a for a, _, _ in audited(live, "server", sid)] == ["server.suspend"]  # not the refused ones
    away = http.post(
        f"/admin/servers/{sid}/suspend",
        data={"reason": "x", "back": "https://evil.example/", "csrf_token": csrf},
    )
    assert away.headers["location"] == f"/admin/servers/{sid}/?done=suspended"


def test_the_servers_filters_and_the_reason_of_an_error(live: Live) -> None:
    target = live.account()
    loc, a, b = two_hosts(live)
    one = target.active_server(plan_id=fleet.STARTER, location=loc)["id"]
    elsewhere = live.account()
    other = elsewhere.active_server()["id"]
    fleet.set_state(live.settings, b, "enabled")  # the emptier host: the next server goes there
    broken = target.active_server(name="broken", plan_id=fleet.STARTER, location=loc)["id"]
    live.db(lambda s: inject_fault(s, op="reboot", server_id=broken, message="no such image here"))
    assert target.http.post(f"/api/v1/servers/{broken}/reboot/").status_code == 200
    target.wait_status(broken, "error")
    http, _, _ = operator(live)

    def ids(**params: Any) -> list[int]:
        page = http.get("/admin/servers/", params=params)
        assert page.status_code == 200, page.text[:500]
        return [int(x) for x in re.findall(r'href="/admin/servers/(\d+)/"', page.text)]

    assert ids(account=target.account_id) == [one, broken]
    assert ids(host=a) == [one] and ids(host=b) == [broken]
    assert ids(location=loc, status="error") == [broken]
    assert ids(account=target.account_id, status="active") == [one]
    assert ids(account=elsewhere.account_id, status="active", location="us-west") == [other]
    assert ids(account=elsewhere.account_id, location=loc) == []
    row = [r for r in rows(http.get("/admin/servers/", params={"location": loc}).text) if "broken" in r][0]
    assert "no such image here" in row and "status-error" in row and "/suspend" not in row
    for params, words in (
        ({"host": "no-such-host"}, "no host named"),
        ({"location": "nowhere"}, "no location"),
        ({"status": "sleeping"}, "no status"),
        ({"account": "x"}, "must be a whole number"),
    ):
        refused = http.get("/admin/servers/", params=params)
        assert refused.status_code == 400 and words in refused.text, params
    selected = http.get("/admin/servers/", params={"status": "error", "host": a}).text
    assert '<option value="error" selected>' in selected and f'value="{a}"' in selected


def test_an_operator_drains_disables_and_enables_a_host(live: Live) -> None:
    target = live.account()
    loc, a, b = two_hosts(live)
    sid = target.active_server(plan_id=fleet.STARTER, location=loc)["id"]
    fleet.set_state(live.settings, b, "enabled")
    http, csrf, me = operator(live)
    page = http.get("/admin/hosts/", params={"location": loc})
    assert page.status_code == 200 and [a in r for r in rows(page.text)] == [True, False]
    first = rows(page.text)[0]
    assert re.search(r'<label for="h\d+-vcpu">vCPU</label>', first)
    assert re.search(r'<meter id="h\d+-memory" min="0" max="4096"[^>]* value="1024">', first)
    assert "1024 / 4096 MiB" in first and "1 / 256 vCPUs" in first and "25 / 1000 GB" in first
    host_id = fleet.host(live.settings, a).id
    back = f"/admin/hosts/?location={loc}"
    done = http.post(f"/admin/hosts/{host_id}/drain", data={"back": back, "csrf_token": csrf})
    assert done.status_code == 303
    assert done.headers["location"] == f"{back}&done=drained&queued=1&failed=0"
    assert "1 migration queued" in http.get(done.headers["location"]).text
    assert actions(live, sid)[-1][:1] == ("migrate",)
    settle(target, sid)
    assert fleet.server_host(live.settings, sid) == b and fleet.host(live.settings, a).state == "disabled"
    done = http.post(f"/admin/hosts/{host_id}/enable", data={"back": back, "csrf_token": csrf})
    assert (
        done.headers["location"] == f"{back}&done=enabled" and fleet.host(live.settings, a).state == "enabled"
    )
    shown = rows(http.get(done.headers["location"]).text)[0]
    assert f'action="/admin/hosts/{host_id}/enable"' not in shown
    assert f'action="/admin/hosts/{host_id}/disable"' in shown
    done = http.post(f"/admin/hosts/{host_id}/disable", data={"csrf_token": csrf})
    assert done.headers["location"] == "/admin/hosts/?done=disabled"
    assert fleet.host(live.settings, a).state == "disabled"
    assert http.post("/admin/hosts/2147483647/enable", data={"csrf_token": csrf}).status_code == 404
    refused = http.get("/admin/hosts/", params={"location": "nowhere"})
    assert refused.status_code == 400 and "no location" in refused.text
    entries = audited(live, "host", host_id)
    assert [(what, who) for what, who, _ in entries] == [
        ("host.drain", me),
        ("host.enable", me),
        ("host.disable", me),
    ]
    assert entries[0][2]["queued"] == [sid]


def test_the_overview_lists_recent_failed_actions_newest_first(live: Live) -> None:
    target = live.account()
    sids = [target.active_server(name=f"fails-{n}", plan_id=fleet.STARTER)["id"] for n in (1, 2)]
    for n, sid in enumerate(sids, 1):
        live.db(
            lambda s, sid=sid, n=n: inject_fault(s, op="reboot", server_id=sid, message=f"disk {n} on fire")
        )
        action = target.http.post(f"/api/v1/servers/{sid}/reboot/").json()["action"]
        assert target.wait_action(action["id"])["status"] == "error"
    assert target.http.delete(f"/api/v1/servers/{sids[0]}/").status_code == 204
    http, _, _ = operator(live)
    mine = [r for r in rows(http.get("/admin/").text) if f"/admin/accounts/{target.account_id}/" in r]
    assert len(mine) == 2 and "disk 2 on fire" in mine[0] and "disk 1 on fire" in mine[1]
    assert all("reboot" in r for r in mine)
    assert f'href="/admin/servers/{sids[1]}/"' in mine[0]
    assert 'fails-1 <span class="muted">(deleted)</span>' in mine[1] and "/admin/servers/" not in mine[1]


def test_an_operators_form_without_the_csrf_token_is_refused(live: Live) -> None:
    target = live.account(credit="100")
    sid = target.active_server()["id"]
    http, csrf, me = operator(live)
    for path, form in (
        (f"/admin/accounts/{target.account_id}/credit", {"amount": "50", "reason": "forged"}),
        (f"/admin/servers/{sid}/suspend", {"reason": "forged"}),
        ("/admin/hosts/1/disable", {}),
    ):
        assert http.post(path, data=form).status_code == 403, path
        assert http.post(path, data=form | {"csrf_token": "not-" + csrf}).status_code == 403, path
    assert balance(live, target.account_id) == Decimal("100.00") and status(live, sid) == "active"


def test_an_operator_searches_accounts_by_email(live: Live) -> None:
    target = live.account()
    other = live.account()
    email = target.http.get("/api/v1/account/").json()["email"]
    http, _, _ = operator(live)
    found = http.get("/admin/accounts/", params={"email": email[2:10].upper()})
    assert found.status_code == 200 and "1 account" in found.text
    assert f'href="/admin/accounts/{target.account_id}/"' in found.text
    assert f'href="/admin/accounts/{other.account_id}/"' not in found.text
    assert f'value="{email[2:10].upper()}"' in found.text
    none = http.get("/admin/accounts/", params={"email": "%"})  # a wildcard is a character here
    assert "No account matches." in none.text


def test_an_operator_suspends_and_unsuspends_an_account(live: Live) -> None:
    target = live.account()
    sid = target.active_server()["id"]
    http, csrf, me = operator(live)
    path = f"/admin/accounts/{target.account_id}"
    assert f'action="{path}/suspend"' in http.get(f"{path}/").text
    refused = http.post(f"{path}/suspend", data={"reason": " ", "csrf_token": csrf})
    assert refused.status_code == 400 and "Invalid reason" in refused.text
    done = http.post(f"{path}/suspend", data={"reason": "chargeback", "csrf_token": csrf})
    assert done.status_code == 303 and done.headers["location"] == f"{path}/?done=account-suspended"
    assert status(live, sid) == "suspended" and actions(live, sid)[-1].type == "suspend"
    page = http.get(done.headers["location"]).text
    assert "Account suspended" in page and "chargeback" in page and f'action="{path}/unsuspend"' in page
    create = target.http.post(
        "/api/v1/servers/", json={"name": "x", "plan_id": 1, "os_id": 5, "location": "us-west"}
    )
    assert create.status_code == 403
    settle(target, sid)
    done = http.post(f"{path}/unsuspend", data={"reason": "paid", "csrf_token": csrf})
    assert done.status_code == 303 and done.headers["location"] == f"{path}/?done=account-unsuspended"
    target.wait_status(sid, "active")
    entries = [(a, who, d["reason"]) for a, who, d in audited(live, "account", target.account_id)]
    assert entries == [("account.suspend", me, "chargeback"), ("account.unsuspend", me, "paid")]


def test_the_audit_log_shows_who_did_what_to_what_and_filters_by_action(live: Live) -> None:
    target = live.account(credit="10")
    sid = target.active_server(plan_id=fleet.STARTER)["id"]
    http, csrf, me = operator(live)
    credit = {"amount": "7.00", "reason": "audit me", "csrf_token": csrf}
    assert http.post(f"/admin/accounts/{target.account_id}/credit", data=credit).status_code == 303
    suspend = {"reason": "audit me too", "csrf_token": csrf}
    assert http.post(f"/admin/servers/{sid}/suspend", data=suspend).status_code == 303
    mine = http.get("/admin/audit/", params={"target_type": "account", "target_id": target.account_id})
    assert mine.status_code == 200 and "1 entry on account" in mine.text
    [row] = rows(mine.text)
    assert "account.credit" in row and "audit me" in row and f"#{me}" in row
    assert f'href="/admin/accounts/{target.account_id}/"' in row and "7.00" in row
    latest = http.get("/admin/audit/", params={"action": "server.suspend"})
    assert '<option value="server.suspend" selected>' in latest.text
    listed = rows(latest.text)
    assert all("server.suspend" in r for r in listed)
    assert f'href="/admin/servers/{sid}/"' in listed[0] and "audit me too" in listed[0]
    for params, words in (
        ({"action": "server.explode"}, "no action"),
        ({"target_id": "5"}, "give the target"),
        ({"target_type": "planet"}, "no target type"),
    ):
        refused = http.get("/admin/audit/", params=params)
        assert refused.status_code == 400 and words in refused.text, params
