"""Quotas: servers and SSH keys per account, the operators' overrides, and no race past them."""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import Customer, Live, new_public_key
from tests.production.cluster import Cluster
from vpsorg.accounts.models import Account
from vpsorg.client import Backoff, Client, Forbidden, QuotaExceeded
from vpsorg.servers.models import Server

ORDER = {"plan_id": 3, "os_id": 5, "location": "us-west"}  # 6.00 a month


def _admin(live: Live) -> httpx.Client:
    return live.client(live.token(live.account().account_id, "admin"))


def _set(admin: httpx.Client, account_id: int, **limits: Any) -> dict[str, Any]:
    r = admin.patch(f"/api/v1/admin/accounts/{account_id}/limits/", json=limits)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _refused(r: httpx.Response, resource: str, limit: int, used: int) -> None:
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert error["code"] == "quota_exceeded", error
    assert error["details"] == {"resource": resource, "limit": limit, "used": used}


def _create(customer: Customer, name: str) -> httpx.Response:
    return customer.http.post("/api/v1/servers/", json=ORDER | {"name": name})


def test_the_account_shows_its_default_limits_and_usage(live: Live) -> None:
    customer = live.account()
    limits = customer.http.get("/api/v1/account/").json()["limits"]
    assert limits == {"servers": {"limit": 25, "used": 0}, "ssh_keys": {"limit": 100, "used": 0}}
    server = customer.create_server(**ORDER)
    assert customer.http.post(
        "/api/v1/ssh-keys/", json={"name": "k", "public_key": new_public_key()}
    ).is_success
    body = customer.http.get("/api/v1/account/").json()
    assert body["servers"] == 1 and body["balance"] == "100000.00"  # the existing fields stay
    assert body["limits"] == {"servers": {"limit": 25, "used": 1}, "ssh_keys": {"limit": 100, "used": 1}}
    assert customer.http.delete(f"/api/v1/servers/{server['id']}/").status_code == 204
    assert customer.http.get("/api/v1/account/").json()["limits"]["servers"] == {"limit": 25, "used": 0}
    # The operators see the same on the account resource.
    admin = _admin(live)
    shown = admin.get(f"/api/v1/admin/accounts/{customer.account_id}/").json()
    assert shown["limits"] == {"servers": {"limit": 25, "used": 0}, "ssh_keys": {"limit": 100, "used": 1}}


def test_the_limit_reached_is_403_and_a_delete_frees_a_slot(live: Live) -> None:
    customer = live.account()
    _set(_admin(live), customer.account_id, servers=2)
    first, _second = (_create(customer, f"q{i}").json() for i in range(2))
    for _ in range(2):  # refused every time, and nothing is created
        _refused(_create(customer, "q3"), "servers", 2, 2)
    count = live.db(
        lambda s: s.scalar(
            select(func.count()).select_from(Server).where(Server.account_id == customer.account_id)
        )
    )
    assert count == 2
    assert customer.http.get("/api/v1/account/").json()["limits"]["servers"] == {"limit": 2, "used": 2}
    assert customer.http.delete(f"/api/v1/servers/{first['id']}/").status_code == 204
    assert _create(customer, "q3").status_code == 201  # the deleted server no longer counts
    _refused(_create(customer, "q4"), "servers", 2, 2)


def test_quota_comes_before_credit_and_after_validation(live: Live) -> None:
    customer = live.account(credit="0")
    _set(_admin(live), customer.account_id, servers=0)
    r = customer.http.post("/api/v1/servers/", json=ORDER | {"name": "bad name"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error"
    _refused(_create(customer, "ok"), "servers", 0, 0)


def test_operators_set_and_reset_limits_through_the_admin_api(live: Live) -> None:
    admin = _admin(live)
    customer = live.account()
    path = f"/api/v1/admin/accounts/{customer.account_id}/limits/"
    default = {
        "servers": {"limit": 25, "used": 0, "override": None},
        "ssh_keys": {"limit": 100, "used": 0, "override": None},
    }
    assert admin.get(path).json() == default
    customer.create_server(**ORDER)
    assert _set(admin, customer.account_id, servers=40)["servers"] == {"limit": 40, "used": 1, "override": 40}
    assert _set(admin, customer.account_id, ssh_keys=3)["ssh_keys"] == {"limit": 3, "used": 0, "override": 3}
    assert customer.http.get("/api/v1/account/").json()["limits"] == {
        "servers": {"limit": 40, "used": 1},
        "ssh_keys": {"limit": 3, "used": 0},
    }
    # Lowered below what the account has: nothing is removed, creates are refused.
    assert _set(admin, customer.account_id, servers=0)["servers"] == {"limit": 0, "used": 1, "override": 0}
    _refused(_create(customer, "more"), "servers", 0, 1)
    both = _set(admin, customer.account_id, servers=None, ssh_keys=None)  # back to the defaults
    assert both == default | {"servers": {"limit": 25, "used": 1, "override": None}}
    assert _create(customer, "more").status_code == 201
    for bad in ({}, {"servers": -1}, {"servers": "5"}, {"servers": 1.5}, {"servers": 10**7}, {"cpus": 1}):
        r = admin.patch(path, json=bad)
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]["code"] == "validation_error"
    assert admin.get("/api/v1/admin/accounts/2147483647/limits/").status_code == 404
    assert admin.patch("/api/v1/admin/accounts/2147483647/limits/", json={"servers": 1}).status_code == 404
    # Customers cannot raise their own limits.
    r = customer.http.patch(path, json={"servers": 1000})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert admin.get(path).json()["servers"]["override"] is None


def test_ssh_key_limit(live: Live) -> None:
    customer = live.account()
    _set(_admin(live), customer.account_id, ssh_keys=2)

    def add(name: str) -> httpx.Response:
        return customer.http.post("/api/v1/ssh-keys/", json={"name": name, "public_key": new_public_key()})

    first, _second = (add(f"k{i}").json() for i in range(2))
    _refused(add("k3"), "ssh_keys", 2, 2)
    assert customer.http.get("/api/v1/ssh-keys/").json()["count"] == 2
    assert customer.http.delete(f"/api/v1/ssh-keys/{first['id']}/").status_code == 204
    assert add("k3").status_code == 201
    _refused(add("k4"), "ssh_keys", 2, 2)


def test_ssh_key_text_is_at_most_16_kib(customer: Customer) -> None:
    key = new_public_key()

    def add(text: str) -> httpx.Response:
        return customer.http.post("/api/v1/ssh-keys/", json={"name": "big", "public_key": text})

    for too_long in (key + "x" * (16385 - len(key)), key + "é" * ((16384 - len(key)) // 2 + 1)):
        assert len(too_long.encode()) > 16384
        r = add(too_long)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "validation_error"
        assert r.json()["error"]["details"]["fields"][0]["name"] == "public_key"
    exactly = key + "x" * (16384 - len(key))
    assert len(exactly.encode()) == 16384
    assert add(exactly).status_code == 201
    assert customer.http.get("/api/v1/ssh-keys/").json()["count"] == 1


def test_the_sdk_raises_quota_exceeded_and_sets_limits(live: Live) -> None:
    operator = live.account()
    admin = Client(live.url, live.token(operator.account_id, "admin"), backoff=Backoff(initial=0.02))
    customer = live.account()
    mine = Client(live.url, customer.token, backoff=Backoff(initial=0.02))
    assert admin.admin.limits(customer.account_id, servers=1)["servers"]["limit"] == 1
    mine.servers.create("sdk-1", **ORDER)
    with pytest.raises(QuotaExceeded) as caught:
        mine.servers.create("sdk-2", **ORDER)
    assert isinstance(caught.value, Forbidden) and caught.value.status == 403
    assert caught.value.details == {"resource": "servers", "limit": 1, "used": 1}
    assert mine.account.get().limits == {
        "servers": {"limit": 1, "used": 1},
        "ssh_keys": {"limit": 100, "used": 0},
    }
    assert admin.admin.limits(customer.account_id, servers="default")["servers"]["override"] is None
    assert admin.admin.limits(customer.account_id)["servers"] == {"limit": 25, "used": 1, "override": None}
    assert mine.servers.create("sdk-2", **ORDER).name == "sdk-2"


def test_parallel_creates_past_the_limit_make_exactly_the_limit(tmp_path: Path) -> None:
    """12 creates at once with a limit of 5 (the VPSORG_DEFAULT_SERVER_LIMIT setting), through
    two API processes on one database: exactly 5 are created, then a delete frees one slot."""
    cluster = Cluster(tmp_path, api_processes=2, default_server_limit=5)
    try:
        token = cluster.token(email="quota@example.com")
        clients = [cluster.client(token) for _ in range(6)]

        def create(i: int) -> httpx.Response:
            return clients[i % 6].post("/api/v1/servers/", json=ORDER | {"name": f"r{i}"})

        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(create, range(12)))
        assert Counter(r.status_code for r in answers) == {201: 5, 403: 7}, [r.text for r in answers]
        assert {r.json()["error"]["code"] for r in answers if r.status_code == 403} == {"quota_exceeded"}
        account_id = cluster.scalars(select(Account.id).where(Account.email == "quota@example.com"))[0]
        where = (Server.account_id == account_id) & Server.deleted_at.is_(None)
        assert cluster.scalars(select(func.count()).select_from(Server).where(where)) == [5]
        assert clients[0].get("/api/v1/account/").json()["limits"]["servers"] == {"limit": 5, "used": 5}
        victim = next(r.json()["id"] for r in answers if r.status_code == 201)
        assert clients[0].delete(f"/api/v1/servers/{victim}/").status_code == 204
        with ThreadPoolExecutor(max_workers=12) as pool:
            again = list(pool.map(create, range(12, 24)))
        assert Counter(r.status_code for r in again) == {201: 1, 403: 11}
        assert cluster.scalars(select(func.count()).select_from(Server).where(where)) == [5]
    finally:
        cluster.close()
