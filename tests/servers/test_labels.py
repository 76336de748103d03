"""Server labels: the rules at create, PUT and PATCH; every representation shows them; the
label selector of the list, alone and with the other filters and pages. Over HTTP on the
database under test (SQLite, or PostgreSQL with VPSORG_TEST_DATABASE_URL)."""

import re
from typing import Any

import httpx
import pytest

from tests.conftest import Customer, Live
from tests.servers.test_validation import assert_error, assert_field_error, field_names
from vpsorg.errors import ValidationFailed
from vpsorg.servers.labels import KEY_PATTERN, SELECTOR_PATTERN, VALUE_PATTERN, parse_selector

BODY = {"name": "web-1", "plan_id": 1, "os_id": 5, "location": "us-west"}
LABELS = {"env": "prod", "example.com/tier": "web", "empty": ""}


def create(customer: Customer, labels: Any, **fields: Any) -> Any:
    return customer.http.post("/api/v1/servers/", json=BODY | fields | {"labels": labels})


def refused(customer: Customer, labels: Any) -> str:
    """The create is refused naming labels; the message, which must name what is wrong in words."""
    error = assert_field_error(create(customer, labels), "labels")
    return str(error["message"])


# --- the rules -------------------------------------------------------------------------


VALID = [
    {"a": "b"},
    {"A.b_c-D9": "x.Y_z-1"},
    {"k": ""},
    {"x" * 63: "v" * 63},
    {"a.b-c.example/name": "v"},
    {"p" * 253 + "/n": "v"},
    {f"k{i}": str(i) for i in range(64)},
]


@pytest.mark.parametrize("labels", VALID)
def test_valid_labels_are_kept(customer: Customer, labels: dict[str, str]) -> None:
    r = create(customer, labels)
    assert r.status_code == 201, r.text
    assert r.json()["labels"] == labels
    detail = customer.http.get(f"/api/v1/servers/{r.json()['id']}/").json()
    assert detail["labels"] == labels


INVALID = [
    ({"": "v"}, "has no name"),
    ({"-a": "v"}, "the name must be"),
    ({"a-": "v"}, "the name must be"),
    ({"a b": "v"}, "the name must be"),
    ({"x" * 64: "v"}, "the name must be"),
    ({"é": "v"}, "the name must be"),
    ({"/a": "v"}, "empty prefix"),
    ({"Example.com/a": "v"}, "prefix before '/' must be"),
    ({"a_b/c": "v"}, "prefix before '/' must be"),
    ({"a/b/c": "v"}, "prefix before '/' must be"),
    ({"p" * 254 + "/n": "v"}, "prefix before '/' must be"),
    ({"example.com/": "v"}, "has no name"),
    ({"k": "v" * 64}, "must be empty or"),
    ({"k": "-v"}, "must be empty or"),
    ({"k": "a b"}, "must be empty or"),
    ({"k": "a/b"}, "must be empty or"),
]


@pytest.mark.parametrize(("labels", "words"), INVALID)
def test_each_rule_is_refused_in_words(customer: Customer, labels: dict[str, str], words: str) -> None:
    message = refused(customer, labels)
    assert words in message, message
    assert repr(next(iter(labels)))[:40] in message  # the offending key is named
    assert customer.http.get("/api/v1/servers/").json()["count"] == 0


def test_sixty_five_labels_are_refused(customer: Customer) -> None:
    message = refused(customer, {f"k{i}": "v" for i in range(65)})
    assert "at most 64 labels" in message, message


@pytest.mark.parametrize("labels", [["env=prod"], "env=prod", {"k": 1}, {"k": None}, None])
def test_labels_must_be_a_map_of_strings(customer: Customer, labels: Any) -> None:
    error = assert_error(create(customer, labels), 400, "validation_error")
    names = field_names(error)
    assert names in (["labels"], ["labels.k"]), error  # the map, or the key whose value is wrong


# --- create, PUT, PATCH and every representation ----------------------------------------


def test_create_without_labels_has_none(customer: Customer) -> None:
    server = customer.create_server()
    assert server["labels"] == {}
    assert customer.http.get("/api/v1/servers/").json()["results"][0]["labels"] == {}


def test_every_representation_shows_the_labels(live: Live) -> None:
    owner = live.account(scope="admin")
    created = create(owner, LABELS)
    assert created.status_code == 201, created.text
    server_id = created.json()["id"]
    assert created.json()["labels"] == LABELS
    assert owner.http.get("/api/v1/servers/").json()["results"][0]["labels"] == LABELS
    assert owner.http.get(f"/api/v1/servers/{server_id}/").json()["labels"] == LABELS
    admin_list = owner.http.get("/api/v1/admin/servers/", params={"account": owner.account_id})
    assert admin_list.status_code == 200, admin_list.text
    assert [s["labels"] for s in admin_list.json()["results"]] == [LABELS]
    assert owner.http.get(f"/api/v1/admin/servers/{server_id}/").json()["labels"] == LABELS


def test_patch_replaces_the_whole_map(customer: Customer) -> None:
    server_id = create(customer, LABELS).json()["id"]
    r = customer.http.patch(f"/api/v1/servers/{server_id}/", json={"labels": {"team": "a"}})
    assert r.status_code == 200, r.text
    assert r.json()["labels"] == {"team": "a"}
    r = customer.http.patch(f"/api/v1/servers/{server_id}/", json={"name": "renamed"})
    assert r.status_code == 200, r.text
    assert r.json()["labels"] == {"team": "a"}  # a PATCH without labels keeps them
    r = customer.http.patch(f"/api/v1/servers/{server_id}/", json={"labels": {}})
    assert r.json()["labels"] == {}
    assert customer.http.get(f"/api/v1/servers/{server_id}/").json()["labels"] == {}


def test_put_without_labels_keeps_them_and_with_labels_replaces_them(customer: Customer) -> None:
    server_id = create(customer, LABELS).json()["id"]
    body = {"name": "web-2", "hostname": "web-2.example.com", "backups_enabled": False}
    r = customer.http.put(f"/api/v1/servers/{server_id}/", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["labels"] == LABELS
    r = customer.http.put(f"/api/v1/servers/{server_id}/", json=body | {"labels": {"x": "y"}})
    assert r.status_code == 200, r.text
    assert r.json()["labels"] == {"x": "y"}
    assert customer.http.get(f"/api/v1/servers/{server_id}/").json()["labels"] == {"x": "y"}


@pytest.mark.parametrize("method", ["put", "patch"])
def test_updates_apply_the_rules(customer: Customer, method: str) -> None:
    server_id = create(customer, LABELS).json()["id"]
    body = {"name": "web-1", "hostname": "web-1.example.com", "backups_enabled": False}
    for bad in ({"a b": "c"}, {f"k{i}": "" for i in range(65)}, None):
        r = customer.http.request(
            method.upper(), f"/api/v1/servers/{server_id}/", json=body | {"labels": bad}
        )
        assert_field_error(r, "labels")
    assert customer.http.get(f"/api/v1/servers/{server_id}/").json()["labels"] == LABELS


# --- the selector ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def fleet(live: Live) -> tuple[Customer, dict[str, int]]:
    """One account with five servers and their labels, two of them in another location; all
    active but b, stopped."""
    owner = live.account()
    labelled = {
        "a": ({"env": "prod", "tier": "web"}, "us-west"),
        "b": ({"env": "prod", "tier": "db"}, "us-west"),
        "c": ({"env": "dev", "tier": "web"}, "us-east"),
        "d": ({"env": "prod", "example.com/x": ""}, "us-east"),
        "e": ({}, "us-west"),
    }
    ids = {}
    for name, (labels, location) in labelled.items():
        r = create(owner, labels, name=name, location=location)
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
    live.account().create_server(labels={"env": "prod"})  # another account's: never listed
    for server_id in ids.values():
        owner.wait_status(server_id, "active")
    r = owner.http.post(f"/api/v1/servers/{ids['b']}/stop/")
    assert r.status_code == 200, r.text
    owner.wait_status(ids["b"], "stopped")
    return owner, ids


def selected(owner: Customer, selector: str, **params: Any) -> list[str]:
    r = owner.http.get("/api/v1/servers/", params={"label_selector": selector} | params)
    assert r.status_code == 200, r.text
    names = [s["name"] for s in r.json()["results"]]
    if "page_size" not in params:
        assert r.json()["count"] == len(names)
    return names


SELECTORS = [
    ("env=prod", ["a", "b", "d"]),
    ("env==prod", ["a", "b", "d"]),
    ("env!=prod", ["c", "e"]),  # another value, or no such label (as Kubernetes)
    ("tier", ["a", "b", "c"]),
    ("!tier", ["d", "e"]),
    ("env=prod,tier=web", ["a"]),
    ("env=prod,!tier", ["d"]),
    ("env,tier!=web", ["b", "d"]),
    ("example.com/x=", ["d"]),
    ("example.com/x", ["d"]),
    ("env=staging", []),
    ("nothing", []),
]


@pytest.mark.parametrize(("selector", "names"), SELECTORS)
def test_each_selector_form(fleet: tuple[Customer, dict[str, int]], selector: str, names: list[str]) -> None:
    assert selected(fleet[0], selector) == names


def test_selector_with_status_and_location(fleet: tuple[Customer, dict[str, int]]) -> None:
    owner, _ = fleet
    assert selected(owner, "env=prod", location="us-east") == ["d"]
    assert selected(owner, "tier", location="us-west") == ["a", "b"]
    assert selected(owner, "env=prod", status="active") == ["a", "d"]
    assert selected(owner, "env=prod", status="stopped") == ["b"]
    assert selected(owner, "env=prod", status="stopped", location="us-east") == []
    assert selected(owner, "tier=db", status="stopped", location="us-west") == ["b"]


def test_selector_pages_count_the_matches(fleet: tuple[Customer, dict[str, int]]) -> None:
    owner, _ = fleet
    r = owner.http.get("/api/v1/servers/", params={"label_selector": "env=prod", "page_size": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 3
    assert [s["name"] for s in body["results"]] == ["a", "b"]
    following = owner.http.get(body["next"])
    assert following.status_code == 200, following.text
    assert [s["name"] for s in following.json()["results"]] == ["d"]
    assert following.json()["count"] == 3
    assert following.json()["next"] is None
    second = owner.http.get(
        "/api/v1/servers/", params={"label_selector": "env=prod", "page_size": 2, "page": 2}
    )
    assert second.status_code == 200, second.text
    assert [s["name"] for s in second.json()["results"]] == ["d"]


MALFORMED = [
    ("", "empty term"),
    ("env=prod,", "empty term"),
    ("a,,b", "empty term"),
    ("env = prod", "whitespace"),
    ("env in (prod,dev)", "whitespace"),
    ("env=in(prod)", "set-based"),
    ("env===prod", "more than one operator"),
    ("env=a=b", "more than one operator"),
    ("!", "has no name"),
    ("!env=prod", "the name must be"),
    ("-env", "the name must be"),
    ("env=-x", "must be empty or"),
    ("Bad.Prefix/env", "prefix before '/' must be"),
    (",".join(f"k{i}" for i in range(65)), "at most 64"),
]


@pytest.mark.parametrize(("selector", "words"), MALFORMED)
def test_a_malformed_selector_is_refused_in_words(
    fleet: tuple[Customer, dict[str, int]], selector: str, words: str
) -> None:
    r = fleet[0].http.get("/api/v1/servers/", params={"label_selector": selector})
    error = assert_field_error(r, "label_selector")
    assert words in error["message"], error


# --- the OpenAPI document's patterns say what the checks accept ------------------------
# (schemathesis sends what they allow and expects it accepted, and the rest refused)


def _matches(pattern: str, text: str) -> bool:
    return re.search(pattern.replace("$", r"\Z"), text) is not None


@pytest.mark.parametrize("labels", VALID)
def test_the_schema_patterns_allow_each_valid_label(labels: dict[str, str]) -> None:
    for key, value in labels.items():
        assert _matches(KEY_PATTERN, key) and _matches(VALUE_PATTERN, value), (key, value)


@pytest.mark.parametrize(("labels", "words"), INVALID)
def test_the_schema_patterns_refuse_each_invalid_label(labels: dict[str, str], words: str) -> None:
    ((key, value),) = labels.items()
    assert not (_matches(KEY_PATTERN, key) and len(value) <= 63 and _matches(VALUE_PATTERN, value))


@pytest.mark.parametrize("selector", [s for s, _ in SELECTORS] + ["a/b", "!example.com/x", "k==", "k!="])
def test_the_selector_pattern_allows_each_valid_selector(selector: str) -> None:
    assert _matches(SELECTOR_PATTERN, selector)
    assert parse_selector(selector)


@pytest.mark.parametrize(("selector", "words"), MALFORMED)
def test_the_selector_pattern_refuses_each_malformed_selector(selector: str, words: str) -> None:
    assert not _matches(SELECTOR_PATTERN, selector)
    with pytest.raises(ValidationFailed):
        parse_selector(selector)


def test_the_selector_pattern_bounds_the_prefix_as_the_check_does() -> None:
    assert _matches(SELECTOR_PATTERN, "p" * 253 + "/n=v")
    assert not _matches(SELECTOR_PATTERN, "p" * 254 + "/n=v")
    assert not _matches(SELECTOR_PATTERN, "a," + "p" * 254 + "/n")
    with pytest.raises(ValidationFailed):
        parse_selector("a," + "p" * 254 + "/n")


def test_the_openapi_document_has_the_patterns(live: Live) -> None:
    doc = httpx.get(f"{live.url}/openapi.json").json()
    (param,) = [
        p for p in doc["paths"]["/api/v1/servers/"]["get"]["parameters"] if p["name"] == "label_selector"
    ]
    assert param["schema"]["anyOf"][0] == {"type": "string", "pattern": SELECTOR_PATTERN}
    assert "k!=v" in param["description"]
    for body in ("ServerCreate", "ServerReplace", "ServerPatch"):
        labels = doc["components"]["schemas"][body]["properties"]["labels"]
        assert labels["propertyNames"] == {"pattern": KEY_PATTERN}, body
        assert labels["additionalProperties"]["pattern"] == VALUE_PATTERN, body
        assert labels["maxProperties"] == 64, body
        assert "default" not in labels or labels["default"] == {}, body
