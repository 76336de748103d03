"""`vps account` (balance, monthly commitment, the latest ledger entries) and
`vps account ledger`, against a live API server."""

from decimal import Decimal
from pathlib import Path

from tests.client.test_sdk import FAST
from tests.client.test_vps_cli import as_json, clean_env, ok, vps
from tests.conftest import Live
from vpsorg.client import Client


def test_account_shows_the_commitment_and_the_latest_entries(live: Live, tmp_path: Path) -> None:
    customer = live.account(credit="100.00")
    env = clean_env(tmp_path, VPS_URL=live.url, VPS_TOKEN=customer.token)
    fresh = ok(vps("account", env=env))
    assert "monthly commitment  0.00 USD" in fresh and "100.00 USD" in fresh
    assert "top_up" in fresh and "Latest ledger entries" in fresh

    operator = live.account()
    admin = Client(live.url, live.token(operator.account_id, "admin"), backoff=FAST)
    for cents in range(1, 8):  # seven more entries: eight in all
        admin.admin.credit(customer.account_id, Decimal(cents) / 100, f"gift {cents}")
    customer.create_server(name="web", plan_id=3)  # Starter VPS: 6.00 a month
    customer.create_server(name="db", plan_id=4)  # Basic VPS: 12.00 a month

    table = ok(vps("account", env=env)).splitlines()
    assert "monthly commitment  18.00 USD" in table and "servers             2" in table
    quota = customer.http.get("/api/v1/account/").json()["limits"]["servers"]
    assert f"server quota        2 of {quota['limit']}" in table and quota["used"] == 2
    every = customer.http.get("/api/v1/account/ledger/").json()["results"]
    assert len(every) == 8
    start = table.index("Latest ledger entries (every one: vps account ledger):")
    shown = [line.split()[0] for line in table[start + 2 :]]  # below the header line
    assert shown == [str(e["id"]) for e in every[:5]]  # the five newest, newest first
    assert as_json(vps("-o", "json", "account", env=env)) == customer.http.get("/api/v1/account/").json()
    assert ok(vps("-q", "account", env=env)).split() == [str(customer.account_id)]

    assert ok(vps("-q", "account", "ledger", env=env)).split() == [str(e["id"]) for e in every]
    assert ok(vps("account", "ledger", "-q", "--limit", "3", env=env)).split() == [
        str(e["id"]) for e in every[:3]
    ]
    assert as_json(vps("-o", "json", "account", "ledger", env=env)) == every
    listed = ok(vps("account", "ledger", env=env))
    assert "gift 7" in listed and "0.07 USD" in listed and "100.28 USD" in listed
    assert vps("account", "ledger", "--limit", "0", env=env).returncode == 2
