"""The validation matrix: every bad request is 400 with the one error body, never 422 or 500."""

import json
from typing import Any

import httpx
import pytest

from tests.conftest import Customer, Live

VALID = {"name": "web-1", "plan_id": 1, "os_id": 5, "location": "us-west"}


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is `status` with the one error body and `code`; return its error object."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    return dict(error)


def field_names(error: dict[str, Any]) -> list[str]:
    fields = error["details"]["fields"]
    assert isinstance(fields, list) and fields, error
    for f in fields:
        assert set(f) == {"name", "message"}, f
        assert isinstance(f["name"], str) and isinstance(f["message"], str) and f["message"]
    return [f["name"] for f in fields]


def assert_field_error(r: httpx.Response, field: str) -> dict[str, Any]:
    error = assert_error(r, 400, "validation_error")
    names = field_names(error)
    assert field in names, (field, error)
    return error


def server_count(customer: Customer) -> int:
    r = customer.http.get("/api/v1/servers/")
    assert r.status_code == 200, r.text
    return int(r.json()["count"])


@pytest.fixture(scope="module")
def shared(live: Live) -> Customer:
    """One account for the POST matrix; it must end the module with no servers."""
    return live.account()


@pytest.fixture(scope="module")
def patch_target(live: Live) -> tuple[Customer, int]:
    """An account with one server, for PUT/PATCH cases."""
    owner = live.account()
    return owner, owner.create_server(name="target", hostname="target.example.com")["id"]


# --- POST /api/v1/servers/: the body ---------------------------------------------------


@pytest.mark.parametrize("missing", ["name", "plan_id", "os_id", "location"])
def test_create_missing_required_field(shared: Customer, missing: str) -> None:
    body = {k: v for k, v in VALID.items() if k != missing}
    error = assert_field_error(shared.http.post("/api/v1/servers/", json=body), missing)
    assert missing in error["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("plan_id", "1"),
        ("plan_id", 1.5),
        ("plan_id", True),
        ("plan_id", None),
        ("plan_id", 0),
        ("plan_id", -1),
        ("plan_id", 10**30),
        ("plan_id", 2**31),
        ("os_id", "5"),
        ("os_id", [5]),
        ("ssh_key_id", "1"),
        ("ssh_key_id", 10**30),
        ("backups_enabled", "yes"),
        ("backups_enabled", 1),
        ("backups_enabled", "true"),
        ("name", 5),
        ("name", ["web"]),
        ("location", 1),
        ("location", ""),
        ("location", "x" * 41),
        ("hostname", 5),
    ],
)
def test_create_wrongly_typed_field(shared: Customer, field: str, value: Any) -> None:
    assert_field_error(shared.http.post("/api/v1/servers/", json=VALID | {field: value}), field)


def test_create_float_that_is_whole_is_still_not_an_integer(shared: Customer) -> None:
    r = shared.http.post(
        "/api/v1/servers/",
        content=b'{"name": "web-1", "plan_id": 1.0, "os_id": 5, "location": "us-west"}',
        headers={"Content-Type": "application/json"},
    )
    assert_field_error(r, "plan_id")


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b'{"name": "web-1",}',
        b"{'name': 'web-1'}",
        b'{"name": "web-1", "plan_id": 1',
        b"not json",
        b'{"name": "web-1"} trailing',
        b"\xff\xfe\x00",
    ],
)
def test_create_malformed_json_is_invalid_json(shared: Customer, raw: bytes) -> None:
    r = shared.http.post("/api/v1/servers/", content=raw, headers={"Content-Type": "application/json"})
    error = assert_error(r, 400, "invalid_json")
    assert error["details"] == {}


@pytest.mark.parametrize("doc", [[], [VALID], "web-1", 42, 1.5, True, None])
def test_create_body_that_is_not_an_object(shared: Customer, doc: Any) -> None:
    r = shared.http.post(
        "/api/v1/servers/", content=json.dumps(doc), headers={"Content-Type": "application/json"}
    )
    error = assert_error(r, 400, "validation_error")
    assert field_names(error) == ["body"]


@pytest.mark.parametrize("content_type", [None, "application/json"])
def test_create_empty_body(shared: Customer, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    r = shared.http.post("/api/v1/servers/", content=b"", headers=headers)
    assert field_names(assert_error(r, 400, "validation_error")) == ["body"]


def test_create_form_encoded_body_is_400(shared: Customer) -> None:
    r = shared.http.post("/api/v1/servers/", data={"name": "web-1", "plan_id": "1"})
    assert_error(r, 400, "validation_error")


def test_create_number_too_long_to_parse_is_400(shared: Customer) -> None:
    raw = b'{"name": "web-1", "plan_id": ' + b"9" * 5000 + b', "os_id": 5, "location": "us-west"}'
    r = shared.http.post("/api/v1/servers/", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] in ("invalid_json", "validation_error")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("plan_id", 999),
        ("plan_id", 2**31 - 1),
        ("os_id", 999),
        ("location", "mars-1"),
        ("ssh_key_id", 999999),
    ],
)
def test_create_unknown_reference(shared: Customer, field: str, value: Any) -> None:
    error = assert_field_error(shared.http.post("/api/v1/servers/", json=VALID | {field: value}), field)
    assert error["details"]["fields"] == [
        {"name": field, "message": error["details"]["fields"][0]["message"]}
    ]
    assert str(value) in error["message"]


def test_create_with_another_accounts_ssh_key(shared: Customer, live: Live) -> None:
    from tests.ssh_keys.test_ssh_keys import ed25519_public_key

    other = live.account()
    r = other.http.post("/api/v1/ssh-keys/", json={"name": "theirs", "public_key": ed25519_public_key()})
    assert r.status_code == 201, r.text
    key_id = r.json()["id"]
    r = shared.http.post("/api/v1/servers/", json=VALID | {"ssh_key_id": key_id})
    error = assert_field_error(r, "ssh_key_id")
    # Indistinguishable from a key id that does not exist at all.
    missing = assert_field_error(
        shared.http.post("/api/v1/servers/", json=VALID | {"ssh_key_id": 2**31 - 1}), "ssh_key_id"
    )
    assert error["message"].replace(str(key_id), "N") == missing["message"].replace(str(2**31 - 1), "N")


INVALID_NAMES = [
    "",
    "a" * 64,
    "-web",
    "web-",
    "-",
    "web_1",
    "web.1",
    "web 1",
    " web",
    "web\n",
    "wéb",
    "сервер",
    "web\u200b1",
    "😀",
]


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_create_invalid_name(shared: Customer, name: str) -> None:
    assert_field_error(shared.http.post("/api/v1/servers/", json=VALID | {"name": name}), "name")


INVALID_HOSTNAMES = [
    "",
    "a" * 64,
    "-web01",
    "web01-",
    "web_01",
    "-a.example.com",
    "a-.example.com",
    "a..b",
    ".example.com",
    "example.com.",
    "a" * 64 + ".example.com",
    ".".join(["a" * 63] * 4),  # 255 characters
    ".".join(["a" * 50] * 5),  # 254 characters
    "a.123",
    "web01.example.123",
    "web_01.example.com",
    "web01.exa_mple.com",
    "web 01.example.com",
    "wéb.example.com",
    "web01.example.com\n",
    "web01.example.com/x",
    "web01.example.com:80",
    "*.example.com",
    "203.0.113.10",
]


@pytest.mark.parametrize("hostname", INVALID_HOSTNAMES)
def test_create_invalid_hostname(shared: Customer, hostname: str) -> None:
    r = shared.http.post("/api/v1/servers/", json=VALID | {"hostname": hostname})
    assert_field_error(r, "hostname")


@pytest.mark.parametrize("field", ["status", "ip_address", "id", "foo", "ipv6_address", "account_id"])
def test_create_unknown_or_read_only_field(shared: Customer, field: str) -> None:
    assert_field_error(shared.http.post("/api/v1/servers/", json=VALID | {field: "x"}), field)


def test_create_several_errors_are_all_named(shared: Customer) -> None:
    r = shared.http.post("/api/v1/servers/", json={"name": "_bad_", "plan_id": "1", "foo": 1})
    names = set(field_names(assert_error(r, 400, "validation_error")))
    assert {"name", "plan_id", "os_id", "location", "foo"} <= names


def test_no_failed_create_made_a_server(shared: Customer, live: Live) -> None:
    """Runs after the matrix above (file order): the account still has no servers at all."""
    from sqlalchemy import func, select

    from vpsorg.servers.models import Server

    assert server_count(shared) == 0
    rows = live.db(
        lambda s: s.scalar(
            select(func.count()).select_from(Server).where(Server.account_id == shared.account_id)
        )
    )
    assert rows == 0


def test_validation_errors_are_400_for_an_authenticated_customer(customer: Customer) -> None:
    """Not a 401 dressed up: a good token and a bad body give validation_error, and nothing is made."""
    r = customer.http.post("/api/v1/servers/", json={"name": "ok"})
    assert_field_error(r, "plan_id")
    r = customer.http.post("/api/v1/servers/", json=VALID | {"plan_id": 10**30})
    assert_field_error(r, "plan_id")
    assert server_count(customer) == 0


# --- valid names and hostnames ------------------------------------------------------------


def test_create_accepts_a_63_character_name_and_a_253_character_hostname(customer: Customer) -> None:
    name = "a" + "b" * 61 + "9"
    hostname = ".".join(["a" * 63] * 3 + ["b" * 61])
    assert len(name) == 63 and len(hostname) == 253
    created = customer.create_server(name=name, hostname=hostname, location="us-east")
    assert created["name"] == name and created["hostname"] == hostname
    assert server_count(customer) == 1


@pytest.mark.parametrize("name", ["a", "Z", "7", "0123456789", "a" * 63, "web-server-01", "a-b", "A--B"])
def test_valid_names(patch_target: tuple[Customer, int], name: str) -> None:
    owner, sid = patch_target
    r = owner.http.patch(f"/api/v1/servers/{sid}/", json={"name": name})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == name
    assert owner.http.get(f"/api/v1/servers/{sid}/").json()["name"] == name


@pytest.mark.parametrize(
    "hostname",
    [
        "a",
        "web01",
        "localhost",
        "7",
        "0123456789",
        "a" * 63,
        "a.b",
        "web01.example.com",
        "123.example.com",
        "web-01.example.co.uk",
        "xn--bcher-kva.example",
        "a1.b2.c3.d4.io",
        "a" * 63 + ".example.com",
        "web01.example.x1",
    ],
)
def test_valid_hostnames(patch_target: tuple[Customer, int], hostname: str) -> None:
    owner, sid = patch_target
    r = owner.http.patch(f"/api/v1/servers/{sid}/", json={"hostname": hostname})
    assert r.status_code == 200, r.text
    assert r.json()["hostname"] == hostname


def test_a_single_label_hostname_is_taken_at_create_as_the_default_one_is(customer: Customer) -> None:
    """RFC 1123 host names of one label: what a server without a hostname gets (its name)
    may be given too, in PUT as well."""
    default = customer.create_server(name="Web-7", location="us-east")
    assert default["hostname"] == "web-7"
    given = customer.create_server(name="web-8", hostname="DB01", location="us-east")
    assert given["hostname"] == "db01"
    r = customer.http.put(
        f"/api/v1/servers/{given['id']}/",
        json={"name": "web-8", "hostname": "db02", "backups_enabled": False},
    )
    assert r.status_code == 200, r.text
    assert customer.http.get(f"/api/v1/servers/{given['id']}/").json()["hostname"] == "db02"


def test_hostname_is_stored_in_lower_case(patch_target: tuple[Customer, int]) -> None:
    owner, sid = patch_target
    r = owner.http.patch(f"/api/v1/servers/{sid}/", json={"hostname": "Web01.Example.COM"})
    assert r.status_code == 200, r.text
    assert r.json()["hostname"] == "web01.example.com"


# --- PUT and PATCH ------------------------------------------------------------------------

PUT_BODY = {"name": "web-put", "hostname": "put.example.com", "backups_enabled": True}


@pytest.mark.parametrize("missing", ["name", "hostname", "backups_enabled"])
def test_put_missing_field(patch_target: tuple[Customer, int], missing: str) -> None:
    owner, sid = patch_target
    before = owner.http.get(f"/api/v1/servers/{sid}/").json()
    body = {k: v for k, v in PUT_BODY.items() if k != missing}
    assert_field_error(owner.http.put(f"/api/v1/servers/{sid}/", json=body), missing)
    after = owner.http.get(f"/api/v1/servers/{sid}/").json()
    assert (after["name"], after["hostname"], after["backups_enabled"]) == (
        before["name"],
        before["hostname"],
        before["backups_enabled"],
    )


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "active"),
        ("ip_address", "203.0.113.99"),
        ("plan_id", 2),
        ("os_id", 3),
        ("location", "us-east"),
        ("id", 1),
        ("foo", "bar"),
        ("ssh_key_id", 1),
    ],
)
def test_put_and_patch_reject_read_only_and_unknown_fields(
    patch_target: tuple[Customer, int], method: str, field: str, value: Any
) -> None:
    owner, sid = patch_target
    before = owner.http.get(f"/api/v1/servers/{sid}/").json()
    body = (PUT_BODY if method == "PUT" else {"name": "changed"}) | {field: value}
    assert_field_error(owner.http.request(method, f"/api/v1/servers/{sid}/", json=body), field)
    after = owner.http.get(f"/api/v1/servers/{sid}/").json()
    for key in ("name", "hostname", "backups_enabled", "plan", "os", "location", "id"):
        assert after[key] == before[key], key


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "bad_name"),
        ("name", ""),
        ("hostname", "web_01"),
        ("hostname", "a..b"),
        ("backups_enabled", "yes"),
    ],
)
def test_put_and_patch_validate_values(patch_target: tuple[Customer, int], field: str, value: Any) -> None:
    owner, sid = patch_target
    assert_field_error(owner.http.put(f"/api/v1/servers/{sid}/", json=PUT_BODY | {field: value}), field)
    assert_field_error(owner.http.patch(f"/api/v1/servers/{sid}/", json={field: value}), field)


def test_patch_empty_object(patch_target: tuple[Customer, int]) -> None:
    owner, sid = patch_target
    error = assert_error(owner.http.patch(f"/api/v1/servers/{sid}/", json={}), 400, "validation_error")
    assert field_names(error) == ["body"]
    assert "at least one" in error["message"]


@pytest.mark.parametrize("field", ["name", "hostname", "backups_enabled"])
def test_patch_null_value(patch_target: tuple[Customer, int], field: str) -> None:
    owner, sid = patch_target
    before = owner.http.get(f"/api/v1/servers/{sid}/").json()
    error = assert_field_error(owner.http.patch(f"/api/v1/servers/{sid}/", json={field: None}), field)
    assert "null" in error["message"]
    assert owner.http.get(f"/api/v1/servers/{sid}/").json()[field] == before[field]


@pytest.mark.parametrize("field", ["name", "hostname", "backups_enabled"])
def test_put_null_value(patch_target: tuple[Customer, int], field: str) -> None:
    owner, sid = patch_target
    assert_field_error(owner.http.put(f"/api/v1/servers/{sid}/", json=PUT_BODY | {field: None}), field)


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("raw", [b"{", b"[]", b'"x"', b""])
def test_put_and_patch_bad_bodies(patch_target: tuple[Customer, int], method: str, raw: bytes) -> None:
    owner, sid = patch_target
    r = owner.http.request(
        method, f"/api/v1/servers/{sid}/", content=raw, headers={"Content-Type": "application/json"}
    )
    assert_error(r, 400, "invalid_json" if raw == b"{" else "validation_error")


def test_patch_with_a_missing_id_and_a_bad_body_is_still_400(customer: Customer) -> None:
    """Body validation happens before the lookup: a bad body never reveals whether an id exists."""
    r = customer.http.patch(f"/api/v1/servers/{2**31 - 1}/", json={"name": "bad_name"})
    assert_field_error(r, "name")


# --- query and path parameters --------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"status": "ACTIVE"}, "status"),
        ({"status": ""}, "status"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "201"}, "page_size"),
        ({"page_size": "-1"}, "page_size"),
        ({"page_size": "1.5"}, "page_size"),
        ({"page": "0"}, "page"),
        ({"page": "-3"}, "page"),
        ({"page": "abc"}, "page"),
        ({"page": str(10**30)}, "page"),
        ({"location": "x" * 41}, "location"),
    ],
)
def test_list_bad_query_parameters(customer: Customer, params: dict[str, str], field: str) -> None:
    assert_field_error(customer.http.get("/api/v1/servers/", params=params), field)


@pytest.mark.parametrize(
    "params", [{"page_size": "1"}, {"page_size": "200"}, {"page": "1"}, {"status": "active"}]
)
def test_list_boundary_query_parameters_are_accepted(customer: Customer, params: dict[str, str]) -> None:
    r = customer.http.get("/api/v1/servers/", params=params)
    assert r.status_code == 200, r.text
    assert r.json()["count"] == 0


SERVER_PATHS = [
    ("GET", "/api/v1/servers/{}/"),
    ("PUT", "/api/v1/servers/{}/"),
    ("PATCH", "/api/v1/servers/{}/"),
    ("DELETE", "/api/v1/servers/{}/"),
    ("POST", "/api/v1/servers/{}/start/"),
    ("POST", "/api/v1/servers/{}/stop/"),
    ("POST", "/api/v1/servers/{}/reboot/"),
    ("GET", "/api/v1/servers/{}/actions/"),
    ("GET", "/api/v1/ssh-keys/{}/"),
    ("DELETE", "/api/v1/ssh-keys/{}/"),
    ("GET", "/api/v1/actions/{}/"),
]


def _body_for(method: str) -> dict[str, Any] | None:
    return {"PUT": PUT_BODY, "PATCH": {"name": "x"}}.get(method)


@pytest.mark.parametrize(("method", "template"), SERVER_PATHS)
@pytest.mark.parametrize("bad_id", ["abc", "0", "-1", "1.5", "99999999999", str(2**31), "1e3"])
def test_bad_path_ids_are_400(customer: Customer, method: str, template: str, bad_id: str) -> None:
    """An id that cannot be an id (not a positive 32-bit integer) is 400 validation_error."""
    r = customer.http.request(method, template.format(bad_id), json=_body_for(method))
    names = field_names(assert_error(r, 400, "validation_error"))
    assert len(names) == 1 and names[0].endswith("_id"), names


@pytest.mark.parametrize(("method", "template"), SERVER_PATHS)
def test_well_formed_missing_ids_are_404(customer: Customer, method: str, template: str) -> None:
    r = customer.http.request(method, template.format(2**31 - 1), json=_body_for(method))
    error = assert_error(r, 404, "not_found")
    assert error["details"] == {}


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("name", "web 1", "1-63 letters, digits and hyphens"),
        ("name", "-web", "not starting or ending with a hyphen"),
        ("name", "web\n", "1-63 letters, digits and hyphens"),
        ("hostname", "web 01.example.com", "must be a host name such as web01 or a fully qualified"),
    ],
)
def test_a_bad_name_is_refused_in_words_not_a_pattern(
    shared: Customer, field: str, value: str, words: str
) -> None:
    error = assert_field_error(shared.http.post("/api/v1/servers/", json=VALID | {field: value}), field)
    [message] = [f["message"] for f in error["details"]["fields"] if f["name"] == field]
    for text in (message, error["message"]):
        assert words in text, error
        assert not any(raw in text for raw in ("pattern", "[A-Za-z", "Value error")), error
