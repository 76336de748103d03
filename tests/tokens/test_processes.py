"""Revocation and expiry hold in every API process: two `vpsorg serve` processes on one
database, on a simulated clock (vpsorg.clock) that the test moves forward."""

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import Proc, free_port, prepare_database, spawn, test_settings, wait_http
from vpsorg import clock
from vpsorg.accounts.models import ApiToken
from vpsorg.config import Settings

TIMEOUT = 60


class Plane:
    """Two API processes (no worker) on one database, and the clock file they read."""

    def __init__(self, tmp: Path) -> None:
        self.clock = tmp / "clock"
        self.offset = 0.0
        clock.set_offset(str(self.clock), 0)
        self.settings: Settings = test_settings(tmp / "tokens.db")
        prepare_database(self.settings)
        self.procs: list[Proc] = []
        self.urls: list[str] = []
        for n in range(2):
            port = free_port()
            args = ["serve", "--no-worker", "--port", str(port)]
            self.procs.append(
                spawn(args, self.settings, tmp / f"api{n}.log", env={clock.ENV: str(self.clock)})
            )
            self.urls.append(f"http://127.0.0.1:{port}")
        for url in self.urls:
            wait_http(url + "/healthz", timeout=TIMEOUT)

    def client(self, n: int, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.urls[n], headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
        )

    def advance(self, seconds: float) -> None:
        """Move every process's clock forward (tests share the plane: it only moves forward)."""
        self.offset += seconds
        clock.set_offset(str(self.clock), self.offset)

    def last_used(self, token_id: int) -> datetime | None:
        from tests.conftest import run_db

        async def read(session: Any) -> datetime | None:
            value: datetime | None = await session.scalar(
                select(ApiToken.last_used_at).where(ApiToken.id == token_id)
            )
            return value

        return run_db(self.settings, read)  # type: ignore[no-any-return]

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    p = Plane(tmp_path_factory.mktemp("tokens"))
    try:
        yield p
    finally:
        p.stop()


def bootstrap(plane: Plane) -> str:
    """A new account's token (minted directly in the database, as an operator would)."""
    from decimal import Decimal

    from tests.conftest import run_db
    from vpsorg.accounts import service as accounts

    async def make(session: Any) -> str:
        email = f"p{time.monotonic_ns()}@example.com"
        account = await accounts.create_account(session, email=email, credit=Decimal("10"))
        return await accounts.create_token(session, account_id=account.id)

    return str(run_db(plane.settings, make))


def test_revoked_through_one_process_is_refused_by_the_other(plane: Plane) -> None:
    owner = bootstrap(plane)
    with plane.client(0, owner) as a:
        made = a.post("/api/v1/tokens/", json={"name": "roaming"}).json()
    with plane.client(0, made["token"]) as via_a, plane.client(1, made["token"]) as via_b:
        assert via_b.get("/api/v1/servers/").status_code == 200
        assert via_a.delete(f"/api/v1/tokens/{made['id']}/").status_code == 204  # it revokes itself
        r = via_b.get("/api/v1/servers/")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", r.text
        assert via_a.get("/api/v1/servers/").status_code == 401


def test_an_expired_token_is_refused_by_every_process(plane: Plane) -> None:
    owner = bootstrap(plane)
    with plane.client(0, owner) as a:
        made = a.post("/api/v1/tokens/", json={"name": "short", "expires_in_days": 2}).json()
    with plane.client(0, made["token"]) as via_a, plane.client(1, made["token"]) as via_b:
        plane.advance(2 * 86400 - 120)  # two minutes before it expires
        assert via_a.get("/api/v1/account/").status_code == 200
        assert via_b.get("/api/v1/account/").status_code == 200
        plane.advance(121)
        for http in (via_a, via_b):
            r = http.get("/api/v1/account/")
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", r.text
    with plane.client(1, owner) as b:  # still listed, with its expiry, until revoked
        listed = {t["id"]: t for t in b.get("/api/v1/tokens/").json()["results"]}
        assert listed[made["id"]]["expires_at"] == made["expires_at"]


def wait_last_used(plane: Plane, token_id: int, after: datetime | None) -> datetime:
    deadline = time.monotonic() + TIMEOUT
    while True:
        value = plane.last_used(token_id)
        if value is not None and (after is None or value > after):
            return value
        assert time.monotonic() < deadline, f"last_used_at stayed {value}"
        time.sleep(0.05)


def test_last_used_at_is_written_at_most_once_a_minute(plane: Plane) -> None:
    owner = bootstrap(plane)
    with plane.client(0, owner) as a, plane.client(1, owner) as b:
        token_id = a.get("/api/v1/tokens/").json()["results"][0]["id"]
        first = wait_last_used(plane, token_id, None)
        for http in (a, b, a, b):  # within the minute: reads stay reads
            assert http.get("/api/v1/servers/").status_code == 200
        assert b.post("/api/v1/tokens/", json={"name": "probe"}).status_code == 201
        assert plane.last_used(token_id) == first
        plane.advance(61)
        assert b.get("/api/v1/servers/").status_code == 200
        second = wait_last_used(plane, token_id, first)
        assert (second - first).total_seconds() >= 60
        listed = b.get("/api/v1/tokens/").json()["results"]
        assert listed[0]["id"] == token_id and listed[0]["last_used_at"] == second.strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
