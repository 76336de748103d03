"""Keyset (cursor) pagination of the servers list over real HTTP, and its count."""

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import Customer, Live
from tests.servers.test_validation import assert_field_error


def follow(customer: Customer, link: str) -> dict[str, Any]:
    parts = urlsplit(link)
    r = customer.http.get(f"{parts.path}?{parts.query}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def ids(page: dict[str, Any]) -> list[int]:
    return [s["id"] for s in page["results"]]


def test_walk_by_cursor_sees_every_server_once_across_inserts_and_deletes(live: Live) -> None:
    customer = live.account()
    servers = [customer.create_server(name=f"c{i}")["id"] for i in range(9)]
    first = customer.http.get("/api/v1/servers/", params={"page_size": 2}).json()
    assert ids(first) == servers[:2] and first["count"] == 9 and first["previous"] is None
    query = parse_qs(urlsplit(first["next"]).query)
    assert set(query) == {"cursor", "page_size"}, first["next"]  # next is a cursor link

    # While the walk goes on: one seen and one unseen server deleted, one inserted before
    # the walk's position would be (none can be: ids grow) and one after it.
    assert customer.http.delete(f"/api/v1/servers/{servers[0]}/").status_code == 204
    assert customer.http.delete(f"/api/v1/servers/{servers[5]}/").status_code == 204
    added = customer.create_server(name="late")["id"]

    seen = ids(first)
    page = first
    for _ in range(20):  # bounded: 9 servers at 2 a page
        if page["next"] is None:
            break
        page = follow(customer, page["next"])
        assert len(page["results"]) <= 2
        seen += ids(page)
    assert page["next"] is None
    expected = servers[:5] + servers[6:] + [added]
    assert seen == expected  # in id order, none missed, none repeated
    assert page["count"] == len(expected) - 1  # the deleted servers[0] is not counted

    # Backward from the last page by `previous` links, down to the first live server.
    back = ids(page)
    for _ in range(20):
        if page["previous"] is None or not page["results"]:
            break
        page = follow(customer, page["previous"])
        back = ids(page) + back
    assert back == expected[1:]  # servers[0] was deleted meanwhile


def test_count_follows_creates_and_deletes(customer: Customer) -> None:
    made = [customer.create_server(name=f"n{i}")["id"] for i in range(4)]
    assert customer.http.get("/api/v1/servers/").json()["count"] == 4
    assert customer.http.delete(f"/api/v1/servers/{made[1]}/").status_code == 204
    assert customer.http.delete(f"/api/v1/servers/{made[1]}/").status_code == 404
    body = customer.http.get("/api/v1/servers/").json()
    assert body["count"] == 3 and ids(body) == [made[0], made[2], made[3]]
    filtered = customer.http.get("/api/v1/servers/", params={"status": "provisioning"}).json()
    assert filtered["count"] <= 3


def test_cursor_keeps_the_filters_and_page_numbers_keep_working(customer: Customer) -> None:
    made = [customer.create_server(name=f"f{i}", location="us-east")["id"] for i in range(3)]
    customer.create_server(name="west", location="us-west")
    first = customer.http.get("/api/v1/servers/", params={"page_size": 1, "location": "us-east"}).json()
    assert first["count"] == 3 and ids(first) == made[:1]
    second = follow(customer, first["next"])
    assert ids(second) == made[1:2] and "location=us-east" in second["next"]
    assert ids(follow(customer, second["next"])) == made[2:]
    numbered = customer.http.get(
        "/api/v1/servers/", params={"page_size": 1, "page": 2, "location": "us-east"}
    )
    assert ids(numbered.json()) == made[1:2]
    assert "page=1" in numbered.json()["previous"]


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not-a-cursor",
        "ax",
        "a01",
        "c5",
        "a-1",
        "a+1",
        "a 1",
        "a12345678901",
        "b",
        "A5",
        "a5\n",
        "a\u0665",
    ],
)
def test_a_bad_cursor_is_a_validation_error(customer: Customer, cursor: str) -> None:
    assert_field_error(customer.http.get("/api/v1/servers/", params={"cursor": cursor}), "cursor")


def test_a_cursor_past_the_end_is_an_empty_page(customer: Customer) -> None:
    made = customer.create_server(name="only")["id"]
    after = customer.http.get("/api/v1/servers/", params={"cursor": "a9999999999"}).json()
    assert after["results"] == [] and after["next"] is None and after["count"] == 1
    assert ids(follow(customer, after["previous"])) == [made]
    before = customer.http.get("/api/v1/servers/", params={"cursor": "b9999999999"}).json()
    assert ids(before) == [made] and before["previous"] is None


def test_pages_read_alike_on_the_loop_and_through_the_engine(
    customer: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page by number past LOOP_OFFSET_LIMIT is read through the engine (on SQLite: not on
    the event loop); it is the same page, with the same count, as one read on the loop."""
    from vpsorg.servers import service

    made = [customer.active_server(name=f"o{i}")["id"] for i in range(5)]  # settled: nothing changes
    pages = [{"page_size": 2, "page": n} for n in (1, 2, 3, 4)]
    on_loop = [customer.http.get("/api/v1/servers/", params=p).json() for p in pages]
    monkeypatch.setattr(service, "LOOP_OFFSET_LIMIT", -1)
    through_engine = [customer.http.get("/api/v1/servers/", params=p).json() for p in pages]
    assert through_engine == on_loop
    assert [ids(p) for p in on_loop] == [made[0:2], made[2:4], made[4:], []]
    assert [p["count"] for p in on_loop] == [5] * 4  # past the end too
