"""402 cannot be raced: 50 creates at once, credit for 10 (two API processes, one database)."""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import func, select

from tests.production.cluster import Cluster
from vpsorg.accounts.models import Account
from vpsorg.billing.models import LedgerEntry
from vpsorg.servers.models import Server

STARTER = {"plan_id": 3, "os_id": 5, "location": "us-west"}  # 6.00 a month


def test_fifty_parallel_creates_with_credit_for_ten(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, api_processes=2, billing_interval_seconds=0.2)
    try:
        cluster.worker()
        # Ten months of 6.00, and 0.10 for the first hours (0.01 each) of the ten servers, which
        # billing (every 0.2 s here) may charge while the round still races: without it a
        # charge landing mid-round left room for nine. An eleventh needs 66.00 either way.
        token = cluster.token(credit="60.10", email="race@example.com")
        clients = [cluster.client(token) for _ in range(8)]
        rounds = []
        for attempt in range(2):  # the second round finds the credit already committed

            def create(i: int, attempt: int = attempt) -> httpx.Response:
                return clients[i % 8].post("/api/v1/servers/", json=STARTER | {"name": f"w{attempt}-{i}"})

            with ThreadPoolExecutor(max_workers=25) as pool:
                rounds.append([r.status_code for r in pool.map(create, range(50))])
            assert Decimal(clients[0].get("/api/v1/account/").json()["balance"]) >= 0
        assert Counter(rounds[0]) == {201: 10, 402: 40}, Counter(rounds[0])
        assert Counter(rounds[1]) == {402: 50}
        account_id = cluster.scalars(select(Account.id).where(Account.email == "race@example.com"))[0]
        live = cluster.scalars(
            select(func.count()).select_from(Server).where(Server.account_id == account_id)
        )
        assert live == [10]
        # The worker provisions them and charges their first hours meanwhile.
        cluster.wait(lambda: cluster.settled(), 60, "the creates")
        cluster.wait(
            lambda: cluster.scalars(select(func.count()).select_from(LedgerEntry))[0] >= 11,
            30,
            "first charges",
        )
        body = clients[0].get("/api/v1/account/").json()
        balance = Decimal(body["balance"])
        assert Decimal("0") < balance < Decimal("60.10")  # charged: less than the credit
        assert body["monthly_commitment"] == "60.00" and body["servers"] == 10
        ledger = cluster.scalars(select(LedgerEntry.amount).where(LedgerEntry.account_id == account_id))
        assert sum(ledger, Decimal(0)) == balance
        assert cluster.scalars(select(Account.balance).where(Account.id == account_id)) == [balance]
        # Only the ten servers that were created are ever charged.
        charged = set(
            cluster.scalars(select(LedgerEntry.server_id).where(LedgerEntry.server_id.is_not(None)))
        )
        assert len(charged) == 10
    finally:
        cluster.close()
