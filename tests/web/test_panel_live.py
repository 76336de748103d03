"""The panel's live updates over real HTTP: the pages carry their event stream and are never
polled; GET /events/stream gives the session's account's events (a server's, or those the
servers list shows), resumed after the page's newest event or Last-Event-ID."""

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
from httpx_sse import connect_sse

from tests.conftest import Live
from tests.web.test_servers_pages import panel_customer

LIST_TYPES = {"server.created", "server.status_changed", "server.deleted"}


def events_url(page: str) -> str:
    found = re.search(r'<div hidden data-events="([^"]+)"></div>', page)
    assert found, page
    return found.group(1).replace("&amp;", "&")


def newest(http: httpx.Client) -> int:
    return max((e["id"] for e in http.get("/api/v1/events/").json()["results"]), default=0)


def read(http: httpx.Client, url: str, n: int, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The first `n` events of the panel's stream at `url` (their JSON, with the SSE id)."""
    got = []
    with connect_sse(http, "GET", url, headers=headers or {}) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        events: Iterator[Any] = source.iter_sse()
        for sse in events:
            got.append(json.loads(sse.data) | {"sse_id": sse.id, "sse_event": sse.event})
            if len(got) == n:
                break
    return got


def test_the_pages_carry_their_stream_and_no_polling(live: Live) -> None:
    http, customer = panel_customer(live)
    server = customer.active_server(name="streamed")
    start = newest(customer.http)
    assert start > 0
    listing = http.get("/servers/").text
    page = http.get(f"/servers/{server['id']}/").text
    assert events_url(listing) == f"/events/stream?last_event_id={start}"
    assert events_url(page) == f"/events/stream?last_event_id={start}&server_id={server['id']}"
    for html in (listing, page):
        assert 'hx-trigger="every' not in html and html.count("data-live>") == 1
    assert re.search(r'<section id="live"[^>]* hx-trigger="event-arrived"[^>]* data-live>', page)
    assert re.search(r'<tbody id="server-rows"[^>]* hx-trigger="event-arrived"[^>]* data-live>', listing)


def test_a_servers_stream_and_the_lists_from_the_pages_point_on(live: Live) -> None:
    http, customer = panel_customer(live)
    server = customer.active_server(name="watched")
    other = customer.active_server(name="other")
    page_url = events_url(http.get(f"/servers/{server['id']}/").text)
    list_url = events_url(http.get("/servers/").text)
    stranger = panel_customer(live)[1]
    stranger.active_server(name="not-yours")  # another account's events are never sent
    customer.http.post(f"/api/v1/servers/{other['id']}/reboot/")
    assert customer.http.post(f"/api/v1/servers/{server['id']}/stop/").status_code == 200
    customer.wait_status(server["id"], "stopped")

    about = read(http, page_url, 4)  # the stop's: queued, stopping, running, stopped ...
    assert all(e["server_id"] == server["id"] for e in about)
    assert [e["type"] for e in about][:2] == ["action.queued", "server.status_changed"]
    assert all(e["sse_id"] == str(e["id"]) and e["sse_event"] == "message" for e in about)
    assert [e["id"] for e in about] == sorted(e["id"] for e in about)

    listed = read(http, list_url, 4)  # the servers list's: statuses only, of both servers
    assert {e["type"] for e in listed} <= LIST_TYPES
    assert {e["server_id"] for e in listed} == {server["id"], other["id"]}
    assert [(e["data"]["from"], e["data"]["to"]) for e in listed if e["server_id"] == server["id"]] == [
        ("active", "stopping"),
        ("stopping", "stopped"),
    ]

    # EventSource reconnecting: Last-Event-ID (the last it saw) before the page's own start.
    resumed = read(http, page_url, 1, headers={"Last-Event-ID": str(about[1]["id"])})
    assert resumed[0]["id"] == about[2]["id"]


def test_the_stream_needs_a_session(live: Live) -> None:
    anonymous = httpx.Client(base_url=live.url, headers={"Accept": "text/html"}, timeout=10)
    answer = anonymous.get("/events/stream")
    assert answer.status_code in (302, 303) and "/login" in answer.headers["location"]
    http, _ = panel_customer(live)
    assert http.get("/events/stream?server_id=0").status_code == 400
    assert http.get("/events/stream?last_event_id=x").status_code == 400
