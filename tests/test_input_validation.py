"""No input causes a 500 or reaches the database malformed: JSON nested too deep, bodies sent to
power actions, control characters in any string field or query parameter, path ids that are not
plain integers. The operations, fields and parameters come from the app's OpenAPI document, so a
new one is covered without editing this file."""

from typing import Any

import httpx
import pytest

from tests.conftest import Customer, Live, new_public_key

DEEP = "[" * 100_000 + "]" * 100_000
ODD_IDS = ["1.0", "+1", "01", "%201", " 1", "1_000", "0x1", "1e0"]
CONTROLS = [chr(c) for c in [*range(0x20), 0x7F]]


@pytest.fixture(scope="module")
def doc(live: Live) -> dict[str, Any]:
    return dict(httpx.get(f"{live.url}/openapi.json").json())


@pytest.fixture(scope="module")
def admin(live: Live) -> Customer:
    return live.account(scope="admin")


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, item in doc["paths"].items() for m, op in item.items()]


def body_operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = [(m, p, op) for m, p, op in operations(doc) if "requestBody" in op]
    assert len(found) >= 7  # create, PUT, PATCH, SSH key, credit, suspend, unsuspend
    return found


def url(path: str, value: str = "1") -> str:
    return "".join(value if part.startswith("{") else part for part in _split(path))


def _split(path: str) -> list[str]:
    parts: list[str] = []
    for piece in path.split("{"):
        if "}" in piece:
            name, rest = piece.split("}", 1)
            parts += ["{" + name + "}", rest]
        else:
            parts.append(piece)
    return parts


def schema_of(doc: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    for member in [schema, *schema.get("anyOf", [])]:
        if "$ref" in member:
            return dict(doc["components"]["schemas"][member["$ref"].rsplit("/", 1)[1]])
    raise AssertionError(schema)


def string_fields(schema: dict[str, Any]) -> list[str]:
    names = []
    for name, prop in schema["properties"].items():
        members = [prop, *prop.get("anyOf", [])]
        if any(m.get("type") == "string" and "enum" not in m for m in members):
            names.append(name)
    return names


def field_names(r: httpx.Response) -> list[str]:
    return [f["name"] for f in r.json()["error"]["details"].get("fields", [])]


def assert_validation_error(r: httpx.Response, field: str) -> None:
    assert r.status_code == 400, (r.request.method, r.request.url, r.text)
    assert r.json()["error"]["code"] == "validation_error", r.text
    assert field in field_names(r), r.text


def test_json_nested_too_deep_is_a_400_on_every_operation_that_takes_a_body(
    doc: dict[str, Any], admin: Customer
) -> None:
    headers = {"Content-Type": "application/json"}
    too_deep = '{"name": ' + "[" * 33 + "]" * 33 + "}"  # valid JSON, just over the limit
    for method, path, _ in body_operations(doc):
        for body in (DEEP, too_deep):
            r = admin.http.request(method, url(path), content=body, headers=headers)
            assert_validation_error(r, "body")
            assert "nested more than 32 levels" in r.json()["error"]["message"]
        ok_depth = '{"name": ' + "[" * 30 + "]" * 30 + "}"  # within the limit: an ordinary error
        r = admin.http.request(method, url(path), content=ok_depth, headers=headers)
        assert r.status_code == 400 and "nested" not in r.text, r.text


def test_power_actions_take_no_body(live: Live) -> None:
    customer = live.account()
    server = customer.active_server()
    sid = server["id"]
    for verb in ("stop", "start", "reboot"):
        for key in (None, f"deep-{verb}"):
            headers = {"Content-Type": "application/json"} | ({"Idempotency-Key": key} if key else {})
            for body in ("[" * 5000 + "]" * 5000, DEEP, "{}", '{"force": true}'):
                r = customer.http.post(f"/api/v1/servers/{sid}/{verb}/", content=body, headers=headers)
                assert_validation_error(r, "body")
    # As the seed's examples send them: no body (curl -X POST, requests.post, fetch), with or
    # without Content-Type; an empty one; with an Idempotency-Key.
    r = customer.http.post(f"/api/v1/servers/{sid}/stop/", headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    customer.wait_status(sid, "stopped")
    r = customer.http.post(f"/api/v1/servers/{sid}/start/", content=b"", headers={"Idempotency-Key": "k1"})
    assert r.status_code == 200, r.text
    customer.wait_status(sid, "active")
    r = customer.http.post(f"/api/v1/servers/{sid}/reboot/")
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("bad", ["\x00", "\x1f", "\x7f", "\n", "\t"])
def test_control_characters_in_every_string_field_are_a_400_naming_it(
    doc: dict[str, Any], admin: Customer, bad: str
) -> None:
    checked = set()
    for method, path, op in body_operations(doc):
        schema = schema_of(doc, op)
        for name in string_fields(schema):
            r = admin.http.request(method, url(path), json={name: f"us{bad}west"})
            checked.add(f"{schema['title']}.{name}")
            if name == "public_key" and bad in "\t\n":
                continue  # a key file's whitespace: folded into spaces
            if name == "user_data" and bad in "\t\n":
                continue  # a cloud-init document's lines and indents (tests/servers/test_user_data.py)
            assert_validation_error(r, name)
    assert {"ServerCreate.location", "SshKeyCreate.public_key", "CreditIn.reason"} <= checked


@pytest.mark.parametrize("bad", CONTROLS)
def test_no_control_character_reaches_the_database(live: Live, bad: str) -> None:
    """Otherwise valid requests: a NUL was stored on SQLite and a 503 on PostgreSQL."""
    customer = live.account()
    r = customer.http.post(
        "/api/v1/ssh-keys/", json={"name": "k", "public_key": new_public_key() + bad + "x"}
    )
    if bad in "\t\n\r":
        assert r.status_code == 201, r.text
        assert r.json()["public_key"].endswith(" x")
    else:
        assert_validation_error(r, "public_key")
    body = {"name": "web-1", "plan_id": 1, "os_id": 5, "location": "us-west" + bad}
    assert_validation_error(customer.http.post("/api/v1/servers/", json=body), "location")
    assert_validation_error(
        customer.http.get("/api/v1/servers/", params={"location": "us" + bad}), "location"
    )
    assert customer.http.get("/api/v1/ssh-keys/").json()["count"] == (1 if bad in "\t\n\r" else 0)


def test_control_characters_in_every_query_parameter_are_a_400_naming_it(
    doc: dict[str, Any], admin: Customer
) -> None:
    checked = set()
    for method, path, op in operations(doc):
        for param in op.get("parameters", []):
            if param["in"] != "query":
                continue
            r = admin.http.request(method, url(path), params={param["name"]: "us\x00west"})
            assert_validation_error(r, param["name"])
            checked.add(param["name"])
    assert {"location", "status", "page", "page_size"} <= checked


def test_every_path_id_must_be_plain_digits(doc: dict[str, Any], admin: Customer) -> None:
    checked = 0
    for method, path, op in operations(doc):
        path_params = [p for p in op.get("parameters", []) if p["in"] == "path"]
        for param in path_params:  # the document says what is accepted
            assert (param["schema"]["minimum"], param["schema"]["maximum"]) == (1, 2**31 - 1), param
        names = [p["name"] for p in path_params]
        for name in names:
            for odd in ODD_IDS:
                r = admin.http.request(method, url(path, odd))
                assert_validation_error(r, name)
                checked += 1
    assert checked >= 15 * len(ODD_IDS)  # servers, actions, SSH keys, admin
