"""The token API on the shared server: list (never a secret), create (at most the caller's
scope), revoke (401 on the very next request), tenancy and validation."""

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Customer, Live
from vpsorg.accounts.service import hash_token

FIELDS = {"id", "name", "scope", "created_at", "last_used_at", "expires_at"}


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def create(customer: Customer, **body: Any) -> dict[str, Any]:
    r = customer.http.post("/api/v1/tokens/", json={"name": "ci"} | body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_list_shows_every_token_of_the_account_and_never_a_secret(live: Live) -> None:
    customer = live.account()
    other = live.account()  # its tokens are not listed
    made = [create(customer, name=f"deploy {i}") for i in range(3)]
    r = customer.http.get("/api/v1/tokens/")
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["count"] == 4 and page["next"] is None and page["previous"] is None
    assert [t["name"] for t in page["results"]] == ["token", "deploy 0", "deploy 1", "deploy 2"]
    assert all(set(t) == FIELDS for t in page["results"]), page
    for secret in [customer.token, other.token] + [m["token"] for m in made]:
        assert secret not in r.text and hash_token(secret) not in r.text
    paged = customer.http.get("/api/v1/tokens/", params={"page_size": 1, "page": 2}).json()
    assert paged["count"] == 4 and [t["id"] for t in paged["results"]] == [made[0]["id"]]
    assert paged["next"] and paged["previous"]


def test_create_answers_the_secret_once_and_it_works(live: Live) -> None:
    customer = live.account()
    made = create(customer, name="read-only CI", scope="read", expires_in_days=30)
    assert set(made) == FIELDS | {"token"}
    assert made["token"].startswith("vps_") and made["scope"] == "read" and made["last_used_at"] is None
    assert when(made["expires_at"]) - when(made["created_at"]) == timedelta(days=30)
    reader = live.client(made["token"])
    assert reader.get("/api/v1/account/").json()["id"] == customer.account_id
    assert reader.post("/api/v1/ssh-keys/", json={"name": "x", "public_key": "x"}).status_code == 403
    default = create(customer)  # write by default, never expiring
    assert default["scope"] == "write" and default["expires_at"] is None
    listed = {t["id"]: t for t in customer.http.get("/api/v1/tokens/").json()["results"]}
    assert {k: v for k, v in made.items() if k not in ("token", "last_used_at")} == {
        k: v for k, v in listed[made["id"]].items() if k != "last_used_at"
    }


def test_a_token_cannot_create_a_scope_above_its_own(live: Live) -> None:
    customer = live.account()
    r = customer.http.post("/api/v1/tokens/", json={"name": "escalate", "scope": "admin"})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "forbidden"
    reader = live.client(live.token(customer.account_id, "read"))
    r = reader.post("/api/v1/tokens/", json={"name": "escalate", "scope": "read"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert customer.http.get("/api/v1/tokens/").json()["count"] == 2  # nothing was created
    admin = live.client(live.token(customer.account_id, "admin"))
    r = admin.post("/api/v1/tokens/", json={"name": "ops", "scope": "admin"})
    assert r.status_code == 201 and r.json()["scope"] == "admin", r.text


def test_a_revoked_token_is_refused_on_its_very_next_request(live: Live) -> None:
    customer = live.account()
    made = create(customer, name="laptop")
    victim = live.client(made["token"])
    assert victim.get("/api/v1/servers/").status_code == 200
    assert customer.http.delete(f"/api/v1/tokens/{made['id']}/").status_code == 204
    r = victim.get("/api/v1/servers/")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
    assert customer.http.delete(f"/api/v1/tokens/{made['id']}/").status_code == 404
    assert made["id"] not in [t["id"] for t in customer.http.get("/api/v1/tokens/").json()["results"]]
    # A token may revoke itself (log out).
    me = customer.http.get("/api/v1/tokens/").json()["results"][0]
    assert customer.http.delete(f"/api/v1/tokens/{me['id']}/").status_code == 204
    assert customer.http.get("/api/v1/account/").status_code == 401


def test_another_accounts_token_is_not_found(live: Live) -> None:
    owner, stranger = live.account(), live.account()
    made = create(owner)
    r = stranger.http.delete(f"/api/v1/tokens/{made['id']}/")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert live.client(made["token"]).get("/api/v1/account/").status_code == 200


def test_last_used_at_is_recorded(live: Live) -> None:
    customer = live.account()
    made = create(customer)
    assert live.client(made["token"]).get("/api/v1/servers/").status_code == 200
    for _ in range(200):  # recorded just after the response, in a transaction of its own
        listed = {t["id"]: t for t in customer.http.get("/api/v1/tokens/").json()["results"]}
        if listed[made["id"]]["last_used_at"] is not None:
            break
    assert listed[made["id"]]["last_used_at"] is not None
    assert when(listed[made["id"]]["last_used_at"]) >= when(made["created_at"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "tab\there"}, "name"),
        ({"name": 5}, "name"),
        ({"name": "a", "scope": "root"}, "scope"),
        ({"name": "a", "expires_in_days": 0}, "expires_in_days"),
        ({"name": "a", "expires_in_days": 3651}, "expires_in_days"),
        ({"name": "a", "expires_in_days": "30"}, "expires_in_days"),
        ({"name": "a", "expires_in_days": 1.5}, "expires_in_days"),
        ({"name": "a", "token": "vps_mine"}, "token"),
    ],
)
def test_invalid_creates_are_400(live: Live, customer: Customer, body: dict[str, Any], field: str) -> None:
    r = customer.http.post("/api/v1/tokens/", json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert field in {f["name"] for f in error["details"]["fields"]}, error


def test_bad_token_ids_are_400(customer: Customer) -> None:
    for bad in ("0", "abc", str(2**31)):
        r = customer.http.delete(f"/api/v1/tokens/{bad}/")
        assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error", r.text
