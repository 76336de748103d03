"""The serial console with the API and the worker as separate processes (production's shape):
two `vpsorg serve --no-worker` processes and one `vpsorg worker` on one database. The API
relays each session to the worker's console relay (vpsorg.worker.console), whose address the
worker wrote on its host's row; the worker consumes the ticket. A simulated clock
(vpsorg.clock) lets a ticket expire without waiting."""

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import Proc, free_port, prepare_database, run_db, spawn, test_settings, wait_http
from tests.console.session import Session, refused
from vpsorg import clock
from vpsorg.accounts import service as accounts
from vpsorg.console.models import ConsoleTicket
from vpsorg.hosts.models import Host

TIMEOUT = 180  # a loaded machine starts a process slowly (imports alone took 40 s under load)
POLICY_VIOLATION = 1008


class Plane:
    def __init__(self, tmp: Path) -> None:
        self.clock = tmp / "clock"
        self.offset = 0.0
        clock.set_offset(str(self.clock), 0)
        self.settings = test_settings(tmp / "console.db")
        prepare_database(self.settings)
        env = {clock.ENV: str(self.clock)}
        self.procs: list[Proc] = [spawn(["worker"], self.settings, tmp / "worker.log", env=env)]
        self.urls: list[str] = []
        for n in range(2):
            port = free_port()
            args = ["serve", "--no-worker", "--port", str(port)]
            self.procs.append(spawn(args, self.settings, tmp / f"api{n}.log", env=env))
            self.urls.append(f"http://127.0.0.1:{port}")
        for url in self.urls:
            wait_http(url + "/healthz", timeout=TIMEOUT)

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        clock.set_offset(str(self.clock), self.offset)

    def customer(self) -> tuple[httpx.Client, httpx.Client]:
        async def make(session: Any) -> str:
            email = f"c{time.monotonic_ns()}@example.com"
            account = await accounts.create_account(session, email=email, credit=Decimal("1000"))
            return await accounts.create_token(session, account_id=account.id)

        token = str(run_db(self.settings, make))
        headers = {"Authorization": f"Bearer {token}"}
        return tuple(httpx.Client(base_url=url, headers=headers, timeout=TIMEOUT) for url in self.urls)  # type: ignore[return-value]

    def db(self, fn: Any) -> Any:
        return run_db(self.settings, fn)

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    p = Plane(tmp_path_factory.mktemp("console"))
    try:
        yield p
    finally:
        p.stop()


def active_server(http: httpx.Client, hostname: str) -> int:
    body = {"name": "relay-1", "hostname": hostname, "plan_id": 1, "os_id": 5, "location": "us-west"}
    r = http.post("/api/v1/servers/", json=body)
    assert r.status_code == 201, r.text
    server_id = int(r.json()["id"])
    deadline = time.monotonic() + TIMEOUT
    while http.get(f"/api/v1/servers/{server_id}/").json()["status"] != "active":
        assert time.monotonic() < deadline, "the server did not become active"
        time.sleep(0.1)
    return server_id


def ticket_url(http: httpx.Client, server_id: int, base: str) -> str:
    r = http.post(f"/api/v1/servers/{server_id}/console/")
    assert r.status_code == 201, r.text
    url = str(r.json()["url"])
    issuer = str(http.base_url).rstrip("/").replace("http://", "ws://")
    assert url.startswith(issuer + "/api/v1/console/"), url
    return base.replace("http://", "ws://") + url.removeprefix(issuer)


def test_a_session_through_the_workers_relay(plane: Plane) -> None:
    first, second = plane.customer()
    server_id = active_server(first, "relay.example.net")
    addresses = plane.db(lambda s: s.scalars(select(Host.console_address)))
    assert any(a and a.startswith("127.0.0.1:") for a in addresses), "the worker wrote no relay address"
    url = ticket_url(first, server_id, plane.urls[1])  # issued by one API process, used at the other
    console = Session(url)
    try:
        assert b"relay.example.net login: " in console.until(b"login: ")
        console.send("vpsorg\r")
        console.until(b"Password: ")
        console.send("vpsorg\r")
        console.until(b"$ ")
        assert console.run("hostname") == "relay.example.net"
    finally:
        console.close()
    used = plane.db(lambda s: s.scalars(select(ConsoleTicket.used_at)))
    assert [u for u in used if u is not None], "the ticket was not consumed"
    used_ticket = url.rsplit("/", 1)[1]
    for base in plane.urls:  # used: neither process opens it again
        code, reason = refused(f"{base.replace('http://', 'ws://')}/api/v1/console/{used_ticket}")
        assert code == POLICY_VIOLATION, reason


def test_an_expired_ticket_is_refused_by_every_process(plane: Plane) -> None:
    first, _ = plane.customer()
    server_id = active_server(first, "late.example.net")
    urls = [ticket_url(first, server_id, base) for base in plane.urls]
    plane.advance(61)
    for url in urls:
        code, reason = refused(url)
        assert code == POLICY_VIOLATION
        assert "expired" in reason
