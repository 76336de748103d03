"""A server created from a snapshot in the panel, over real HTTP: a snapshot's "New server
from it" link opens the create form with it chosen, the order sends it as the API's
snapshot_id (the server takes the snapshot's OS), and another account's snapshot is refused
in words with nothing created."""

import re
import time
from typing import Any

from tests.conftest import Customer, Live
from tests.web.panel import form_csrf
from tests.web.test_servers_pages import new_form, panel_customer


def available_snapshot(customer: Customer, name: str) -> dict[str, Any]:
    server = customer.active_server(name=f"{name}-src")
    r = customer.http.post(f"/api/v1/servers/{server['id']}/snapshots/", json={"name": name})
    assert r.status_code == 202, r.text
    snap_id = r.json()["snapshot"]["id"]
    deadline = time.monotonic() + 20
    while (snap := customer.http.get(f"/api/v1/snapshots/{snap_id}/").json())["status"] != "available":
        assert time.monotonic() < deadline, snap
        time.sleep(0.1)
    return dict(snap)


def test_new_server_from_a_snapshot(live: Live) -> None:
    http, customer = panel_customer(live)
    snap = available_snapshot(customer, "golden")
    listing = http.get("/snapshots/").text
    link = f'href="/servers/new?snapshot={snap["id"]}"'
    assert link in listing
    assert link in http.get(f"/servers/{snap['server_id']}/").text
    form = http.get(f"/servers/new?snapshot={snap['id']}").text
    assert re.search(rf'<option value="snapshot:{snap["id"]}" selected>golden \(snapshot, \d+ GB, ', form)
    assert '<label for="os">Operating system or snapshot</label>' in form
    done = http.post("/servers/new", data=new_form(http, name="copy", os_id=f"snapshot:{snap['id']}"))
    assert done.status_code == 303, done.text
    server_id = int(done.headers["location"].split("/")[2])
    made = customer.http.get(f"/api/v1/servers/{server_id}/").json()
    source = customer.http.get(f"/api/v1/servers/{snap['server_id']}/").json()
    assert made["os"] == source["os"] and made["name"] == "copy"


def test_another_accounts_snapshot_is_refused_in_words(live: Live) -> None:
    http, customer = panel_customer(live)
    _, other = panel_customer(live)
    theirs = available_snapshot(other, "theirs")
    before = customer.http.get("/api/v1/servers/").json()["count"]
    answer = http.post("/servers/new", data=new_form(http, name="stolen", os_id=f"snapshot:{theirs['id']}"))
    assert answer.status_code == 404, answer.text
    assert (
        "The server was not created." in answer.text and f"Snapshot {theirs['id']} not found" in answer.text
    )
    assert customer.http.get("/api/v1/servers/").json()["count"] == before
    csrf = form_csrf(http.get("/servers/new").text)
    assert f'value="snapshot:{theirs["id"]}"' not in http.get("/servers/new").text and csrf
