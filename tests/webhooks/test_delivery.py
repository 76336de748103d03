"""One delivery attempt (vpsorg.webhooks.delivery) against a receiver on loopback: the
signature, the headers, what counts as success, no redirect followed, the address pinned,
at most a few KiB read; and the retry schedule (backoff) alone."""

import asyncio
import hashlib
import hmac
import ipaddress
import threading
import time

from tests.webhooks.receiver import receiving
from vpsorg.webhooks import delivery, signing, urls

DEV = urls.Policy(allow_http=True)


def send(
    url: str, body: bytes = b'{"id":1}', secret: str = "whsec_test", timeout: float = 5
) -> delivery.Attempt:
    async def go() -> delivery.Attempt:
        target = await urls.check(url, DEV)
        headers = delivery.headers(secret=secret, event_id=7, event_type="server.created", body=body)
        return await delivery.send(target, body, headers, timeout=timeout)

    return asyncio.run(go())


def test_a_2xx_is_success_and_the_request_is_signed() -> None:
    with receiving(answers=[204]) as r:
        result = send(r.url, b'{"id":7}', secret="whsec_abc")
        (got,) = r.wait_for(1)
    assert result == delivery.Attempt(204, None) and result.ok
    assert got.body == b'{"id":7}' and got.path == "/hook"
    assert got.headers["vpsorg-event-id"] == "7" and got.headers["vpsorg-event-type"] == "server.created"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"].startswith("vpsorg-webhooks/")
    t, v1 = (part.split("=", 1)[1] for part in got.headers["vpsorg-signature"].split(","))
    expected = hmac.new(b"whsec_abc", t.encode() + b"." + got.body, hashlib.sha256).hexdigest()
    assert v1 == expected and hmac.compare_digest(v1, signing.signature("whsec_abc", int(t), got.body))


def test_a_5xx_or_4xx_is_a_failure_with_its_status() -> None:
    with receiving(answers=[500, 404]) as r:
        assert send(r.url) == delivery.Attempt(500, "HTTP 500")
        assert send(r.url) == delivery.Attempt(404, "HTTP 404")


def test_a_redirect_is_not_followed_and_is_a_failure() -> None:
    with receiving(answers=[302], extra_headers={"Location": "http://169.254.169.254/"}) as r:
        result = send(r.url)
        assert len(r.wait_for(1)) == 1
    assert result.status_code == 302 and not result.ok
    assert result.error == "HTTP 302: redirect to 'http://169.254.169.254/' not followed"


def test_a_receiver_that_does_not_answer_in_time_fails_with_a_timeout() -> None:
    hold = threading.Event()
    with receiving(hold=hold) as r:
        result = send(r.url, timeout=0.3)
        hold.set()
    assert result == delivery.Attempt(None, "timed out after 0.3 s")


def test_nothing_listening_is_a_failure_without_a_status() -> None:
    with receiving() as r:
        url = r.url
    result = send(url)
    assert result.status_code is None and result.error and "Connect" in result.error


def test_a_long_answer_is_not_read_past_a_few_kib() -> None:
    """The sender stops reading and closes: the receiver cannot write its 64 MB (more than
    loopback's socket buffers hold)."""
    with receiving(answer_body=b"x" * 64_000_000) as r:
        assert send(r.url) == delivery.Attempt(200, None)
        deadline = time.monotonic() + 20
        while not r.answered:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    assert r.answered == [False]


def test_a_short_answer_is_written_whole() -> None:
    with receiving() as r:
        assert send(r.url).ok
        deadline = time.monotonic() + 20
        while not r.answered:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    assert r.answered == [True]


def test_the_connection_goes_to_the_checked_address_whatever_the_name_resolves_to_now() -> None:
    """DNS rebinding: the name is not resolved again; the Host header keeps the name."""
    with receiving() as r:
        port = int(r.url.rsplit(":", 1)[1].split("/")[0])
        target = urls.Target(
            url=f"http://rebind.invalid:{port}/hook",
            scheme="http",
            host="rebind.invalid",
            port=port,
            address=ipaddress.ip_address("127.0.0.1"),
        )
        result = asyncio.run(delivery.send(target, b"{}", {}, timeout=5))
        (got,) = r.wait_for(1)
    assert result.ok and got.headers["host"] == f"rebind.invalid:{port}"


def test_backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    low = [delivery.backoff(n, base=10, cap=3600, rand=lambda: 0.0) for n in range(1, 12)]
    high = [delivery.backoff(n, base=10, cap=3600, rand=lambda: 1.0) for n in range(1, 12)]
    assert high[:4] == [10, 20, 40, 80] and high[-1] == 3600 == high[-2]
    assert low == [h / 2 for h in high]
    assert delivery.backoff(10_000, base=10, cap=60) <= 60  # no overflow far out
    assert 5 <= delivery.backoff(1, base=10, cap=3600) <= 10


def test_a_secret_is_new_each_time_and_marked() -> None:
    a, b = signing.new_secret(), signing.new_secret()
    assert a != b and a.startswith("whsec_") and len(a) > 40
