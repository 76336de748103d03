"""Authentication on every /api/v1 route, token storage, and tenant isolation."""

import hashlib
import re
from typing import Any

import httpx
import pytest

from tests.conftest import Customer, Live

try:  # FastAPI >= 0.16x keeps included routers nested; this walks them as the OpenAPI builder does.
    from fastapi.routing import iter_route_contexts
except ImportError:  # older FastAPI: app.routes is already flat

    def iter_route_contexts(routes: Any) -> Any:  # type: ignore[misc]
        return iter(routes)


BAD_AUTH: dict[str, dict[str, str]] = {
    "missing": {},
    "basic": {"Authorization": "Basic dXNlcjpwYXNz"},
    "token-scheme": {"Authorization": "Token vps_abc"},
    "unknown-token": {"Authorization": "Bearer vps_thisTokenWasNeverIssued0000000000000000"},
    "empty-bearer": {"Authorization": "Bearer"},
    "no-scheme": {"Authorization": "vps_abc"},
}


def api_routes(live: Live) -> list[tuple[str, str]]:
    """(method, path) of every /api/v1 operation, path parameters filled with 1."""
    out = []
    for route in iter_route_contexts(live.app.routes):
        if (route.path or "").startswith("/api/v1"):
            path = re.sub(r"\{[^}]+\}", "1", route.path)
            out.extend((method, path) for method in sorted(route.methods or ()))
    return sorted(out)


def assert_unauthorized(r: httpx.Response) -> None:
    assert r.status_code == 401, (r.request.method, r.request.url, r.status_code, r.text)
    assert r.headers["www-authenticate"] == "Bearer"
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "unauthorized"
    assert body["error"]["message"] and body["error"]["details"] == {}


def test_the_route_list_is_complete(live: Live) -> None:
    routes = set(api_routes(live))
    expected = {
        ("GET", "/api/v1/servers/"),
        ("POST", "/api/v1/servers/"),
        ("GET", "/api/v1/servers/1/"),
        ("PUT", "/api/v1/servers/1/"),
        ("PATCH", "/api/v1/servers/1/"),
        ("DELETE", "/api/v1/servers/1/"),
        ("POST", "/api/v1/servers/1/start/"),
        ("POST", "/api/v1/servers/1/stop/"),
        ("POST", "/api/v1/servers/1/reboot/"),
        ("GET", "/api/v1/servers/1/actions/"),
        ("GET", "/api/v1/actions/1/"),
        ("GET", "/api/v1/ssh-keys/"),
        ("POST", "/api/v1/ssh-keys/"),
        ("GET", "/api/v1/ssh-keys/1/"),
        ("DELETE", "/api/v1/ssh-keys/1/"),
        ("GET", "/api/v1/plans/"),
        ("GET", "/api/v1/os/"),
        ("GET", "/api/v1/locations/"),
        ("GET", "/api/v1/account/"),
    }
    assert expected <= routes, expected - routes


@pytest.mark.parametrize("case", sorted(BAD_AUTH))
def test_every_api_route_requires_a_token(live: Live, case: str) -> None:
    routes = api_routes(live)
    assert routes
    with httpx.Client(base_url=live.url, timeout=30) as http:
        for method, path in routes:
            assert_unauthorized(http.request(method, path, headers=BAD_AUTH[case]))


def test_401_comes_before_body_and_path_validation(live: Live) -> None:
    """Without a valid token nothing about the request is judged, not even its id or body."""
    with httpx.Client(base_url=live.url, timeout=30) as http:
        assert_unauthorized(http.post("/api/v1/servers/", json={"name": "_bad_"}))
        assert_unauthorized(http.post("/api/v1/servers/", json=[]))
        assert_unauthorized(http.get("/api/v1/servers/abc/"))
        assert_unauthorized(http.get(f"/api/v1/servers/{2**31 - 1}/"))
        assert_unauthorized(http.get("/api/v1/servers/", params={"status": "bogus"}))


def test_a_valid_token_is_accepted_with_any_scheme_case(customer: Customer, live: Live) -> None:
    for scheme in ("Bearer", "bearer", "BEARER"):
        r = httpx.get(f"{live.url}/api/v1/account/", headers={"Authorization": f"{scheme} {customer.token}"})
        assert r.status_code == 200, (scheme, r.text)


def test_a_token_with_extra_characters_is_rejected(customer: Customer, live: Live) -> None:
    for token in (customer.token + "x", customer.token[:-1], customer.token.upper()):
        r = httpx.get(f"{live.url}/api/v1/account/", headers={"Authorization": f"Bearer {token}"})
        assert_unauthorized(r)


def test_tokens_are_stored_only_as_sha256_hashes(live: Live) -> None:
    from sqlalchemy import select

    from vpsorg.accounts.models import ApiToken

    customer = live.account()

    async def tokens(session: Any) -> list[ApiToken]:
        return list(await session.scalars(select(ApiToken).where(ApiToken.account_id == customer.account_id)))

    rows = live.db(tokens)
    assert len(rows) == 1
    token_row = rows[0]
    assert token_row.token_hash == hashlib.sha256(customer.token.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", token_row.token_hash)
    # No column of any token row holds the plaintext or any part of its secret.

    async def dump(session: Any) -> Any:
        from sqlalchemy import text

        return (await session.execute(text("SELECT * FROM api_tokens"))).all()

    for row in live.db(dump):
        for value in row:
            assert customer.token[4:12] not in str(value)  # not even a piece of the secret


# --- tenant isolation -------------------------------------------------------------------------

PUT_BODY = {"name": "stolen", "hostname": "stolen.example.com", "backups_enabled": True}
OPERATIONS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "", None),
    ("PUT", "", PUT_BODY),
    ("PATCH", "", {"name": "stolen"}),
    ("POST", "start/", None),
    ("POST", "stop/", None),
    ("POST", "reboot/", None),
    ("GET", "actions/", None),
    ("DELETE", "", None),
]


def _strip_id(message: str, server_id: int) -> str:
    return message.replace(str(server_id), "N")


def test_another_accounts_server_is_404_like_a_missing_one(live: Live) -> None:
    alice, mallory = live.account(), live.account()
    server = alice.active_server(name="alice-web", hostname="alice.example.com")
    sid = server["id"]
    missing_id = 2**31 - 1

    for method, suffix, body in OPERATIONS:
        theirs = mallory.http.request(method, f"/api/v1/servers/{sid}/{suffix}", json=body)
        missing = mallory.http.request(method, f"/api/v1/servers/{missing_id}/{suffix}", json=body)
        assert theirs.status_code == 404, (method, suffix, theirs.text)
        assert missing.status_code == 404, (method, suffix, missing.text)
        t, m = theirs.json(), missing.json()
        assert set(t) == set(m) == {"error"}
        assert t["error"]["code"] == m["error"]["code"] == "not_found"
        assert t["error"]["details"] == m["error"]["details"]
        assert _strip_id(t["error"]["message"], sid) == _strip_id(m["error"]["message"], missing_id)

    after = alice.http.get(f"/api/v1/servers/{sid}/")
    assert after.status_code == 200
    after_body = after.json()
    for key in ("name", "hostname", "backups_enabled", "status", "ip_address", "plan", "os", "updated_at"):
        assert after_body[key] == server[key], key
    actions = alice.http.get(f"/api/v1/servers/{sid}/actions/").json()
    assert [a["type"] for a in actions["results"]] == ["create"]

    listed = mallory.http.get("/api/v1/servers/").json()
    assert listed["count"] == 0 and sid not in [s["id"] for s in listed["results"]]
    assert sid in [s["id"] for s in alice.http.get("/api/v1/servers/").json()["results"]]

    action_id = actions["results"][0]["id"]
    r = mallory.http.get(f"/api/v1/actions/{action_id}/")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_list_filters_do_not_leak_other_accounts(live: Live) -> None:
    alice, mallory = live.account(), live.account()
    alice.create_server(location="us-east")
    for params in ({}, {"location": "us-east"}, {"status": "provisioning"}, {"status": "active"}):
        r = mallory.http.get("/api/v1/servers/", params=params)
        assert r.status_code == 200 and r.json()["count"] == 0 and r.json()["results"] == []


def test_another_accounts_ssh_key_is_404(live: Live) -> None:
    from tests.ssh_keys.test_ssh_keys import ed25519_public_key

    alice, mallory = live.account(), live.account()
    key = alice.http.post("/api/v1/ssh-keys/", json={"name": "k", "public_key": ed25519_public_key()}).json()
    for method in ("GET", "DELETE"):
        r = mallory.http.request(method, f"/api/v1/ssh-keys/{key['id']}/")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert mallory.http.get("/api/v1/ssh-keys/").json()["count"] == 0
    assert alice.http.get(f"/api/v1/ssh-keys/{key['id']}/").status_code == 200
