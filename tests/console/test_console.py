"""The serial console through the API, on the simulator, with the worker in the API's process
(`vpsorg serve`): a ticket's rules (its account, a running server, single use, expiry) and a
real WebSocket session (the login prompt, a login, `hostname`)."""

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from websockets.exceptions import ConnectionClosed

from tests.conftest import Customer, Live, prepare_database, serve_in_thread, test_settings
from tests.console.session import Session, refused
from vpsorg.console import service as consoles
from vpsorg.console.models import ConsoleTicket
from vpsorg.db import utcnow

POLICY_VIOLATION = 1008


def ticket(customer: Customer, server_id: int) -> dict[str, str]:
    r = customer.http.post(f"/api/v1/servers/{server_id}/console/")
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_a_session_logs_in_and_reads_the_hostname(customer: Customer) -> None:
    server = customer.active_server(name="console-1", hostname="console-1.example.com")
    answer = ticket(customer, server["id"])
    assert answer["url"].startswith(customer.live.url.replace("http://", "ws://") + "/api/v1/console/")
    expires = datetime.fromisoformat(answer["expires_at"].replace("Z", "+00:00"))
    assert 50 < (expires - datetime.now(UTC)).total_seconds() <= 60

    console = Session(answer["url"])
    try:
        assert b"console-1.example.com login: " in console.until(b"login: ")
        console.send("vpsorg\r")
        console.until(b"Password: ")
        console.send("wrong\r")
        assert b"Login incorrect" in console.until(b"login: ")
        console.send("vpsorg\r")
        console.until(b"Password: ")
        console.send("vpsorg\r")
        console.until(b"$ ")
        assert console.run("hostname") == "console-1.example.com"
        assert console.run("whoami") == "vpsorg"
        console.send("exit\r")
        assert b"console-1.example.com login: " in console.until(b"login: ")
    finally:
        console.close()


def test_text_frames_are_typed_too(customer: Customer) -> None:
    server = customer.active_server(hostname="text.example.org")
    console = Session(ticket(customer, server["id"])["url"])
    try:
        console.until(b"login: ")
        console.ws.send("vpsorg\r")  # a text frame
        console.until(b"Password: ")
        console.ws.send("vpsorg\r")
        console.until(b"$ ")
        assert console.run("hostname") == "text.example.org"
    finally:
        console.close()


def test_a_ticket_opens_one_session_only(customer: Customer) -> None:
    server = customer.active_server()
    url = ticket(customer, server["id"])["url"]
    first = Session(url)
    try:
        first.until(b"login: ")
        code, reason = refused(url)
        assert code == POLICY_VIOLATION
        assert "unknown, expired or used" in reason
    finally:
        first.close()
    assert refused(url)[0] == POLICY_VIOLATION  # nor after the first one ended


def test_a_ticket_expires(customer: Customer, live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    server = customer.active_server()
    monkeypatch.setattr(live.settings, "console_ticket_seconds", 0.2)
    url = ticket(customer, server["id"])["url"]
    time.sleep(0.5)
    code, reason = refused(url)
    assert code == POLICY_VIOLATION
    assert "expired" in reason


def test_an_unknown_ticket_is_refused(live: Live) -> None:
    url = live.url.replace("http://", "ws://") + "/api/v1/console/not-a-ticket"
    code, reason = refused(url)
    assert (code, reason) == (
        POLICY_VIOLATION,
        "The console ticket is unknown, expired or used; request a new one",
    )


def test_another_accounts_server_is_not_found(customer: Customer, live: Live) -> None:
    server = customer.active_server()
    other = live.account()
    r = other.http.post(f"/api/v1/servers/{server['id']}/console/")
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "not_found"


def test_a_read_token_cannot_open_a_console(customer: Customer, live: Live) -> None:
    server = customer.active_server()
    reader = live.client(live.token(customer.account_id, scope="read"))
    r = reader.post(f"/api/v1/servers/{server['id']}/console/")
    assert r.status_code == 403, r.text


def test_only_a_running_server_has_a_console(customer: Customer) -> None:
    server = customer.active_server()
    url = ticket(customer, server["id"])["url"]  # issued while it ran
    r = customer.http.post(f"/api/v1/servers/{server['id']}/stop/")
    assert r.status_code in (200, 201, 202), r.text
    customer.wait_status(server["id"], "stopped")
    r = customer.http.post(f"/api/v1/servers/{server['id']}/console/")
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_state"
    assert r.json()["error"]["details"]["status"] == "stopped"
    code, reason = refused(url)  # the ticket of a server that stopped since opens nothing
    assert code == POLICY_VIOLATION
    assert "not running" in reason


def test_a_session_ends_when_the_client_leaves(customer: Customer) -> None:
    server = customer.active_server()
    console = Session(ticket(customer, server["id"])["url"])
    console.until(b"login: ")
    console.close()
    with pytest.raises(ConnectionClosed):
        console.ws.recv(timeout=5)


def test_the_url_follows_the_public_url(tmp_path: Path) -> None:
    """Behind a proxy (VPSORG_PUBLIC_URL with a path prefix, https): a wss:// URL on the public
    base; the socket answers at the path the proxy forwards, with or without the prefix."""
    settings = test_settings(tmp_path / "public.db", public_url="https://vps.example.com/cloud")
    prepare_database(settings)
    with serve_in_thread(settings) as live:
        customer = live.account()
        server = customer.active_server(hostname="behind.example.com")
        url = ticket(customer, server["id"])["url"]
        assert url.startswith("wss://vps.example.com/cloud/api/v1/console/"), url
        forwarded = live.url.replace("http://", "ws://") + "/cloud/api/v1/console/" + url.rsplit("/", 1)[1]
        console = Session(forwarded)
        try:
            assert b"behind.example.com login: " in console.until(b"login: ")
        finally:
            console.close()


def test_old_tickets_are_purged(customer: Customer, live: Live) -> None:
    server = customer.active_server()
    ticket(customer, server["id"])

    async def age_and_purge(session: Any) -> tuple[int, int]:
        mine = ConsoleTicket.server_id == server["id"]
        await session.execute(
            update(ConsoleTicket).where(mine).values(expires_at=utcnow() - timedelta(days=2))
        )
        purged = await consoles.purge(session)
        left = await session.scalar(select(func.count()).select_from(ConsoleTicket).where(mine))
        return purged, left

    purged, left = live.db(age_and_purge)
    assert purged >= 1 and left == 0
