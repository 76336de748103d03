"""The stream: the account's events as they commit, and a resume without gap or duplicate."""

import json
import threading
from typing import Any

import httpx
from httpx_sse import connect_sse

from tests.conftest import Customer, Live


def _read(
    customer: Customer, count: int, headers: dict[str, str], out: list[dict[str, Any]], ready: threading.Event
) -> None:
    with httpx.Client(
        base_url=customer.live.url,
        headers={"Authorization": f"Bearer {customer.token}"} | headers,
        timeout=30,
    ) as client:
        with connect_sse(client, "GET", "/api/v1/events/stream/") as source:
            assert source.response.status_code == 200
            assert source.response.headers["content-type"].startswith("text/event-stream")
            ready.set()
            for sse in source.iter_sse():
                event = json.loads(sse.data)
                assert sse.id == str(event["id"])
                out.append(event)
                if len(out) == count:
                    return


def test_a_stream_sees_a_create_and_resumes(live: Live, customer: Customer) -> None:
    seen: list[dict[str, Any]] = []
    ready = threading.Event()
    reader = threading.Thread(target=_read, args=(customer, 5, {}, seen, ready))
    reader.start()
    assert ready.wait(10)
    other = live.account()
    other.create_server()  # another account's: never on this stream
    server = customer.active_server()
    reader.join(20)
    types = [e["type"] for e in seen]
    # the last two are written in one transaction (the worker's outcome), in either order
    assert types[:3] == ["server.created", "action.queued", "action.running"]
    assert sorted(types[3:]) == ["action.finished", "server.status_changed"]
    assert all(e["server_id"] == server["id"] for e in seen)
    # resume after the second: the same three that followed, nothing before
    again: list[dict[str, Any]] = []
    ready.clear()
    _read(customer, 3, {"Last-Event-ID": str(seen[1]["id"])}, again, ready)
    assert again == seen[2:]
    listed = customer.http.get("/api/v1/events/", params={"server_id": server["id"]}).json()
    assert [e["id"] for e in reversed(listed["results"])] == [e["id"] for e in seen]


def test_a_bad_last_event_id_is_refused(customer: Customer) -> None:
    r = customer.http.get("/api/v1/events/stream/", headers={"Last-Event-ID": "abc"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error", r.text
