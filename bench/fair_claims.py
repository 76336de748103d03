"""What one claim costs with a backlog: the fair claim (vpsorg.actions.service.claim_next)
against the claim it replaced (the oldest claimable action), on PostgreSQL.

Builds a fresh database on the server of VPSORG_TEST_DATABASE_URL: account A with 100
servers and a backlog of BACKLOG reboots on them, 20 more accounts with 5 each, and four
times as many finished actions (the table is also the audit record); ANALYZE, as autovacuum
would after such a burst. Then,
for each policy in turn on a copy of that queue, claims CLAIMS actions the way a worker
with concurrency 4 does (four running; the oldest is finished before the next claim), and
prints the median time of a claim, the ratio, and the query plan of the fair claim's walk.
Loopback only, bounded.

    VPSORG_TEST_DATABASE_URL=postgresql+psycopg://... .venv/bin/python bench/fair_claims.py [BACKLOG] [CLAIMS]
"""

import asyncio
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import delete, insert, select  # noqa: E402

from tests.conftest import prepare_database, test_settings  # noqa: E402
from tests.databases import drop_created, on_postgresql  # noqa: E402
from vpsorg.accounts import service as accounts  # noqa: E402
from vpsorg.actions import service as actions  # noqa: E402
from vpsorg.actions.models import Action  # noqa: E402
from vpsorg.config import Settings  # noqa: E402
from vpsorg.db import make_engine, make_sessionmaker, utcnow  # noqa: E402
from vpsorg.servers import service as servers  # noqa: E402
from vpsorg.servers.schemas import ServerCreate  # noqa: E402

BACKLOG = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
CLAIMS = int(sys.argv[2]) if len(sys.argv) > 2 else 200
HISTORY = 4  # finished actions in the table, per queued one
ORDER = ServerCreate(name="bench", plan_id=1, os_id=5, location="us-west")


async def oldest_first(session, *, owner, lease_seconds, exclude):  # type: ignore[no-untyped-def]
    """The claim before fair queues: the oldest claimable action."""
    q = (
        select(Action.id)
        .where(actions._claimable(utcnow()))
        .order_by(Action.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=Action)
    )
    action_id = await session.scalar(q)
    return await actions.claim(session, action_id=action_id, owner=owner, lease_seconds=lease_seconds)


async def queue(sessions) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    """The accounts and servers; the (account_id, server_id) of each action to queue."""
    rows: list[dict[str, object]] = []
    async with sessions.begin() as s:
        big = await accounts.create_account(s, email="a@example.com", credit=Decimal(10**6))
        owned = [(await servers.create_server(s, account_id=big.id, data=ORDER))[0].id for _ in range(100)]
        rows += [{"account_id": big.id, "server_id": owned[i % 100]} for i in range(BACKLOG - 100)]
        for n in range(20):
            small = await accounts.create_account(s, email=f"s{n}@example.com", credit=Decimal(100))
            sid = (await servers.create_server(s, account_id=small.id, data=ORDER))[0].id
            rows += [{"account_id": small.id, "server_id": sid}] * 5
    return rows


async def fill(sessions, rows) -> None:  # type: ignore[no-untyped-def]
    async with sessions.begin() as s:
        await s.execute(delete(Action))
        history = [dict(r, type="reboot", status="success") for r in rows[::-1]] * HISTORY
        await s.execute(insert(Action), history)  # the audit record: done actions stay
        await s.execute(insert(Action), [dict(r, type="reboot", status="queued") for r in rows])
    async with sessions.kw["bind"].connect() as conn:  # as autovacuum would, after a burst of inserts
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("VACUUM ANALYZE actions")


async def run(sessions, rows, claim) -> float:  # type: ignore[no-untyped-def]
    await fill(sessions, rows)
    running: list[Action] = []
    times = []
    for _ in range(CLAIMS):
        if len(running) == 4:
            done = running.pop(0)
            async with sessions.begin() as s:
                await actions.finish(s, action_id=done.id, fence=done.fence)
        started = time.perf_counter()
        async with sessions.begin() as s:
            action = await claim(s, owner="bench", lease_seconds=600, exclude=set())
        times.append(time.perf_counter() - started)
        assert action is not None
        running.append(action)
    return statistics.median(times)


async def main(settings: Settings) -> None:
    if True:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        rows = await queue(sessions)
        before = await run(sessions, rows, oldest_first)
        after = await run(sessions, rows, actions.claim_next)
        await fill(sessions, rows)
        async with sessions.begin() as s:
            compiled = (
                actions.fair_order()
                .params(actions.params(utcnow(), set()))
                .compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
            )
            conn = await s.connection()
            explain = "EXPLAIN ANALYZE " + str(compiled)
            plan = (await conn.exec_driver_sql(explain, compiled.params)).scalars().all()
        await engine.dispose()
    print("\n".join(plan))
    print(f"backlog {BACKLOG}, {CLAIMS} claims, median per claim (ms):")
    print(f"oldest first {before * 1000:.2f}   fair {after * 1000:.2f}   ratio {after / before:.2f}")


if not on_postgresql():
    raise SystemExit(
        "set VPSORG_TEST_DATABASE_URL=postgresql+psycopg://... (a role that may create databases)"
    )
try:
    with tempfile.TemporaryDirectory() as tmp:
        settings = test_settings(Path(tmp) / "bench.db")
        prepare_database(settings)
        asyncio.run(main(settings))
finally:
    drop_created()
