"""The stream: the account's events as they commit, and a resume without gap or duplicate."""

import asyncio
import json
import threading
from decimal import Decimal
from typing import Any

import httpx
from httpx_sse import connect_sse

from tests.conftest import Customer, Live
from vpsorg.billing import service as billing
from vpsorg.db import make_engine, make_sessionmaker
from vpsorg.events.hub import Hub
from vpsorg.events.sse import stream_events


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


def test_a_stream_that_falls_behind_reads_the_table(live: Live, customer: Customer) -> None:
    """An inbox of two: five events at once overflow it; the stream still gets all five, in order
    (an inbox that lost them would leave the stream waiting: the wait_for fails)."""
    start = customer.http.get("/api/v1/events/").json()["results"][0]["id"]

    async def main() -> list[int]:
        engine = make_engine(live.settings)
        hub = Hub(
            make_sessionmaker(engine, write=False),
            live.settings.database_url,
            poll_seconds=0.05,
            queue_limit=2,
        )
        await hub.start()
        try:
            rows = stream_events(
                hub, make_sessionmaker(engine, write=False), account_id=customer.account_id, last_id=start
            )
            first = await anext(rows)  # subscribed, backlog read
            async with make_sessionmaker(engine)() as session:
                for i in range(5):
                    await billing.credit(
                        session, account_id=customer.account_id, amount=Decimal(1), reason=f"r{i}"
                    )
                await session.commit()
            got = [first.id] + [(await asyncio.wait_for(anext(rows), 10)).id for _ in range(5)]
            await rows.aclose()
            return got
        finally:
            await hub.stop()
            await engine.dispose()

    async def credits(session: Any) -> None:
        await billing.credit(session, account_id=customer.account_id, amount=Decimal(1), reason="before")

    live.db(credits)  # the backlog's one
    ids = asyncio.run(main())
    listed = [e["id"] for e in customer.http.get("/api/v1/events/").json()["results"]][:6]
    assert ids == sorted(listed), (ids, listed)  # the one before, then the five
