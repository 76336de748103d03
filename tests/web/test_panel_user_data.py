"""User data on the panel's create form, over real HTTP: what is typed reaches the server
(lines as typed, not the browser's CRLF), is never shown again, and an oversized document is
refused in words beside the field with nothing created."""

import re

from sqlalchemy import select

from tests.conftest import Live
from tests.web.test_servers_pages import new_form, panel_customer
from vpsorg.servers.models import Server

DOCUMENT = "#cloud-config\r\nruncmd:\r\n  - [touch, /root/panel-marker-7f3a]\r\n"


def stored(live: Live, server_id: int) -> str | None:
    return live.db(lambda s: s.scalar(select(Server.user_data).where(Server.id == server_id)))


def test_user_data_typed_in_the_form_reaches_the_server_and_is_not_shown(live: Live) -> None:
    http, customer = panel_customer(live)
    done = http.post("/servers/new", data=new_form(http, name="seeded", user_data=DOCUMENT))
    assert done.status_code == 303, done.text
    server_id = int(done.headers["location"].split("/")[2])
    assert stored(live, server_id) == DOCUMENT.replace("\r\n", "\n")
    assert "panel-marker-7f3a" not in http.get(f"/servers/{server_id}/").text
    assert "panel-marker-7f3a" not in customer.http.get(f"/api/v1/servers/{server_id}/").text


def test_an_empty_user_data_field_sends_none(live: Live) -> None:
    http, _ = panel_customer(live)
    done = http.post("/servers/new", data=new_form(http, name="plain", user_data="  \r\n"))
    assert done.status_code == 303, done.text
    assert stored(live, int(done.headers["location"].split("/")[2])) is None


def test_oversized_user_data_is_refused_in_words_beside_the_field(live: Live) -> None:
    http, customer = panel_customer(live)
    answer = http.post(
        "/servers/new", data=new_form(http, name="big", user_data="#!/bin/sh\n" + "x" * 65_536)
    )
    assert answer.status_code == 400, answer.text
    error = re.search(r'<span class="field-error" id="user_data-error">([^<]+)</span>', answer.text)
    assert error and "at most 64 KiB" in error.group(1), answer.text
    assert customer.http.get("/api/v1/servers/").json()["count"] == 0
