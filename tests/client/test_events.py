"""Events in the SDK (sync and async, kept parallel): the list, the stream (in order, resumed
after a dropped connection without a gap or a duplicate) and Action.wait() on the stream,
against a live API server; and Action.wait() polling when the API has no stream."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from tests.conftest import Live, prepare_database, serve_in_thread, test_settings
from vpsorg.actions.models import Action
from vpsorg.client import ActionTimeout, AsyncClient, Backoff, Client, Event, NotFound, TransportError
from vpsorg.db import utcnow

FAST = Backoff(initial=0.02, maximum=0.2)
ORDER = {"plan_id": 3, "os_id": 5, "location": "us-west"}
EVENTS = "/api/v1/events/"
STREAM = "/api/v1/events/stream/"


def newest(vps: Client) -> int:
    return max((e.id for e in vps.events.list()), default=0)


def since(vps: Client, start: int) -> list[Event]:
    """The account's events after `start`, oldest first, as the list reads them."""
    return [e for e in vps.events.list() if e.id > start][::-1]


# A connection the server drops: the stream's body ends with an error after some events.


def _cut_after(chunks: Iterator[bytes], events: int) -> Iterator[bytes]:
    seen = 0
    for chunk in chunks:
        yield chunk
        seen += chunk.count(b"\ndata:") + chunk.startswith(b"data:")
        if seen >= events:
            raise httpx.ReadError("connection reset by peer")


class CutSync(httpx.SyncByteStream):
    def __init__(self, inner: Any, events: int) -> None:
        self.inner, self.events = inner, events

    def __iter__(self) -> Iterator[bytes]:
        return _cut_after(iter(self.inner), self.events)

    def close(self) -> None:
        self.inner.close()


class CutAsync(httpx.AsyncByteStream):
    def __init__(self, inner: Any, events: int) -> None:
        self.inner, self.events = inner, events

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self.inner:
            yield chunk
            seen += chunk.count(b"\ndata:") + chunk.startswith(b"data:")
            if seen >= self.events:
                raise httpx.ReadError("connection reset by peer")

    async def aclose(self) -> None:
        await self.inner.aclose()


class Dropping(httpx.BaseTransport):
    """The real transport, but the first stream connection is cut after `events` events."""

    def __init__(self, events: int) -> None:
        self.inner, self.cuts = httpx.HTTPTransport(), [events]
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self.inner.handle_request(request)
        if request.url.path == STREAM and self.cuts:
            response.stream = CutSync(response.stream, self.cuts.pop())
        return response


class AsyncDropping(httpx.AsyncBaseTransport):
    def __init__(self, events: int) -> None:
        self.inner, self.cuts = httpx.AsyncHTTPTransport(), [events]
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = await self.inner.handle_async_request(request)
        if request.url.path == STREAM and self.cuts:
            response.stream = CutAsync(response.stream, self.cuts.pop())
        return response


def streams(requests: list[httpx.Request]) -> list[httpx.Request]:
    return [r for r in requests if r.url.path == STREAM]


def test_list_and_a_stream_in_order_resumed_after_a_drop(live: Live) -> None:
    token = live.account(credit="1000").token
    vps = Client(live.url, token, backoff=FAST, timeout=10)
    start = newest(vps)
    server = vps.servers.create("ev-sync", **ORDER, wait=True)
    server.reboot(wait=True)
    before = since(vps, start)
    types = [e.type for e in before]
    assert types[:2] == ["server.created", "action.queued"] and "server.status_changed" in types
    assert all(e.server_id == server.id for e in before) and before[0].object.type == "server"
    assert [e.id for e in vps.events.list(type="action.finished")] == [
        e.id for e in before[::-1] if e.type == "action.finished"
    ]
    assert list(vps.events.list(server_id=server.id + 10_000)) == []

    transport = Dropping(events=3)
    dropped = Client(live.url, token, backoff=FAST, timeout=10, http=httpx.Client(transport=transport))
    stream = dropped.events.stream(last_event_id=start)
    got = [next(stream) for _ in before]  # the backlog, across the drop after the third
    assert [e.id for e in got] == [e.id for e in before] and len(got) > 3
    first, second = streams(transport.requests)
    assert first.headers["last-event-id"] == str(start)
    assert second.headers["last-event-id"] == str(got[2].id)  # resumed after the last one given
    server.stop()  # live now: the stream is open
    live_ones = [next(stream) for _ in range(4)]
    assert [e.type for e in live_ones][:2] == ["action.queued", "server.status_changed"]
    assert live_ones[0].id > got[-1].id and all(e.server_id == server.id for e in live_ones)
    stream.close()
    assert len(streams(transport.requests)) == 2
    only = vps.events.stream(types=["server.status_changed"], server_id=server.id, last_event_id=start)
    changes = [next(only) for _ in range(3)]
    assert [(e.data["from"], e.data["to"]) for e in changes] == [
        ("provisioning", "active"),
        ("active", "rebooting"),
        ("rebooting", "active"),
    ]
    only.close()


def test_the_async_stream_in_order_resumed_after_a_drop(live: Live) -> None:
    token = live.account(credit="1000").token

    async def main() -> None:
        transport = AsyncDropping(events=2)
        http = httpx.AsyncClient(transport=transport)
        async with AsyncClient(live.url, token, backoff=FAST, timeout=10) as api:
            start = max([e.id async for e in api.events.list()], default=0)
            server = await api.servers.create("ev-async", wait=True, **ORDER)  # type: ignore[call-overload]
            listed = [e.id async for e in api.events.list(server_id=server.id)][::-1]
        async with AsyncClient(live.url, token, backoff=FAST, timeout=10, http=http) as api:
            stream = api.events.stream(last_event_id=start)
            got = [await anext(stream) for _ in listed]
            assert [e.id for e in got] == listed and len(got) > 2
            await api.servers.reboot(server.id)
            queued = await anext(stream)
            assert queued.type == "action.queued" and queued.data["type"] == "reboot"
            await stream.aclose()
        first, second = streams(transport.requests)
        assert second.headers["last-event-id"] == str(got[1].id)
        await http.aclose()

    asyncio.run(main())


# Action.wait(): on the stream, proven against an API without a worker (the action stays
# queued until the test finishes it in the database, after the wait has read it).


@pytest.fixture(scope="module")
def idle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    # Heartbeats five times a second: a wait past its timeout sees its clock on them.
    settings = test_settings(tmp_path_factory.mktemp("idle") / "vpsorg.db", event_heartbeat_seconds=0.2)
    prepare_database(settings)
    with serve_in_thread(settings, run_worker=False) as server:
        yield server


def finish(live: Live, action_id: int) -> None:
    live.db(
        lambda s: s.execute(
            update(Action).where(Action.id == action_id).values(status="success", finished_at=utcnow())
        )
    )


def paths(requests: list[httpx.Request]) -> list[str]:
    return [r.url.path for r in requests]


def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_action_wait_returns_through_the_stream(idle: Live) -> None:
    customer = idle.account(credit="1000")
    action_id = customer.create_server()["action"]["id"]
    seen: list[httpx.Request] = []
    http = httpx.Client(event_hooks={"request": [seen.append]})
    vps = Client(idle.url, customer.token, backoff=FAST, timeout=10, http=http)
    statuses: list[str] = []
    done: list[Any] = []
    waiter = threading.Thread(
        target=lambda: done.append(
            vps.actions.wait(action_id, timeout=60, on_poll=lambda a: statuses.append(a.status))
        )
    )
    waiter.start()
    action_path = f"/api/v1/actions/{action_id}/"
    opened = [EVENTS, STREAM, action_path]  # where the stream starts, the stream, the action once
    until(lambda: paths(seen) == opened, "the wait did not open the stream, then read")
    time.sleep(0.3)  # a polling wait would read the action again meanwhile (FAST: every 20 ms)
    assert paths(seen) == opened and statuses == ["queued"]
    finish(idle, action_id)
    waiter.join(timeout=30)
    assert done and done[0].status == "success" and statuses == ["queued", "success"]
    assert paths(seen) == [*opened, action_path]  # once when open, once when over
    assert seen[1].url.params["types"] == "action.finished"


def test_action_wait_on_a_quiet_stream_times_out(idle: Live) -> None:
    customer = idle.account(credit="1000")
    action_id = customer.create_server()["action"]["id"]
    seen: list[httpx.Request] = []
    vps = Client(
        idle.url, customer.token, backoff=FAST, http=httpx.Client(event_hooks={"request": [seen.append]})
    )
    with pytest.raises(ActionTimeout) as caught:
        vps.actions.wait(action_id, timeout=1.5)  # heartbeats keep the stream open all along
    assert caught.value.action.status == "queued" and caught.value.timeout == 1.5
    assert paths(seen)[:3] == [EVENTS, STREAM, f"/api/v1/actions/{action_id}/"]


def test_async_action_wait_returns_through_the_stream(idle: Live) -> None:
    customer = idle.account(credit="1000")
    action_id = customer.create_server()["action"]["id"]
    action_path = f"/api/v1/actions/{action_id}/"

    async def main() -> None:
        seen: list[httpx.Request] = []

        async def hook(request: httpx.Request) -> None:
            seen.append(request)

        http = httpx.AsyncClient(event_hooks={"request": [hook]})
        async with AsyncClient(idle.url, customer.token, backoff=FAST, timeout=10, http=http) as api:
            waiting = asyncio.create_task(api.actions.wait(action_id, timeout=60))
            opened = [EVENTS, STREAM, action_path]
            while paths(seen) != opened:
                assert not waiting.done() and len(seen) < 3, paths(seen)
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)
            assert paths(seen) == opened
            await asyncio.to_thread(finish, idle, action_id)
            done = await asyncio.wait_for(waiting, 30)
            assert done.status == "success" and paths(seen) == [*opened, action_path]
        await http.aclose()

    asyncio.run(main())


# Action.wait(): polling when the stream cannot be used (an older API: 404; no connection).

NOT_FOUND = {"error": {"code": "not_found", "message": "Not Found", "details": {}}}
QUEUED = {"id": 7, "type": "reboot", "status": "queued", "server_id": 1}
DONE = QUEUED | {"status": "success"}


class OldApi:
    """An API without events (404), or whose stream cannot be reached; the action is polled."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.answers = [QUEUED, QUEUED, DONE]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.startswith(EVENTS):
            if self.stream == 404:
                return httpx.Response(404, json=NOT_FOUND)
            if request.url.path == STREAM:
                raise self.stream
            return httpx.Response(200, json={"count": 0, "next": None, "previous": None, "results": []})
        return httpx.Response(200, json=self.answers.pop(0) if len(self.answers) > 1 else self.answers[0])


# (the stream, the requests made before polling)
NO_STREAM = [(404, [EVENTS]), (httpx.ConnectError("refused"), [EVENTS, STREAM])]


@pytest.mark.parametrize(("stream", "first"), NO_STREAM, ids=["404", "unreachable"])
def test_action_wait_polls_when_there_is_no_stream(stream: Any, first: list[str]) -> None:
    api = OldApi(stream)
    vps = Client(
        "http://api.test", "vps_t", backoff=FAST, http=httpx.Client(transport=httpx.MockTransport(api))
    )
    assert vps.actions.wait(7, timeout=10).status == "success"
    assert paths(api.requests) == first + ["/api/v1/actions/7/"] * 3


@pytest.mark.parametrize(("stream", "first"), NO_STREAM, ids=["404", "unreachable"])
def test_async_action_wait_polls_when_there_is_no_stream(stream: Any, first: list[str]) -> None:
    api = OldApi(stream)

    async def main() -> str:
        http = httpx.AsyncClient(transport=httpx.MockTransport(api))
        async with AsyncClient("http://api.test", "vps_t", backoff=FAST, http=http) as vps:
            return (await vps.actions.wait(7, timeout=10)).status

    assert asyncio.run(main()) == "success"
    assert paths(api.requests) == first + ["/api/v1/actions/7/"] * 3


def test_a_stream_refused_is_raised_and_one_unreachable_retried_then_raised() -> None:
    api = OldApi(404)
    vps = Client(
        "http://api.test", "vps_t", backoff=FAST, http=httpx.Client(transport=httpx.MockTransport(api))
    )
    with pytest.raises(NotFound):
        next(vps.events.stream())
    assert len(api.requests) == 1  # a refusal is not retried
    down = OldApi(httpx.ConnectError("refused"))
    vps = Client(
        "http://api.test",
        "vps_t",
        backoff=FAST,
        max_retries=2,
        http=httpx.Client(transport=httpx.MockTransport(down)),
    )
    with pytest.raises(TransportError):
        next(vps.events.stream())
    assert len(down.requests) == 3  # the first try and max_retries more
