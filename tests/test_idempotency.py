"""Idempotency-Key on POST: a request sent again acts once, even when both copies race."""

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, update

from tests.conftest import Customer, Live
from tests.production.cluster import Cluster
from vpsorg import idempotency
from vpsorg.actions.models import Action
from vpsorg.db import make_engine, make_sessionmaker, utcnow
from vpsorg.servers.models import Server

ORDER = {"name": "idem", "plan_id": 3, "os_id": 5, "location": "us-west"}


def post(customer: Customer, path: str, body: Any = None, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return customer.http.post(path, json=body, headers=headers)


def test_a_repeated_create_returns_the_first_response(live: Live) -> None:
    customer = live.account()
    first = post(customer, "/api/v1/servers/", ORDER, key="order-1")
    again = post(customer, "/api/v1/servers/", ORDER, key="order-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["location"] == first.headers["location"]
    assert again.headers["idempotency-replayed"] == "true" and "idempotency-replayed" not in first.headers
    assert customer.http.get("/api/v1/servers/").json()["count"] == 1
    other = live.account()  # keys are per account
    assert post(other, "/api/v1/servers/", ORDER, key="order-1").json()["id"] != first.json()["id"]
    fresh = post(customer, "/api/v1/servers/", ORDER, key="order-2")
    assert fresh.status_code == 201 and fresh.json()["id"] != first.json()["id"]


def test_a_key_reused_for_another_request_is_refused(live: Live) -> None:
    customer = live.account()
    assert post(customer, "/api/v1/servers/", ORDER, key="k").status_code == 201
    r = post(customer, "/api/v1/servers/", ORDER | {"name": "other"}, key="k")
    assert r.status_code == 422 and r.json()["error"]["code"] == "idempotency_key_reused"
    r = post(customer, "/api/v1/ssh-keys/", {"name": "x", "public_key": "ssh-ed25519 AAAA"}, key="k")
    assert r.status_code == 422
    assert customer.http.get("/api/v1/servers/").json()["count"] == 1
    r = post(customer, "/api/v1/servers/", ORDER, key="x" * 256)
    assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error"


def test_an_error_is_not_stored_and_power_actions_act_once(live: Live) -> None:
    customer = live.account()
    server = customer.active_server(plan_id=3)
    path = f"/api/v1/servers/{server['id']}/start/"
    refused = post(customer, path, key="power-1")  # active: start is refused, not remembered
    assert refused.status_code == 400
    stop = post(customer, f"/api/v1/servers/{server['id']}/stop/", key="power-2")
    again = post(customer, f"/api/v1/servers/{server['id']}/stop/", key="power-2")
    assert stop.status_code == again.status_code == 200 and again.json() == stop.json()
    customer.wait_status(server["id"], "stopped")
    started = post(customer, path, key="power-1")  # the same key, now that start is allowed
    assert started.status_code == 200
    types = [
        a["type"] for a in customer.http.get(f"/api/v1/servers/{server['id']}/actions/").json()["results"]
    ]
    assert types == ["create", "stop", "start"]


def test_racing_copies_of_one_request_make_one_server(tmp_path: Path) -> None:
    """12 copies at once, two API processes, one key: one server; each answer is that
    server (201) or 409 idempotency_key_in_use, which answers 201 when retried."""
    cluster = Cluster(tmp_path, api_processes=2)
    try:
        token = cluster.token()
        clients = [cluster.client(token) for _ in range(6)]

        def send(i: int) -> httpx.Response:
            return clients[i % 6].post("/api/v1/servers/", json=ORDER, headers={"Idempotency-Key": "race"})

        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(send, range(12)))
        codes = Counter(r.status_code for r in answers)
        assert set(codes) <= {201, 409} and codes[201] >= 1, codes
        ids = {r.json()["id"] for r in answers if r.status_code == 201}
        assert len(ids) == 1
        for r in answers:
            if r.status_code == 409:
                assert r.json()["error"]["code"] == "idempotency_key_in_use"
                assert send(0).json()["id"] in ids
        assert cluster.scalars(select(func.count()).select_from(Server)) == [1]
        assert cluster.scalars(select(func.count()).select_from(Action)) == [1]
    finally:
        cluster.close()


def test_keys_are_forgotten_after_a_day(live: Live) -> None:
    customer = live.account()
    first = post(customer, "/api/v1/servers/", ORDER, key="old")

    async def age_and_purge() -> int:
        engine = make_engine(live.settings)
        sessions = make_sessionmaker(engine)
        try:
            async with sessions.begin() as s:
                await s.execute(
                    update(idempotency.IdempotencyRecord)
                    .where(idempotency.IdempotencyRecord.key == "old")
                    .values(created_at=utcnow() - timedelta(hours=25))
                )
            return await idempotency.purge(sessions)
        finally:
            await engine.dispose()

    assert asyncio.run(age_and_purge()) >= 1
    second = post(customer, "/api/v1/servers/", ORDER, key="old")
    assert second.status_code == 201 and second.json()["id"] != first.json()["id"]
