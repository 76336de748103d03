"""Events are kept VPSORG_EVENT_RETENTION_DAYS (30 by default): the worker purges older ones
(at its start, then hourly), and keeps the rest."""

import asyncio
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from tests.conftest import prepare_database, run_db, spawn, test_settings
from vpsorg import clock
from vpsorg.accounts import service as accounts
from vpsorg.config import Settings
from vpsorg.db import make_engine, make_sessionmaker
from vpsorg.events import jobs
from vpsorg.events.models import Event

AGES = {"older": 40, "just-older": 31, "just-younger": 29, "recent": 1, "today": 0}  # days


def test_the_default_is_30_days() -> None:
    assert Settings().event_retention_days == 30


def _seed(settings: Settings) -> int:
    async def make(session: Any) -> int:
        account = await accounts.create_account(session, email="old@example.com", credit=Decimal("5"))
        now = clock.now()
        for name, days in AGES.items():
            await session.execute(
                insert(Event).values(
                    account_id=account.id,
                    type="account.suspended",
                    object_type="account",
                    object_id=account.id,
                    server_id=None,
                    data={"reason": name},
                    created_at=now - timedelta(days=days, minutes=1),
                )
            )
        return int(account.id)

    return int(run_db(settings, make))


def _reasons(settings: Settings, account_id: int) -> set[str]:
    async def read(session: Any) -> set[str]:
        q = select(Event.data).where(Event.account_id == account_id, Event.type == "account.suspended")
        return {d["reason"] for d in await session.scalars(q)}

    return set(run_db(settings, read))


def test_the_worker_purges_events_past_the_retention(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "retention.db")
    prepare_database(settings)
    account_id = _seed(settings)
    assert _reasons(settings, account_id) == set(AGES)
    worker = spawn(["worker"], settings, tmp_path / "worker.log", env={"VPSORG_EVENT_RETENTION_DAYS": "30"})
    try:
        deadline = time.monotonic() + 60
        while _reasons(settings, account_id) & {"older", "just-older"}:
            assert worker.popen.poll() is None, worker.log.read_text()
            assert time.monotonic() < deadline, worker.log.read_text()
            time.sleep(0.1)
    finally:
        worker.stop()
    # The same statement kept these: they are younger than 30 days.
    assert _reasons(settings, account_id) == {"just-younger", "recent", "today"}
    assert "Traceback" not in worker.log.read_text()


def test_a_shorter_retention_purges_more(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "retention7.db", event_retention_days=7)
    prepare_database(settings)
    account_id = _seed(settings)

    async def purge() -> int:
        engine = make_engine(settings)
        try:
            return await jobs.purge_old(
                make_sessionmaker(engine), retention_days=settings.event_retention_days
            )
        finally:
            await engine.dispose()

    assert asyncio.run(purge()) == 3
    assert _reasons(settings, account_id) == {"recent", "today"}
    assert asyncio.run(purge()) == 0
