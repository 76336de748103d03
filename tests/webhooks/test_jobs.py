"""The worker's webhook jobs driven by hand (the API without a worker, the jobs run here with
settings of their own): the URL is checked again at every delivery, so one allowed when
created but not when sent is not sent; a webhook's deliveries wait their turn; a stale claim's
outcome is discarded."""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.conftest import Live, prepare_database, serve_in_thread, test_settings
from tests.webhooks.conftest import FAST
from tests.webhooks.helpers import create_webhook, deliveries
from tests.webhooks.receiver import receiving
from vpsorg.config import Settings
from vpsorg.db import make_engine, make_sessionmaker
from vpsorg.webhooks import delivery, jobs


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Live]:
    settings = test_settings(tmp_path / "vpsorg.db", **FAST)
    prepare_database(settings)
    with serve_in_thread(settings, run_worker=False) as server:
        yield server


def run(settings: Settings, fn: Any) -> Any:
    async def main() -> Any:
        engine = make_engine(settings)
        try:
            return await fn(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    return asyncio.run(main())


def attempts(outcome: str) -> float:
    """This process's vpsorg_webhook_attempts_total of an outcome."""
    return REGISTRY.get_sample_value("vpsorg_webhook_attempts_total", {"outcome": outcome}) or 0.0


def test_a_url_allowed_when_created_but_not_when_sent_is_not_sent(api: Live) -> None:
    customer = api.account()
    retries, successes = attempts("retry"), attempts("succeeded")
    with receiving() as r:
        hook = create_webhook(customer, r.url, event_types=["server.created"])
        customer.create_server()
        strict = api.settings.model_copy(update={"webhooks_allow_http": False})
        run(strict, lambda sessions: jobs.run(sessions, strict, owner="test"))
        assert r.got == []
        (refused,) = deliveries(customer, hook["id"])
        assert refused["status"] == "pending" and refused["attempts"] == 1
        assert refused["last_status_code"] is None and attempts("retry") == retries + 1
        assert (
            refused["last_error"] == "not sent: Invalid url: the scheme must be https (http is not allowed)"
        )
        time.sleep(0.25)  # due again (retries back off at most 0.2 s here)
        run(api.settings, lambda sessions: jobs.run(sessions, api.settings, owner="test"))  # allowed
        assert len(r.wait_for(1)) == 1
        assert deliveries(customer, hook["id"])[0]["status"] == "succeeded"
        assert attempts("succeeded") == successes + 1


def test_a_stale_claims_outcome_is_discarded_and_the_next_waits_its_turn(api: Live) -> None:
    customer = api.account()
    with receiving() as r:
        hook = create_webhook(customer, r.url)
        customer.create_server()
        settings = api.settings

        async def scenario(
            sessions: Any,
        ) -> tuple[list[jobs.Claimed], list[jobs.Claimed], str | None, list[jobs.Claimed]]:
            await jobs.fan_out(sessions)
            async with sessions.begin() as session:
                first = await jobs.claim(session, owner="a", lease_seconds=0.01, limit=10)
            await asyncio.sleep(0.05)  # a's lease runs out
            async with sessions.begin() as session:
                second = await jobs.claim(session, owner="b", lease_seconds=60, limit=10)
            async with sessions.begin() as session:  # a's late outcome: refused by the fence
                stale = await jobs.record(session, first[0], delivery.Attempt(200, None), settings)
            async with sessions.begin() as session:  # b holds the head: nothing else is claimable
                third = await jobs.claim(session, owner="c", lease_seconds=60, limit=10)
            return first, second, stale, third

        first, second, stale, third = run(settings, scenario)
    assert len(first) == 1 and len(second) == 1  # one webhook: only its head, once at a time
    assert second[0].id == first[0].id and second[0].fence == first[0].fence + 1
    assert second[0].attempts == 2
    assert stale is None and third == []
    log = deliveries(customer, hook["id"])
    assert log[-1]["id"] == first[0].id and log[-1]["status"] == "pending"
    assert all(d["attempts"] == 0 for d in log[:-1])
