"""Token scopes: read tokens only read; only admin tokens reach /api/v1/admin/.

The routes are enumerated from the app itself (its OpenAPI document, which FastAPI builds
from every route it serves; none under /api/ is hidden from it), so a route added later is
covered without touching this test."""

import re

import pytest

from tests.conftest import Live

READS = {"GET", "HEAD"}
ADMIN = "/api/v1/admin/"


def _routes(live: Live) -> list[tuple[str, str]]:
    """(method, path with every parameter set to 1) of each API route."""
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "1", path))
        for path, item in live.app.openapi()["paths"].items()
        if path.startswith("/api/")
        for method in item
    ]


def test_the_enumeration_sees_the_routes(live: Live) -> None:
    routes = set(_routes(live))
    assert ("POST", "/api/v1/servers/") in routes and ("POST", "/api/v1/servers/1/reboot/") in routes
    assert ("POST", "/api/v1/admin/accounts/1/credit/") in routes
    assert ("GET", "/api/v1/admin/accounts/") in routes
    assert ("POST", "/api/v1/tokens/") in routes and ("DELETE", "/api/v1/tokens/1/") in routes

    assert {
        ("GET", "/api/v1/admin/accounts/1/limits/"),
        ("PATCH", "/api/v1/admin/accounts/1/limits/"),
    } <= routes


def test_a_read_token_gets_403_on_every_write(live: Live) -> None:
    owner = live.account()
    server = owner.active_server()
    reader = live.client(live.token(owner.account_id, "read"))
    writes = [(m, p.replace("/1/", f"/{server['id']}/")) for m, p in _routes(live) if m not in READS]
    assert len(writes) >= 12
    for method, path in writes:
        r = reader.request(method, path, json={"name": "x"})
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"]["code"] == "forbidden", (method, path)
    # Nothing was changed, and reading works.
    assert reader.get(f"/api/v1/servers/{server['id']}/").json()["status"] == "active"
    assert reader.get("/api/v1/servers/").json()["count"] == 1
    assert reader.get("/api/v1/account/").status_code == 200
    assert reader.get("/api/v1/account/ledger/").status_code == 200


@pytest.mark.parametrize("scope", ["read", "write"])
def test_a_non_admin_token_gets_403_on_every_admin_route(live: Live, scope: str) -> None:
    customer = live.account()
    http = live.client(live.token(customer.account_id, scope))
    admin_routes = [(m, p) for m, p in _routes(live) if p.startswith(ADMIN)]
    assert len(admin_routes) >= 8
    for method, path in admin_routes:
        body = (
            {"servers": 1000} if path.endswith("/limits/") else {"amount": "1000.00", "reason": "free money"}
        )
        r = http.request(method, path, json=body)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"]["code"] == "forbidden"
    assert http.get("/api/v1/account/").json()["balance"] == "100000.00"
    assert http.get("/api/v1/account/").json()["limits"]["servers"]["limit"] == 25


def test_an_admin_token_reaches_the_admin_api_and_its_own_account(live: Live) -> None:
    operator = live.account()
    admin = live.client(live.token(operator.account_id, "admin"))
    assert admin.get("/api/v1/admin/accounts/").status_code == 200
    assert admin.get("/api/v1/account/").json()["id"] == operator.account_id
    r = admin.post(
        "/api/v1/servers/", json={"name": "ops-1", "plan_id": 3, "os_id": 5, "location": "us-west"}
    )
    assert r.status_code == 201, r.text
