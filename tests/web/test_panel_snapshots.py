"""Snapshots and backups in the panel over real HTTP: a server's list (live while one is
being taken), taking one, deleting one, backups listed as such, the account's /snapshots/
page, refusals in words with the API's status, another account's server or snapshot (404),
CSRF."""

import re
import time
from decimal import Decimal
from typing import Any

import httpx

from tests.conftest import Live
from tests.web.panel import form_csrf
from tests.web.test_servers_pages import htmx, live_url, panel_customer, set_status
from vpsorg.servers.models import Server
from vpsorg.snapshots import service as snapshots
from vpsorg.snapshots.models import SnapshotKind


def rows(page: str) -> list[tuple[str, str, str]]:
    """The server page's snapshot rows: (name, kind, status)."""
    found = re.search(r'<div id="snapshots-list".*?</div>', page, re.S)
    assert found, page
    return re.findall(
        r'<tr id="snapshot-\d+">\s*<td>([^<]+)</td>\s*<td>([a-z]+)</td>\s*<td><span class="badge status-[a-z]+">([a-z]+)</span>',
        found.group(0),
    )


def take(http: httpx.Client, url: str, csrf: str, name: str) -> httpx.Response:
    return http.post(url + "snapshots", data={"csrf_token": csrf, "name": name})


def wait_live(http: httpx.Client, page: str, done: Any) -> str:
    """Poll the live region as htmx does until `done(fragment)`; the fragment."""
    url = live_url(page)
    deadline = time.monotonic() + 20
    while True:
        answer = http.get(url, headers=htmx(http, page))
        if answer.status_code == 200:
            if done(answer.text):
                return answer.text
            url = live_url(answer.text)
        else:
            assert answer.status_code == 204
        assert time.monotonic() < deadline, page
        time.sleep(0.1)


def backup(live: Live, server_id: int, name: str) -> None:
    async def run(session: Any) -> None:
        server = await session.get(Server, server_id)
        await snapshots.queue(session, server, name=name, kind=SnapshotKind.BACKUP)

    live.db(run)


def test_a_snapshot_is_taken_and_its_status_comes_live(live: Live) -> None:
    http, customer = panel_customer(live)
    server = customer.active_server(name="snapped")
    url = f"/servers/{server['id']}/"
    page = http.get(url).text
    assert "No snapshots or backups yet." in page and "$0.06 per GB a month" in page
    done = take(http, url, form_csrf(page), " before-upgrade ")
    assert done.status_code == 303 and done.headers["location"] == url
    page = http.get(url).text
    assert rows(page) in (
        [("before-upgrade", "snapshot", "creating")],
        [("before-upgrade", "snapshot", "available")],
    )
    fragment = wait_live(http, page, lambda f: "status-available" in f)
    assert 'id="snapshots-list" hx-swap-oob="true"' in fragment
    assert rows(fragment) == [("before-upgrade", "snapshot", "available")]
    [shown] = customer.http.get("/api/v1/snapshots/", params={"server_id": server["id"]}).json()["results"]
    assert shown["name"] == "before-upgrade" and shown["status"] == "available"
    row = re.search(rf'<tr id="snapshot-{shown["id"]}">.*?</tr>', fragment, re.S)
    assert row and f"<td>{shown['size_gb']} GB</td>" in row.group(0)
    assert f"<td>${Decimal(shown['price_monthly']):.2f}</td>" in row.group(0)


def test_backups_are_listed_as_backups_newest_first(live: Live) -> None:
    http, customer = panel_customer(live)
    server = customer.active_server(name="backed")
    backup(live, server["id"], "backup-2026-12-06")
    url = f"/servers/{server['id']}/"
    assert take(http, url, form_csrf(http.get(url).text), "mine").status_code == 303
    shown = rows(http.get(url).text)
    assert [(name, kind) for name, kind, _ in shown] == [
        ("mine", "snapshot"),
        ("backup-2026-12-06", "backup"),
    ]


def test_a_snapshot_is_deleted_from_the_servers_page_and_the_list(live: Live) -> None:
    http, customer = panel_customer(live)
    server = customer.active_server(name="pruned")
    url = f"/servers/{server['id']}/"
    csrf = form_csrf(http.get(url).text)
    assert take(http, url, csrf, "one").status_code == 303
    assert take(http, url, csrf, "two").status_code == 303
    one, two = customer.http.get("/api/v1/snapshots/").json()["results"]
    gone = http.post(f"{url}snapshots/{one['id']}/delete", data={"csrf_token": csrf})
    assert gone.status_code == 303 and gone.headers["location"] == url
    assert [name for name, _, _ in rows(http.get(url).text)] == ["two"]
    listed = http.get("/snapshots/").text
    assert '<a href="/snapshots/" aria-current="page">Snapshots</a>' in listed
    assert "<td>two</td>" in listed and "<td>one</td>" not in listed
    assert f'<a href="/servers/{server["id"]}/">pruned</a>' in listed
    also = http.post(f"/snapshots/{two['id']}/delete", data={"csrf_token": csrf})
    assert also.status_code == 303 and also.headers["location"] == "/snapshots/"
    assert customer.http.get("/api/v1/snapshots/").json()["count"] == 0
    assert "No snapshots or backups yet." in http.get("/snapshots/").text


def test_refusals_are_in_words_with_the_apis_status(live: Live) -> None:
    http, customer = panel_customer(live)
    server = customer.active_server(name="refusing")
    url = f"/servers/{server['id']}/"
    csrf = form_csrf(http.get(url).text)
    empty = take(http, url, csrf, "  ")
    assert empty.status_code == 400 and "The snapshot was not taken." in empty.text
    assert 'id="snapshot-name-error">must not be empty<' in empty.text
    set_status(live, server["id"], "rebooting")
    busy = take(http, url, csrf, "later")
    assert busy.status_code == 400 and "Cannot take a snapshot of a server that is rebooting" in busy.text
    assert 'value="later"' in busy.text
    assert "A snapshot is taken while the server is active or stopped; this one is rebooting." in busy.text
    set_status(live, server["id"], "active")
    assert customer.http.get("/api/v1/snapshots/").json()["count"] == 0


def test_another_accounts_server_and_snapshot_are_not_found_and_csrf_is_checked(live: Live) -> None:
    owner_http, owner = panel_customer(live)
    server = owner.active_server(name="private")
    url = f"/servers/{server['id']}/"
    owner_csrf = form_csrf(owner_http.get(url).text)
    assert take(owner_http, url, owner_csrf, "theirs").status_code == 303
    [theirs] = owner.http.get("/api/v1/snapshots/").json()["results"]
    http, customer = panel_customer(live)
    mine = customer.active_server(name="mine")
    csrf = form_csrf(http.get("/servers/").text)
    for answer in (
        take(http, url, csrf, "stolen"),
        http.post(f"{url}snapshots/{theirs['id']}/delete", data={"csrf_token": csrf}),
        http.post(f"/servers/{mine['id']}/snapshots/{theirs['id']}/delete", data={"csrf_token": csrf}),
        http.post(f"/snapshots/{theirs['id']}/delete", data={"csrf_token": csrf}),
        http.post("/snapshots/x/delete", data={"csrf_token": csrf}),
    ):
        assert answer.status_code == 404, answer.request.url
    assert "theirs" not in http.get("/snapshots/").text
    # The owner's own snapshot, through another of the owner's servers' path: 404 too.
    other = owner.active_server(name="other")
    wrong_server = owner_http.post(
        f"/servers/{other['id']}/snapshots/{theirs['id']}/delete", data={"csrf_token": owner_csrf}
    )
    assert wrong_server.status_code == 404
    assert take(owner_http, url, "forged", "x").status_code == 403
    assert owner_http.post(f"/snapshots/{theirs['id']}/delete", data={}).status_code == 403
    assert [s["name"] for s in owner.http.get("/api/v1/snapshots/").json()["results"]] == ["theirs"]
