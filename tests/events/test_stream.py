"""The event stream and the list, through the real API (the shared `live` server): only the
token's account's events, filters, resume by header or query, the heartbeat, the errors."""

from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Customer, Live, prepare_database, serve_in_thread, test_settings
from tests.events.sse import STREAM, client, listed, open_stream
from vpsorg.config import Settings


def _through_a_reboot(customer: Customer) -> tuple[int, list[dict[str, Any]]]:
    """An active server, rebooted: its id, and the account's events once the reboot ended."""
    server = customer.active_server()
    r = customer.http.post(f"/api/v1/servers/{server['id']}/reboot/")
    assert r.status_code == 200, r.text
    customer.wait_action(r.json()["action"]["id"])
    return int(server["id"]), listed(customer.http)


def test_a_stream_carries_its_accounts_events_only(live: Live, customer: Customer) -> None:
    other = live.account()
    with client(live.url, customer.token) as http, open_stream(http) as stream:
        theirs_id, theirs = _through_a_reboot(other)
        ours_id, ours = _through_a_reboot(customer)
        received = stream.read_until(ours[-1]["id"])
    old = [e for e in ours if e["type"] == "account.credit_added"]  # before the stream opened
    assert received == [e for e in ours if e not in old]
    assert {e["server_id"] for e in received} == {ours_id}
    assert not {e["id"] for e in theirs} & {e["id"] for e in received}
    assert theirs_id != ours_id and any(e["server_id"] == theirs_id for e in theirs)


def test_a_stream_starts_now_without_a_last_event_id(live: Live, customer: Customer) -> None:
    opening = listed(customer.http)
    assert [e["type"] for e in opening] == ["account.credit_added"]
    with client(live.url, customer.token) as http, open_stream(http) as stream:
        created = customer.create_server()
        first = stream.read_events(1)[0]
    assert first["type"] == "server.created" and first["server_id"] == created["id"]
    assert first["id"] > opening[-1]["id"]


def test_filters_by_types_and_server(live: Live, customer: Customer) -> None:
    with client(live.url, customer.token) as http:
        one, _ = _through_a_reboot(customer)
        params = {"types": "action.finished,server.status_changed", "server_id": one, "last_event_id": 0}
        two, events = _through_a_reboot(customer)
        with open_stream(http, params=params) as stream:
            wanted = [
                e
                for e in events
                if e["type"] in ("action.finished", "server.status_changed") and e["server_id"] == one
            ]
            received = stream.read_until(wanted[-1]["id"])
        with open_stream(http, params={"types": "server.created", "last_event_id": 0}) as stream:
            created = stream.read_events(2)
    assert received == wanted
    assert [e["data"].get("type") for e in received if e["type"] == "action.finished"] == ["create", "reboot"]
    assert [e["server_id"] for e in created] == [one, two]
    assert {e["type"] for e in created} == {"server.created"}


def test_resume_by_header_or_query_sends_exactly_what_followed(live: Live, customer: Customer) -> None:
    _, events = _through_a_reboot(customer)
    middle = events[len(events) // 2]["id"]
    after = [e for e in events if e["id"] > middle]
    with client(live.url, customer.token) as http:
        with open_stream(http, headers={"Last-Event-ID": str(middle)}) as stream:
            by_header = stream.read_until(events[-1]["id"])
        with open_stream(http, params={"last_event_id": middle}) as stream:
            by_query = stream.read_until(events[-1]["id"])
        with open_stream(http, headers={"Last-Event-ID": "0"}) as stream:
            from_the_start = stream.read_until(events[-1]["id"])
    assert by_header == after and by_query == after
    assert from_the_start == events


def test_without_a_token_401(live: Live) -> None:
    with httpx.Client(base_url=live.url, timeout=10) as http:
        r = http.get(STREAM)
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == "unauthorized"
        r = http.get(STREAM, headers={"Authorization": "Bearer vps_not-a-token"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert http.get("/api/v1/events/").status_code == 401


def test_a_last_event_id_that_is_not_a_number_is_400(live: Live, customer: Customer) -> None:
    for headers, params in [
        ({"Last-Event-ID": "abc"}, {}),
        ({"Last-Event-ID": "-1"}, {}),
        ({"Last-Event-ID": "1.5"}, {}),
        ({}, {"last_event_id": "abc"}),
    ]:
        r = customer.http.get(STREAM, headers=headers, params=params)
        assert r.status_code == 400, (headers, params, r.text)
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()["error"]["code"] == "validation_error", r.text


def test_unknown_filters_are_400(customer: Customer) -> None:
    for path, params in [
        (STREAM, {"types": "server.created,server.exploded"}),
        (STREAM, {"server_id": "0"}),
        ("/api/v1/events/", {"type": "server.exploded"}),
        ("/api/v1/events/", {"server_id": "x"}),
    ]:
        r = customer.http.get(path, params=params)
        assert r.status_code == 400, (path, params, r.text)
        assert r.json()["error"]["code"] == "validation_error", r.text


def test_the_heartbeat_comes_every_interval(tmp_path: Path) -> None:
    assert Settings().event_heartbeat_seconds == 15
    settings = test_settings(tmp_path / "heartbeat.db", event_heartbeat_seconds=0.2)
    prepare_database(settings)
    with serve_in_thread(settings, run_worker=False) as quiet:
        customer = quiet.account()
        with client(quiet.url, customer.token) as http, open_stream(http) as stream:
            for _ in range(3):
                message = stream.next_message()
                assert message.comment is not None, message  # nothing happens: only heartbeats
    assert len(stream.comments) == 3 and not stream.events


def test_the_list_pages_newest_first_and_filters(live: Live, customer: Customer) -> None:
    other = live.account()
    theirs, _ = _through_a_reboot(other)
    one, _ = _through_a_reboot(customer)
    two, events = _through_a_reboot(customer)
    http = customer.http
    r = http.get("/api/v1/events/", params={"page_size": 3})
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["count"] == len(events) and page["previous"] is None and page["next"]
    assert page["results"] == list(reversed(events))[:3]
    second = http.get(page["next"]).json()
    assert second["results"] == list(reversed(events))[3:6] and second["previous"]
    assert listed(http) == events  # every page, no event twice or missing
    assert theirs not in {e["server_id"] for e in events}

    finished = listed(http, type="action.finished")
    assert finished == [e for e in events if e["type"] == "action.finished"] and len(finished) == 4
    about_two = listed(http, server_id=two)
    assert about_two == [e for e in events if e["server_id"] == two] and about_two
    both = listed(http, type="action.finished", server_id=one)
    assert [e["data"]["type"] for e in both] == ["create", "reboot"]
    assert listed(http, server_id=theirs) == []  # another account's server: nothing, not theirs
