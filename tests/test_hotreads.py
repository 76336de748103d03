"""vpsorg.hotreads: on PostgreSQL the hot path's reads run on psycopg directly, and read every
row exactly as a session does (the columns' own result processors: UTC timestamps, numerics)."""

import asyncio
from typing import Any

import pytest

from tests.conftest import Customer, Live
from tests.databases import on_postgresql
from vpsorg.accounts import service as accounts
from vpsorg.db import make_engine
from vpsorg.hotreads import HotReads, first
from vpsorg.servers import service as servers

pytestmark = pytest.mark.skipif(not on_postgresql(), reason="PostgreSQL only (SQLite reads on the session)")


def test_a_row_reads_the_same_on_the_hot_reads_as_on_a_session(live: Live, customer: Customer) -> None:
    server = customer.active_server()
    customer.http.get("/api/v1/servers/")  # usage and last_used_at: more columns set
    params = {"token_hash": accounts.hash_token(customer.token), "server_id": server["id"]}

    async def both() -> tuple[Any, Any]:
        engine = make_engine(live.settings)
        hot = HotReads(live.settings.database_url, engine.dialect, max_size=2)
        await hot.open()
        try:
            from_hot = await first(hot, servers._DETAIL_BY_TOKEN, params)
            async with engine.connect() as connection:
                from_session = (await connection.execute(servers._DETAIL_BY_TOKEN, params)).first()
        finally:
            await hot.close()
            await engine.dispose()
        return from_hot, from_session

    from_hot, from_session = asyncio.run(both())
    assert from_hot is not None and from_session is not None
    hot_row, session_row = from_hot._asdict(), dict(from_session._mapping)
    assert hot_row == session_row
    assert {k: type(v) for k, v in hot_row.items()} == {k: type(v) for k, v in session_row.items()}
    assert hot_row["created_at"].utcoffset().total_seconds() == 0
    assert servers.detail(from_hot) == servers.detail(from_session)


def test_the_api_reads_on_the_hot_reads(live: Live, customer: Customer) -> None:
    """The detail route takes no connection of the engine's pool: its query ran on the hot reads."""
    server = customer.active_server()
    state = live.app.state.vpsorg
    assert state.hot_reads is not None
    before = state.hot_reads.pool.get_stats().get("requests_num", 0)
    r = customer.http.get(f"/api/v1/servers/{server['id']}/")
    assert r.status_code == 200, r.text
    assert state.hot_reads.pool.get_stats()["requests_num"] == before + 1  # token and server: one
