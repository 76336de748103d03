"""The event stream across processes: two API processes (`vpsorg serve --no-worker`) and a
separate `vpsorg worker` on one database (SQLite file or PostgreSQL). A stream opened on one
API process sees what is done through the other and by the worker (the hub: LISTEN/NOTIFY
on PostgreSQL, polling on SQLite), every event once and in order; cut mid-way, it resumes
on the other process with Last-Event-ID, without a gap or a duplicate."""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.conftest import Proc, free_port, prepare_database, run_db, spawn, test_settings, wait_http
from tests.events.sse import client, listed, open_stream
from vpsorg.accounts import service as accounts
from vpsorg.config import Settings

TIMEOUT = 60
STARTUP = 180  # three processes importing at once on a busy two-core machine
SERVER = {"name": "web-1", "plan_id": 1, "os_id": 5, "location": "us-west"}


@dataclass
class Plane:
    settings: Settings
    urls: list[str]
    procs: list[Proc]

    def token(self) -> str:
        async def make(session: Any) -> str:
            account = await accounts.create_account(
                session, email=f"p{time.monotonic_ns()}@example.com", credit=Decimal("100")
            )
            return await accounts.create_token(session, account_id=account.id)

        return str(run_db(self.settings, make))


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    tmp = tmp_path_factory.mktemp("stream-processes")
    settings = test_settings(tmp / "events.db")
    prepare_database(settings)
    procs, urls = [], []
    try:
        for n in range(2):
            port = free_port()
            procs.append(spawn(["serve", "--no-worker", "--port", str(port)], settings, tmp / f"api{n}.log"))
            urls.append(f"http://127.0.0.1:{port}")
        procs.append(spawn(["worker"], settings, tmp / "worker.log"))
        for url in urls:
            wait_http(url + "/healthz", timeout=STARTUP)
        yield Plane(settings, urls, procs)
    finally:
        for proc in procs:
            proc.stop()
    for proc in procs:
        assert "Traceback" not in proc.log.read_text(errors="replace"), proc.log


def _wait_status(http: httpx.Client, server_id: int, status: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while (now := http.get(f"/api/v1/servers/{server_id}/").json()["status"]) != status:
        assert time.monotonic() < deadline, f"server {server_id} is {now}, not {status}"
        time.sleep(0.05)


def _wait_event(http: httpx.Client, match: dict[str, Any]) -> list[dict[str, Any]]:
    """The account's events (oldest first) once one has the type and `data` values of `match`."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        events = listed(http)
        if any(
            e["type"] == match["type"] and all(e["data"].get(k) == v for k, v in match["data"].items())
            for e in events
        ):
            return events
        assert time.monotonic() < deadline, f"no {match} in {events}"
        time.sleep(0.05)


def _kinds(events: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """Each event's type with what tells it apart (an action's type and status, a status's target)."""
    return [(e["type"], e["data"].get("to") or e["data"].get("type")) for e in events]


def test_a_stream_on_one_process_sees_every_event_made_through_another_once_in_order(plane: Plane) -> None:
    token = plane.token()
    with client(plane.urls[0], token) as a, client(plane.urls[1], token) as b:
        before = listed(b)  # the account's opening credit: older than the stream
        with open_stream(a) as stream:
            r = b.post("/api/v1/servers/", json=SERVER)
            assert r.status_code == 201, r.text
            sid = r.json()["id"]
            _wait_status(b, sid, "active")
            r = b.post(f"/api/v1/servers/{sid}/reboot/")
            assert r.status_code == 200, r.text
            _wait_status(b, sid, "active")
            assert b.delete(f"/api/v1/servers/{sid}/").status_code == 204
            events = _wait_event(b, {"type": "action.finished", "data": {"type": "delete"}})
            received = stream.read_until(events[-1]["id"])
    expected = events[len(before) :]
    assert [e["id"] for e in received] == [e["id"] for e in expected]
    assert received == expected  # the same JSON as the list's
    kinds = _kinds(received)
    for kind in [
        ("server.created", None),
        ("action.queued", "create"),
        ("action.running", "create"),
        ("action.finished", "create"),
        ("action.queued", "reboot"),
        ("server.status_changed", "rebooting"),
        ("action.running", "reboot"),
        ("action.finished", "reboot"),
        ("server.deleted", None),
        ("action.queued", "delete"),
        ("action.running", "delete"),
        ("action.finished", "delete"),
    ]:
        assert kinds.count(kind) == 1, (kind, kinds)
    assert kinds.count(("server.status_changed", "active")) == 2, kinds  # created, then rebooted
    assert kinds.index(("server.created", None)) == 0
    assert kinds.index(("action.finished", "create")) < kinds.index(("action.queued", "reboot"))
    assert kinds.index(("action.finished", "reboot")) < kinds.index(("server.deleted", None))
    assert kinds[-1] == ("action.finished", "delete")
    assert all(e["server_id"] == sid for e in received)


def test_a_stream_cut_mid_way_resumes_on_the_other_process_without_gap_or_duplicate(plane: Plane) -> None:
    token = plane.token()
    with client(plane.urls[0], token) as a, client(plane.urls[1], token) as b:
        before = listed(b)
        with open_stream(a) as first:
            r = b.post("/api/v1/servers/", json=SERVER)
            assert r.status_code == 201, r.text
            sid = r.json()["id"]
            _wait_status(b, sid, "active")
            assert b.post(f"/api/v1/servers/{sid}/reboot/").status_code == 200
            # Mid-way: a few events in (the create's, not yet the reboot's end), the stream drops.
            got = first.read_events(3)
        # Meanwhile, with no stream open: the reboot ends, the server is deleted.
        _wait_status(b, sid, "active")
        assert b.delete(f"/api/v1/servers/{sid}/").status_code == 204
        events = _wait_event(b, {"type": "action.finished", "data": {"type": "delete"}})
        with open_stream(b, headers={"Last-Event-ID": str(got[-1]["id"])}) as second:
            rest = second.read_until(events[-1]["id"])
        # Resumed again, on the first process, from the middle of what the second sent.
        middle = rest[len(rest) // 2]["id"]
        with open_stream(a, params={"last_event_id": middle}) as third:
            tail = third.read_until(events[-1]["id"])
    expected = events[len(before) :]
    ids = [e["id"] for e in got + rest]
    assert ids == [e["id"] for e in expected]  # no gap, no duplicate, in order
    assert len(set(ids)) == len(ids)
    assert got + rest == expected
    assert [e["id"] for e in tail] == [e["id"] for e in expected if e["id"] > middle]
