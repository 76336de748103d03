"""Safe retries, on a scripted transport (httpx.MockTransport): which calls are retried after
which failures, and which never are. The behaviour of the real API is in test_sdk.py."""

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from vpsorg.client import (
    ActionTimeout,
    AsyncClient,
    Backoff,
    Client,
    PaymentRequired,
    RateLimited,
    ServerError,
    TransportError,
)

FAST = Backoff(initial=0.001, maximum=0.005, jitter=0)
ACCOUNT = {"id": 1, "email": "a@example.com", "balance": "5.00", "currency": "USD"}
UNAVAILABLE = {"error": {"code": "database_unavailable", "message": "try again", "details": {}}}


class Script:
    """Answers requests from a list of steps: an exception to raise, or (status, body, headers)."""

    def __init__(self, *steps: Any) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        status, body, headers = step if len(step) == 3 else (*step, {})
        return httpx.Response(status, json=body, headers=headers)

    def client(self, **kwargs: Any) -> Client:
        return Client(
            "http://api.test", "vps_t", http=httpx.Client(transport=httpx.MockTransport(self)), **kwargs
        )


def connect_error() -> httpx.ConnectError:
    return httpx.ConnectError("connection refused")


def read_error() -> httpx.ReadError:
    return httpx.ReadError("connection reset")


def test_a_get_is_retried_after_connection_errors_and_5xx() -> None:
    script = Script(connect_error(), read_error(), (503, UNAVAILABLE), (200, ACCOUNT))
    assert script.client(backoff=FAST).account.get().email == "a@example.com"
    assert len(script.requests) == 4
    assert script.requests[0].headers["authorization"] == "Bearer vps_t"


def test_retries_give_up_after_max_retries() -> None:
    script = Script((503, UNAVAILABLE))
    with pytest.raises(ServerError) as caught:
        script.client(backoff=FAST, max_retries=2).account.get()
    assert caught.value.code == "database_unavailable" and len(script.requests) == 3
    script = Script(read_error())
    with pytest.raises(TransportError):
        script.client(backoff=FAST, max_retries=1).servers.get(1)
    assert len(script.requests) == 2


@pytest.mark.parametrize("failure", [read_error(), (503, UNAVAILABLE), (500, UNAVAILABLE)])
def test_a_post_is_retried_with_the_same_idempotency_key(failure: Any) -> None:
    """The API acts once per key, so a POST that may have arrived can be sent again."""
    created = {"id": 9, "name": "web", "status": "provisioning"}
    script = Script(failure, (201, created))
    server = script.client(backoff=FAST).servers.create("web", 1, 5, "us-west")
    assert server.id == 9 and len(script.requests) == 2
    keys = {r.headers["idempotency-key"] for r in script.requests}
    assert len(keys) == 1 and len(keys.pop()) == 36  # one UUID for both attempts
    again = Script((201, created))
    again.client().servers.create("web", 1, 5, "us-west")
    assert again.requests[0].headers["idempotency-key"] not in {
        r.headers["idempotency-key"] for r in script.requests
    }


def test_a_key_in_use_is_retried_and_other_refusals_are_not() -> None:
    in_use = (409, {"error": {"code": "idempotency_key_in_use", "message": "busy", "details": {}}})
    body = {"status": "success", "action": {"id": 4, "type": "stop", "status": "queued"}}
    script = Script(in_use, (200, body))
    assert script.client(backoff=FAST).servers.stop(1).id == 4 and len(script.requests) == 2
    refused = Script((402, {"error": {"code": "insufficient_credit", "message": "no", "details": {}}}))
    with pytest.raises(PaymentRequired):
        refused.client(backoff=FAST).servers.create("web", 1, 5, "us-west")
    assert len(refused.requests) == 1


def test_a_post_that_never_left_is_retried() -> None:
    script = Script(
        connect_error(),
        (200, {"status": "success", "action": {"id": 7, "type": "start", "status": "queued"}}),
    )
    action = script.client(backoff=FAST).servers.start(3)
    assert (action.id, action.server_id) == (7, 3) and len(script.requests) == 2


def test_429_is_retried_after_retry_after_whatever_the_method() -> None:
    limited = (
        429,
        {"error": {"code": "rate_limited", "message": "slow down", "details": {}}},
        {"Retry-After": "0"},
    )
    body = {"status": "success", "action": {"id": 1, "type": "reboot", "status": "queued"}}
    script = Script(limited, limited, (200, body))
    assert script.client(backoff=FAST).servers.reboot(1).id == 1 and len(script.requests) == 3
    with pytest.raises(RateLimited) as caught:
        Script(limited).client(backoff=FAST, max_retries=1).servers.reboot(1)
    assert caught.value.retry_after == 0.0


def test_a_delete_retried_after_a_cut_connection_that_finds_nothing_succeeded() -> None:
    gone = (404, {"error": {"code": "not_found", "message": "Server 1 not found", "details": {}}})
    script = Script(read_error(), gone)
    script.client(backoff=FAST).servers.delete(1)  # no NotFound: the first attempt did it
    assert [r.method for r in script.requests] == ["DELETE", "DELETE"]


def test_waiting_polls_with_the_backoff_until_the_timeout() -> None:
    running = (200, {"id": 5, "type": "create", "status": "running"})
    script = Script(running)
    delays: list[int] = []

    class Counting(Backoff):
        def delay(self, attempt: int) -> float:
            delays.append(attempt)
            return 0.01

    with pytest.raises(ActionTimeout) as caught:
        script.client(backoff=Counting()).actions.wait(5, timeout=0.2)
    assert caught.value.action.status == "running" and caught.value.timeout == 0.2
    assert delays[:3] == [1, 2, 3] and len(script.requests) >= 3


def test_the_async_client_follows_the_same_rules() -> None:
    script = Script(connect_error(), (503, UNAVAILABLE), (200, ACCOUNT))
    post = Script(read_error(), (201, {"id": 3, "name": "web", "status": "provisioning"}))

    def client(s: Callable[[httpx.Request], httpx.Response]) -> AsyncClient:
        return AsyncClient(
            "http://api.test", "t", http=httpx.AsyncClient(transport=httpx.MockTransport(s)), backoff=FAST
        )

    async def run() -> None:
        account = await client(script).account.get()
        assert str(account.balance) == "5.00"
        assert (await client(post).servers.create("web", 1, 5, "us-west")).id == 3

    asyncio.run(run())
    assert len(script.requests) == 3 and len(post.requests) == 2
    assert post.requests[0].headers["idempotency-key"] == post.requests[1].headers["idempotency-key"]


def test_a_transport_error_names_the_url_and_the_attempts() -> None:
    """What `vps` prints when the API is down: which URL it tried, and how often."""
    script = Script(connect_error())
    with pytest.raises(TransportError) as caught:
        script.client(backoff=FAST, max_retries=2).servers.get(7)
    assert str(caught.value) == (
        "GET http://api.test/api/v1/servers/7/: ConnectError: connection refused (tried 3 times)"
    )
    assert caught.value.url == "http://api.test/api/v1/servers/7/"

    async def run() -> None:
        http = httpx.AsyncClient(transport=httpx.MockTransport(Script(read_error())))
        async with AsyncClient("http://api.test", "vps_t", http=http, backoff=FAST, max_retries=0) as api:
            await api.account.get()

    with pytest.raises(TransportError) as caught:
        asyncio.run(run())
    assert (
        str(caught.value) == "GET http://api.test/api/v1/account/: ReadError: connection reset (tried once)"
    )
