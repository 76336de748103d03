"""Rate limits per token (README: "Rate limits"), over real HTTP on both databases.

The shared `live` server's limit is far above what tests send (tests/conftest.py); the tests
that reach a limit run servers of their own with a small one. Fixed windows of an hour keep
a window from ending mid-test on a busy machine; the SDK test uses one of two seconds on purpose.
"""

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    Live,
    Proc,
    free_port,
    prepare_database,
    serve_in_thread,
    spawn,
    test_settings,
    wait_http,
)
from vpsorg.client import Client

RATE_LIMIT = re.compile(r'"default";r=(\d+);t=(\d+)')


def remaining(response: httpx.Response) -> int:
    match = RATE_LIMIT.fullmatch(response.headers.get("RateLimit", ""))
    assert match, f"no RateLimit header on {response.status_code}: {dict(response.headers)}"
    return int(match.group(1))


@pytest.fixture
def small_limit(tmp_path: Path) -> Iterator[Live]:
    """A server of its own whose tokens may send 5 requests an hour."""
    settings = test_settings(tmp_path / "vpsorg.db", rate_limit="5/hour")
    prepare_database(settings)
    with serve_in_thread(settings) as server:
        yield server


def test_success_and_authenticated_errors_carry_the_ratelimit_headers(live: Live) -> None:
    customer = live.account()
    reader = live.client(live.token(customer.account_id, scope="read"))
    first = customer.http.get("/api/v1/account/")
    assert first.status_code == 200
    assert first.headers["RateLimit-Policy"] == '"default";q=1000000;w=86400'
    answers = [
        customer.http.get("/api/v1/account/"),
        customer.http.get("/api/v1/servers/2147483000/"),  # 404 not_found, after authentication
        customer.http.get("/api/v1/servers/abc/"),  # 400 validation_error
        customer.http.post("/api/v1/servers/", json={"name": "x"}),  # 400: missing fields
    ]
    assert [r.status_code for r in answers] == [200, 404, 400, 400]
    for r in answers:
        assert r.headers["RateLimit-Policy"] == '"default";q=1000000;w=86400'
        assert 0 <= int(RATE_LIMIT.fullmatch(r.headers["RateLimit"]).group(2)) <= 86400  # type: ignore[union-attr]
    # Each counted once, in order, against this token alone.
    assert [remaining(r) for r in answers] == [remaining(first) - n for n in range(1, 5)]
    refused = reader.post("/api/v1/servers/", json={})  # 403 forbidden: a read token writing
    assert refused.status_code == 403 and remaining(refused) == 1000000 - 1
    # Unauthenticated answers count against no token and carry no RateLimit headers.
    anonymous = httpx.get(live.url + "/api/v1/account/")
    assert anonymous.status_code == 401 and "RateLimit" not in anonymous.headers


def test_the_sixth_request_is_429_rate_limited_and_other_tokens_are_unaffected(small_limit: Live) -> None:
    customer = small_limit.account()
    answers = [customer.http.get("/api/v1/account/") for _ in range(5)]
    assert [r.status_code for r in answers] == [200] * 5
    assert [remaining(r) for r in answers] == [4, 3, 2, 1, 0]
    sixth = customer.http.get("/api/v1/servers/")
    assert sixth.status_code == 429
    assert sixth.json()["error"]["code"] == "rate_limited"
    assert set(sixth.json()["error"]) == {"code", "message", "details"}
    retry_after = int(sixth.headers["Retry-After"])
    assert 1 <= retry_after <= 3600
    assert sixth.headers["RateLimit-Policy"] == '"default";q=5;w=3600'
    assert remaining(sixth) == 0
    assert customer.http.post("/api/v1/ssh-keys/", json={}).status_code == 429  # every verb
    # Another token of the same account, and another account, count on their own.
    same_account = small_limit.client(small_limit.token(customer.account_id))
    assert same_account.get("/api/v1/account/").status_code == 200
    other = small_limit.account()
    assert other.http.get("/api/v1/account/").status_code == 200


def test_the_sdk_waits_out_a_429_and_succeeds(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "vpsorg.db", rate_limit="1/2 seconds")
    prepare_database(settings)
    statuses: list[int] = []
    calls = 0
    with serve_in_thread(settings) as server:
        customer = server.account()
        http = httpx.Client(timeout=30, event_hooks={"response": [lambda r: statuses.append(r.status_code)]})
        with Client(server.url, customer.token, http=http, max_retries=5) as vps:
            # A call right after another one meets a 429 (unless the machine was so slow that
            # the window had passed: then another call, at most 5).
            while 429 not in statuses and calls < 5:
                assert vps.account.get().email.endswith("@example.com")
                calls += 1
    # The call that met the 429 waited for Retry-After, was sent again and succeeded.
    assert 429 in statuses, statuses
    assert statuses.count(200) == calls and statuses[-1] == 200


def test_an_unreachable_redis_lets_requests_through_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Fail open: the limiter's outage is not the API's (README: "Rate limits")."""
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    metrics_port = free_port()
    settings = test_settings(
        tmp_path / "vpsorg.db", rate_limit="1/hour", rate_limit_storage=closed, metrics_port=metrics_port
    )
    prepare_database(settings)
    caplog.set_level(logging.ERROR, logger="vpsorg.ratelimit")
    with serve_in_thread(settings) as server:
        customer = server.account()
        answers = [customer.http.get("/api/v1/account/") for _ in range(3)]
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert all("RateLimit" not in r.headers for r in answers)
    failures = [r for r in caplog.records if "rate-limit storage failed" in r.getMessage()]
    assert len(failures) == 1, caplog.text
    assert re.search(r"^vpsorg_rate_limit_storage_errors_total [1-9]", metrics, re.M), metrics[-600:]


def api_process(settings: Any, tmp_path: Path, n: int) -> tuple[Proc, str]:
    port = free_port()
    proc = spawn(["serve", "--no-worker", "--port", str(port)], settings, tmp_path / f"api{n}.log")
    return proc, f"http://127.0.0.1:{port}"


def test_two_api_processes_sharing_redis_hold_one_limit(tmp_path: Path, redis_url: str) -> None:
    settings = test_settings(tmp_path / "vpsorg.db", rate_limit="10/hour", rate_limit_storage=redis_url)
    prepare_database(settings)
    live = Live(url="", settings=settings, app=None)
    token = live.account().token
    procs = [api_process(settings, tmp_path, n) for n in range(2)]
    try:
        for _, url in procs:
            wait_http(url + "/healthz", timeout=120)  # a busy machine starts processes slowly
        clients = [
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) for _, url in procs
        ]
        by_process: list[list[int]] = [[], []]
        for i in range(20):  # alternately to each process
            by_process[i % 2].append(clients[i % 2].get("/api/v1/account/").status_code)
    finally:
        for proc, _ in procs:
            proc.stop()
    statuses = by_process[0] + by_process[1]
    assert statuses.count(200) == 10 and statuses.count(429) == 10, by_process
    # Each process answered both: the count is one, not one per process.
    assert by_process[0] == by_process[1] == [200] * 5 + [429] * 5


def test_ci_starts_redis_and_runs_the_redis_tests() -> None:
    """.ci/run installs and starts Redis and hands it to both test runs, where a missing Redis
    fails the Redis tests (tests/ratelimit/conftest.py) instead of skipping them."""
    root = Path(__file__).resolve().parents[2]
    ci = (root / ".ci" / "run").read_text()
    packages = re.search(r"packages=\((.*?)\)", ci, re.S)
    assert packages and "redis-server" in packages.group(1).split()
    assert "\nredis_url=$(scripts/start-redis.sh)\n" in ci
    assert "\nexport VPSORG_TEST_REDIS_URL=$redis_url" in ci
    assert (root / "scripts" / "start-redis.sh").stat().st_mode & 0o111
