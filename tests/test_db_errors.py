"""Database errors are classified: a constraint the database enforces is a conflict (409
`conflict`, or the domain's own error where there is one), and only a database that does not
answer is 503 `database_unavailable`."""

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Request
from sqlalchemy.engine import make_url

from tests.conftest import Live, free_port, new_public_key, prepare_database, serve_in_thread, test_settings
from tests.databases import on_postgresql
from vpsorg.deps import get_state
from vpsorg.ssh_keys import service as ssh_keys
from vpsorg.ssh_keys.models import SshKey


@pytest.fixture(scope="module")
def own_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    settings = test_settings(tmp_path_factory.mktemp("dberrors") / "vpsorg.db")
    prepare_database(settings)
    with serve_in_thread(settings, run_worker=False) as server:
        yield server


def test_an_integrity_error_is_409_conflict(own_live: Live) -> None:
    """A write the database refuses on a constraint (here: a route that inserts the same SSH key
    twice, past the service's check) is 409, not 503."""
    customer = own_live.account()
    line, fingerprint = ssh_keys.parse_public_key(_key())

    async def insert_twice(request: Request) -> None:
        async with get_state(request).write_sessions.begin() as session:
            for _ in range(2):
                session.add(
                    SshKey(account_id=customer.account_id, name="k", public_key=line, fingerprint=fingerprint)
                )
                await session.flush()

    own_live.app.add_api_route("/test/insert-twice/", insert_twice, methods=["POST"])
    r = httpx.post(f"{own_live.url}/test/insert-twice/", timeout=30)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "conflict"
    doc = httpx.get(f"{own_live.url}/openapi.json").json()
    assert "code conflict" in doc["paths"]["/api/v1/ssh-keys/"]["post"]["responses"]["409"]["description"]


def _key() -> str:
    return new_public_key()


def _conninfo(live: Live) -> str:
    return (
        make_url(live.settings.database_url)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )


def test_a_duplicate_ssh_key_racing_past_the_check_is_the_domains_400(own_live: Live) -> None:
    """Another transaction inserts the same key while the request runs: on PostgreSQL the request
    waits for it (on the account row its quota check locks, which the other insert's foreign key
    holds, or on the unique index should it get that far) and answers the domain's 400, never a
    409 or a 503."""
    customer = own_live.account()
    key = _key()
    if not on_postgresql():  # SQLite writers queue for the write lock: the check always sees it
        results = _concurrent_creates(customer.http, key)
        assert sorted(results) == [201] + [400] * (len(results) - 1)
        return
    import psycopg

    line, fingerprint = ssh_keys.parse_public_key(key)
    with psycopg.connect(_conninfo(own_live)) as conn:
        conn.execute(
            "INSERT INTO ssh_keys (account_id, name, public_key, fingerprint, created_at) "
            "VALUES (%s, 'other', %s, %s, now())",
            (customer.account_id, line, fingerprint),
        )
        answer: list[httpx.Response] = []
        thread = threading.Thread(
            target=lambda: answer.append(
                customer.http.post("/api/v1/ssh-keys/", json={"name": "mine", "public_key": key})
            )
        )
        thread.start()
        with psycopg.connect(_conninfo(own_live), autocommit=True) as watcher:
            _wait_for_lock_wait(watcher)
        conn.commit()
        thread.join(timeout=60)
    r = answer[0]
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "validation_error"
    assert "already saved" in r.json()["error"]["message"]


def _wait_for_lock_wait(conn: Any) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        ).fetchone()
        if row[0]:
            return
        time.sleep(0.02)
    raise AssertionError("the request never waited on our uncommitted key")


def _concurrent_creates(http: httpx.Client, key: str, n: int = 4) -> list[int]:
    barrier = threading.Barrier(n)
    results: list[int] = []

    def create() -> None:
        barrier.wait()
        results.append(http.post("/api/v1/ssh-keys/", json={"name": "k", "public_key": key}).status_code)

    threads = [threading.Thread(target=create) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_a_database_that_does_not_answer_is_503(tmp_path: Path) -> None:
    if on_postgresql():
        url = f"postgresql+psycopg://vpsorg:vpsorg@127.0.0.1:{free_port()}/stopped"  # nothing listens
    else:
        url = f"sqlite+aiosqlite:///{tmp_path}/no-such-directory/vpsorg.db"
    settings = test_settings(tmp_path / "unused.db", database_url=url)
    with serve_in_thread(settings, run_worker=False) as server:
        r = httpx.get(f"{server.url}/api/v1/servers/", headers={"Authorization": "Bearer vps_x"}, timeout=30)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "database_unavailable"
    assert r.headers["Retry-After"] == "5"


def test_connections_the_server_closed_while_idle_are_replaced(own_live: Live) -> None:
    """A pooled connection idle past PING_AFTER_IDLE_SECONDS is pinged before use: one the
    server has closed meanwhile (a restart, an idle timeout) costs no request a 503."""
    if not on_postgresql():
        pytest.skip("PostgreSQL only (SQLite has no server to close a connection)")
    import psycopg

    from vpsorg.db import PING_AFTER_IDLE_SECONDS

    customer = own_live.account()
    assert customer.http.get("/api/v1/servers/").status_code == 200
    time.sleep(PING_AFTER_IDLE_SECONDS + 0.5)
    url = make_url(own_live.settings.database_url)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (url.database,),
        ).fetchone()
    assert killed is not None and killed[0] >= 1
    for _ in range(3):
        r = customer.http.get("/api/v1/servers/")
        assert r.status_code == 200, r.text
