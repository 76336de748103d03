"""The webhooks API over HTTP, on the database under test: create (the secret shown once),
list, get, change, delete; bad input a 400; another account's webhook a 404 everywhere;
URLs refused by the SSRF rules at create and at change."""

from typing import Any, get_args

import pytest

from tests.conftest import Customer, Live
from vpsorg.events import types as events
from vpsorg.webhooks.schemas import EventType

HOOK = {"url": "http://127.0.0.1:9/hook", "event_types": ["server.created"], "description": "ci"}


def create(customer: Customer, **fields: Any) -> dict[str, Any]:
    r = customer.http.post("/api/v1/webhooks/", json=HOOK | fields)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_create_shows_the_secret_once_then_list_get_change_delete(hooked: Live) -> None:
    customer = hooked.account()
    r = customer.http.post("/api/v1/webhooks/", json=HOOK)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["secret"].startswith("whsec_") and len(made["secret"]) > 40
    assert made["url"] == HOOK["url"] and made["event_types"] == ["server.created"]
    assert made["enabled"] is True and made["description"] == "ci"
    assert r.headers["location"].endswith(f"/api/v1/webhooks/{made['id']}/")
    got = customer.http.get(f"/api/v1/webhooks/{made['id']}/").json()
    assert "secret" not in got and got["url"] == HOOK["url"]
    listed = customer.http.get("/api/v1/webhooks/").json()
    assert listed["count"] == 1 and [w["id"] for w in listed["results"]] == [made["id"]]
    assert "secret" not in listed["results"][0]
    r = customer.http.patch(
        f"/api/v1/webhooks/{made['id']}/", json={"enabled": False, "event_types": ["*"], "description": ""}
    )
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is False and r.json()["event_types"] == ["*"] and "secret" not in r.json()
    assert customer.http.get(f"/api/v1/webhooks/{made['id']}/").json()["enabled"] is False
    assert customer.http.delete(f"/api/v1/webhooks/{made['id']}/").status_code == 204
    assert customer.http.get(f"/api/v1/webhooks/{made['id']}/").status_code == 404
    assert customer.http.get("/api/v1/webhooks/").json()["count"] == 0


def test_event_types_default_to_all(hooked: Live) -> None:
    customer = hooked.account()
    r = customer.http.post("/api/v1/webhooks/", json={"url": HOOK["url"]})
    assert r.status_code == 201, r.text
    assert r.json()["event_types"] == ["*"] and r.json()["description"] == ""


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"url": ""},
        {"url": 5},
        {"url": "http://127.0.0.1/", "event_types": []},
        {"url": "http://127.0.0.1/", "event_types": ["server.exploded"]},
        {"url": "http://127.0.0.1/", "event_types": ["*", "server.created"]},
        {"url": "http://127.0.0.1/", "event_types": ["server.created", "server.created"]},
        {"url": "http://127.0.0.1/", "event_types": "server.created"},
        {"url": "http://127.0.0.1/", "enabled": "yes"},
        {"url": "http://127.0.0.1/", "description": "x" * 201},
        {"url": "http://127.0.0.1/", "secret": "mine"},
        {"url": "http://127.0.0.1/\x00"},
        {"url": "http://" + "a" * 2048 + ".com/"},
    ],
)
def test_bad_input_is_a_400(hooked: Live, body: dict[str, Any]) -> None:
    customer = hooked.account()
    r = customer.http.post("/api/v1/webhooks/", json=body)
    assert r.status_code == 400, (body, r.text)
    assert r.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    "patch", [{}, {"url": None}, {"enabled": None}, {"event_types": ["nope"]}, {"id": 3}]
)
def test_a_bad_change_is_a_400(hooked: Live, patch: dict[str, Any]) -> None:
    customer = hooked.account()
    made = create(customer)
    r = customer.http.patch(f"/api/v1/webhooks/{made['id']}/", json=patch)
    assert r.status_code == 400, (patch, r.text)
    assert r.json()["error"]["code"] == "validation_error"


def test_unsafe_urls_are_refused_at_create_and_at_change(hooked: Live, live: Live) -> None:
    # The shared server allows neither http nor loopback (the production defaults).
    strict = live.account()
    for url in ("http://127.0.0.1:9/", "https://127.0.0.1/", "https://localhost/", "https://10.0.0.1/"):
        r = strict.http.post("/api/v1/webhooks/", json={"url": url})
        assert r.status_code == 400, (url, r.text)
        assert r.json()["error"]["details"]["fields"][0]["name"] == "url"
    # Here http to loopback is allowed; metadata and private addresses still are not.
    customer = hooked.account()
    made = create(customer)
    for url in ("http://169.254.169.254/latest/", "http://[fd00:ec2::254]/", "http://192.168.0.1/"):
        assert customer.http.post("/api/v1/webhooks/", json={"url": url}).status_code == 400, url
        r = customer.http.patch(f"/api/v1/webhooks/{made['id']}/", json={"url": url})
        assert r.status_code == 400, (url, r.text)
        assert "url" in r.json()["error"]["message"]
    assert customer.http.get(f"/api/v1/webhooks/{made['id']}/").json()["url"] == HOOK["url"]


def test_another_accounts_webhook_is_a_404_everywhere(hooked: Live) -> None:
    owner, other = hooked.account(), hooked.account()
    made = create(owner)
    base = f"/api/v1/webhooks/{made['id']}"
    for method, path, body in [
        ("GET", "/", None),
        ("PATCH", "/", {"enabled": False}),
        ("DELETE", "/", None),
        ("GET", "/deliveries/", None),
        ("POST", "/deliveries/1/redeliver/", None),
    ]:
        r = other.http.request(method, base + path, json=body)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["code"] == "not_found"
    assert other.http.get("/api/v1/webhooks/").json()["count"] == 0
    assert owner.http.get(f"{base}/").json()["enabled"] is True


def test_a_read_token_cannot_create(hooked: Live) -> None:
    customer = hooked.account(scope="read")
    r = customer.http.post("/api/v1/webhooks/", json=HOOK)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_the_types_a_webhook_takes_are_the_event_types() -> None:
    assert set(get_args(EventType)) == {"*"} | {t.value for t in events.EventType}
