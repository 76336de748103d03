"""User data at create: up to 64 KiB of UTF-8 kept for the driver, refused in words beyond,
checked by the dry run too, and never shown again: not by the API's representations, the
admin API, the panel, or the logs. Over HTTP on the database under test (SQLite, or
PostgreSQL with VPSORG_TEST_DATABASE_URL)."""

import hashlib
import logging
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.admin.operators import operator
from tests.conftest import Customer, Live
from tests.servers.test_validation import assert_field_error
from tests.web.panel import signed_in
from vpsorg.drivers.simtables import SimMachine
from vpsorg.servers.models import Server

BODY = {"name": "web-1", "plan_id": 1, "os_id": 5, "location": "us-west"}
LIMIT = 64 * 1024


def marked(size: int = 0) -> str:
    """A cloud-config with a unique marker (searched for in every response), padded with
    comment lines to `size` bytes of UTF-8 when given."""
    text = f"#cloud-config\n# marker-{uuid.uuid4().hex}\nruncmd:\n  - echo hé > /root/x\n"
    if size:
        pad = size - len(text.encode())
        text += "#" * (pad - 1) + "\n"
        assert len(text.encode()) == size
    return text


def create(customer: Customer, user_data: Any, params: dict[str, str] | None = None) -> httpx.Response:
    return customer.http.post("/api/v1/servers/", params=params, json=BODY | {"user_data": user_data})


def kept(live: Live, server_id: int) -> str | None:
    return live.db(lambda s: s.scalar(select(Server.user_data).where(Server.id == server_id)))


def test_user_data_is_kept_and_not_shown(customer: Customer) -> None:
    user_data = marked()
    r = create(customer, user_data)
    assert r.status_code == 201, r.text
    assert "user_data" not in r.json() and "marker-" not in r.text
    assert kept(customer.live, r.json()["id"]) == user_data


def test_64_kib_of_utf8_exactly_is_accepted(customer: Customer) -> None:
    user_data = marked(LIMIT)
    assert len(user_data) < LIMIT  # the é: fewer characters than bytes
    r = create(customer, user_data)
    assert r.status_code == 201, r.text
    assert kept(customer.live, r.json()["id"]) == user_data


def test_a_byte_more_is_refused_in_words_and_creates_nothing(customer: Customer) -> None:
    before = customer.live.db(lambda s: s.scalar(select(func.count()).select_from(Server)))
    error = assert_field_error(create(customer, marked(LIMIT + 1)), "user_data")
    assert "64 KiB" in error["message"] and "65537 bytes" in error["message"], error
    assert "marker-" not in str(error)  # the refusal does not echo the data back
    assert customer.live.db(lambda s: s.scalar(select(func.count()).select_from(Server))) == before


def test_no_user_data_and_null_are_the_same(customer: Customer) -> None:
    r = customer.http.post("/api/v1/servers/", json=BODY)
    assert r.status_code == 201, r.text
    assert kept(customer.live, r.json()["id"]) is None
    r = create(customer, None)
    assert r.status_code == 201, r.text
    assert kept(customer.live, r.json()["id"]) is None


def test_user_data_must_be_a_string_without_odd_control_characters(customer: Customer) -> None:
    assert_field_error(create(customer, {"runcmd": []}), "user_data")
    assert_field_error(create(customer, "#!/bin/sh\n\x00"), "user_data")
    # Tabs and line endings are what scripts are made of.
    assert create(customer, "#!/bin/sh\r\n\techo hi\n").status_code == 201


def test_the_dry_run_checks_it_too(customer: Customer) -> None:
    dry = {"dry_run": "true"}
    assert create(customer, marked(LIMIT), dry).status_code == 200
    assert_field_error(create(customer, marked(LIMIT + 1), dry), "user_data")


def test_user_data_reaches_the_driver(customer: Customer) -> None:
    user_data = marked()
    sid = create(customer, user_data).json()["id"]
    customer.wait_status(sid, "active")
    digest = customer.live.db(
        lambda s: s.scalar(select(SimMachine.user_data_sha256).where(SimMachine.server_id == sid))
    )
    assert digest == hashlib.sha256(user_data.encode()).hexdigest()
    bare = customer.create_server()["id"]
    customer.wait_status(bare, "active")
    assert customer.live.db(lambda s: s.get(SimMachine, bare)).user_data_sha256 is None


def test_never_in_any_representation_admin_view_panel_page_or_log(
    live: Live, customer: Customer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="vpsorg")  # the product's logs (the API's and the worker's)
    caplog.set_level(logging.DEBUG, logger="uvicorn")
    user_data = marked()
    marker = user_data.splitlines()[1].removeprefix("# ")
    sid = create(customer, user_data).json()["id"]
    customer.wait_status(sid, "active")
    url = f"/api/v1/servers/{sid}/"
    seen = [
        customer.http.get(url),
        customer.http.get("/api/v1/servers/"),
        customer.http.put(
            url, json={"name": "web-2", "hostname": "web-2.example.com", "backups_enabled": False}
        ),
        customer.http.patch(url, json={"name": "web-3"}),
        customer.http.get(f"/api/v1/servers/{sid}/actions/"),
    ]
    admin = operator(live).http
    seen += [admin.get("/api/v1/admin/servers/"), admin.get(f"/api/v1/admin/servers/{sid}/")]
    panel, _ = signed_in(live, admin=True)
    seen += [panel.get(f"/admin/servers/{sid}/"), panel.get("/admin/servers/")]
    for r in seen:
        assert r.status_code == 200, (r.request.url, r.text)
        assert marker not in r.text and "user_data" not in r.text, r.request.url
    assert caplog.records, "no log captured: the check below would prove nothing"
    assert marker not in caplog.text
    assert user_data.encode() == (kept(live, sid) or "").encode()  # still kept, for a retried create
