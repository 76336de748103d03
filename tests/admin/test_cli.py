"""The operator CLI's changes are audited with no actor (`cli`); `vpsorg accounts suspend` and
`unsuspend`; `vpsorg audit list`. In this process through Typer's runner
(tests/operator_cli.py), on the shared server's database."""

import subprocess
from decimal import Decimal
from typing import Any
from unittest import mock

from sqlalchemy import select

from tests.admin.operators import on, operator
from tests.conftest import Live, vpsorg_env
from tests.hosts import fleet
from tests.hosts.test_cli import failed, table
from tests.hosts.test_migration import settle
from tests.operator_cli import vpsorg_in_process
from vpsorg.accounts.models import Account
from vpsorg.admin import audit
from vpsorg.billing.models import LedgerEntry

NOWHERE = "2147483647"
STARTER = {"plan_id": 3, "os_id": 5, "location": "us-west"}


def vpsorg(live: Live, *args: str) -> subprocess.CompletedProcess[str]:
    return vpsorg_in_process(list(args), vpsorg_env(live.settings))


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def by_cli(entries: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(action, details) of each entry, checked to be the CLI's (no actor)."""
    assert all(e["actor_id"] is None and e["actor_email"] is None for e in entries), entries
    return [(e["action"], e["details"]) for e in entries]


def test_account_commands_are_audited_and_suspend_and_unsuspend(live: Live) -> None:
    op = operator(live)
    email = f"cli-{op.account_id}@example.com"
    account = int(ok(vpsorg(live, "accounts", "create", "--email", email, "--credit", "30")).splitlines()[-1])
    a = str(account)
    ok(vpsorg(live, "accounts", "credit", "--account", a, "--amount", "2.50", "--reason", "cheque 12"))
    ok(vpsorg(live, "accounts", "limits", "--account", a, "--servers", "3"))
    ok(vpsorg(live, "accounts", "limits", "--account", a))  # shows only: not recorded
    token = ok(vpsorg(live, "tokens", "create", "--account", a, "--name", "ops")).splitlines()[-1]
    token_id = int(table(ok(vpsorg(live, "tokens", "list", "--account", a)))[1][0])
    ok(vpsorg(live, "tokens", "revoke", str(token_id)))
    assert token.startswith("vps_")
    entry_id = live.db(
        lambda s: s.scalar(select(LedgerEntry.id).where(LedgerEntry.account_id == account, LedgerEntry.reason == "cheque 12"))
    )  # fmt: skip
    assert by_cli(on(op.http, "account", account)) == [
        ("account.limits", {"servers": {"old": None, "new": 3}}),
        ("account.credit", {"amount": "2.50", "kind": "top_up", "reason": "cheque 12", "balance_after": "32.50",
                            "currency": "USD", "ledger_entry_id": entry_id}),
        ("account.create", {"email": email, "credit": "30.00"}),
    ]  # fmt: skip
    assert by_cli(on(op.http, "token", token_id)) == [
        ("token.revoke", {"account_id": account, "scope": "write", "name": "ops"}),
        ("token.create", {"account_id": account, "scope": "write", "name": "ops", "expires_in_days": None}),
    ]

    customer = live.account()
    c = str(customer.account_id)
    sid = customer.active_server(**STARTER)["id"]
    out = ok(vpsorg(live, "accounts", "suspend", "--account", c, "--reason", "abuse ticket 9"))
    assert f"server {sid}: suspend queued" in out and out.strip().endswith("is suspended: 1 actions queued")
    settle(customer, sid)
    assert customer.http.get(f"/api/v1/servers/{sid}/").json()["status"] == "suspended"
    r = customer.http.post("/api/v1/servers/", json=STARTER | {"name": "more"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "account_suspended"
    hex_part = customer.http.get("/api/v1/account/").json()["email"][2:14].upper()
    rows = table(ok(vpsorg(live, "accounts", "list", "--email", hex_part, "--suspended")))
    assert rows[0][-1] == "SUSPENDED" and [r[0] for r in rows[1:]] == [c]
    assert table(ok(vpsorg(live, "accounts", "list", "--email", hex_part, "--not-suspended"))) == [rows[0]]
    out = ok(vpsorg(live, "accounts", "unsuspend", "--account", c))
    assert f"server {sid}: start queued" in out and out.strip().endswith("is not suspended: 1 actions queued")
    settle(customer, sid)
    assert customer.http.get(f"/api/v1/servers/{sid}/").json()["status"] == "active"
    failed(vpsorg(live, "accounts", "suspend", "--account", NOWHERE, "--reason", "x"), "No account")
    assert on(op.http, "account", int(NOWHERE)) == []

    out = ok(vpsorg(live, "audit", "list", "--target-type", "account", "--target-id", c))
    listed = table(out)
    assert [row[:5] for row in listed] == [
        ["ID", "WHEN", "ACTOR", "ACTION", "TARGET"],
        [listed[1][0], listed[1][1], "cli", "account.unsuspend", f"account:{c}"],
        [listed[2][0], listed[2][1], "cli", "account.suspend", f"account:{c}"],
    ]
    suspended = out.splitlines()[2]
    assert suspended.endswith('{"already_suspended":false,"reason":"abuse ticket 9","servers_suspended":1}')
    one = table(ok(vpsorg(live, "audit", "list", "--action", "account.suspend", "--limit", "1")))
    assert len(one) == 2 and one[1][3] == "account.suspend"


def test_host_commands_and_migrations_are_audited(live: Live) -> None:
    op = operator(live)
    customer = live.account()
    loc = fleet.new_location(live.settings)
    a, b = f"au-a-{loc[-6:]}", f"au-b-{loc[-6:]}"
    for name in (a, b):
        ok(vpsorg(live, "hosts", "add", name, "--location", loc, "--driver", "simulator", "--vcpus", "4",
                  "--memory-mib", "4096", "--disk-gb", "100"))  # fmt: skip
    a_id, b_id = fleet.host(live.settings, a).id, fleet.host(live.settings, b).id
    ok(vpsorg(live, "hosts", "disable", b))
    sid = customer.active_server(plan_id=fleet.STARTER, location=loc)["id"]  # on a
    ok(vpsorg(live, "hosts", "enable", b))
    ok(vpsorg(live, "hosts", "update", b, "--vcpus", "8", "--cpu-overcommit", "2"))
    ok(vpsorg(live, "servers", "migrate", str(sid), "--to", b))
    settle(customer, sid)
    ok(vpsorg(live, "hosts", "drain", b))  # back to a
    settle(customer, sid)
    ok(vpsorg(live, "hosts", "remove", b))
    failed(vpsorg(live, "hosts", "remove", a), "drain it first")  # refused: not recorded

    added = {"name": b, "location": loc, "driver": "simulator", "vcpus": 4, "memory_mib": 4096, "disk_gb": 100,
             "uri": None, "storage": None, "network": None, "bridge": None, "cpu_overcommit": 4.0,
             "memory_overcommit": 1.0, "disk_overcommit": 1.0}  # fmt: skip
    assert by_cli(on(op.http, "host", b_id)) == [
        ("host.remove", {"name": b}),
        ("host.drain", {"name": b, "queued": [sid], "failed": []}),
        (
            "host.update",
            {"name": b, "vcpus": {"old": 4, "new": 8}, "cpu_overcommit": {"old": 4.0, "new": 2.0}},
        ),
        ("host.enable", {"name": b, "old": "disabled", "new": "enabled"}),
        ("host.disable", {"name": b, "old": "enabled", "new": "disabled"}),
        ("host.add", added),
    ]
    assert [action for action, _ in by_cli(on(op.http, "host", a_id))] == ["host.add"]
    (migrated,) = by_cli(on(op.http, "server", sid))
    assert migrated[0] == "server.migrate" and migrated[1]["to_host"] == b
    assert migrated[1]["from_host_id"] == a_id and migrated[1]["account_id"] == customer.account_id


def test_a_failed_audit_write_fails_the_change(live: Live) -> None:
    op = operator(live)
    customer = live.account(credit="5.00")
    with mock.patch.object(audit, "record", side_effect=RuntimeError("the audit log is unwritable")):
        r = vpsorg(live, "accounts", "credit", "--account", str(customer.account_id), "--amount", "7",
                   "--reason", "x")  # fmt: skip
    assert r.returncode == 1 and "the audit log is unwritable" in r.stderr
    balance = live.db(lambda s: s.scalar(select(Account.balance).where(Account.id == customer.account_id)))
    assert balance == Decimal("5.00")
    assert len(customer.http.get("/api/v1/account/ledger/").json()["results"]) == 1
    assert on(op.http, "account", customer.account_id) == []
