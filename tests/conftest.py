"""Test fixtures: a real uvicorn server on loopback, over a real database (SQLite files, or
PostgreSQL with VPSORG_TEST_DATABASE_URL: see tests/databases.py).

One server runs for the whole session (with the worker in-process and the simulator at
time scale 0); tests isolate themselves by creating their own accounts. Tests that need
processes of their own (crash recovery, the CLI) start them with `spawn_server`.
"""

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import event

from tests.databases import backend_name, database_url, drop_created, on_postgresql
from vpsorg import migrate
from vpsorg.accounts import service as accounts
from vpsorg.app import create_app
from vpsorg.catalog import service as catalog
from vpsorg.catalog.schemas import CatalogIn
from vpsorg.config import Settings
from vpsorg.db import run_transaction

# A location whose IPv4 pool holds exactly one assignable address (a /30 less its gateway).
TINY_LOCATION = {
    "code": "tiny-test",
    "name": "Tiny",
    "country": "ZZ",
    "ipv4_pool": "192.0.2.252/30",
    "ipv4_gateway": "192.0.2.253",
    "ipv6_pool": "2001:db8:ff::/64",
    "ipv6_gateway": "2001:db8:ff::1",
}


def pytest_report_header() -> str:
    return f"database: {backend_name()}"


def pytest_sessionfinish() -> None:
    drop_created()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not on_postgresql():
        terminalreporter.write_line(
            "database: SQLite only. The PostgreSQL half was skipped: set "
            "VPSORG_TEST_DATABASE_URL=postgresql+psycopg://... (README: 'The test suite on PostgreSQL') to run it.",
            yellow=True,
        )
    else:
        terminalreporter.write_line("database: PostgreSQL", green=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Real-guest tests first, as one group: `make test` runs two pytest processes
    (pytest-xdist), and their six minutes of booting guests then overlap the rest."""
    for item in items:
        if item.path.name.startswith("test_real_"):
            item.add_marker(pytest.mark.xdist_group("real-guests"))
    items.sort(key=lambda item: not item.path.name.startswith("test_real_"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_settings(db_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "simulator_time_scale": 0.0,
        "worker_poll_seconds": 0.05,
        "worker_lease_seconds": 3.0,
        "metrics_interval_seconds": 0.5,
        "reconcile_interval_seconds": 0.5,
        "log_level": "warning",
        # Far above anything a test sends: the shared `live` server answers many requests per
        # token (schemathesis sends thousands), and none of them may be throttled; a day's
        # window does not reset mid-test. The rate-limit tests (tests/ratelimit/) set their own.
        "rate_limit": "1000000/day",
        # Browser and panel tests log in from 127.0.0.1 many times a minute (tests/web sets its own).
        "login_rate_limit": "1000000/day",
    }
    values.update(overrides)
    if "database_url" not in values:  # a fresh PostgreSQL database only when one is used
        values["database_url"] = database_url(db_path)
    return Settings(**values)


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def new_public_key() -> str:
    """A fresh OpenSSH public key line (ed25519)."""
    key = Ed25519PrivateKey.generate().public_key()
    raw = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return raw.decode() + " customer@example.com"


def count_commits(engine: Any) -> list[int]:
    """A counter of the engine's commits from now on (`[n]`, updated in place)."""
    commits = [0]

    @event.listens_for(engine.sync_engine, "commit")
    def _commit(_conn: Any) -> None:
        commits[0] += 1

    return commits


@contextmanager
def no_running_loop() -> Iterator[None]:
    """Lets asyncio.run() work where this thread has an event loop marked running: Playwright's
    sync API marks its own so between its calls (it is suspended on a greenlet of its own, see
    tests/web/conftest.py), and a browser test also prepares data. No browser call inside."""
    loop = asyncio._get_running_loop()
    asyncio._set_running_loop(None)
    try:
        yield
    finally:
        asyncio._set_running_loop(loop)


def run_db(settings: Settings, fn: Callable[[Any], Any]) -> Any:
    """Run fn(session) in one committed transaction on a private engine (also in a browser test)."""
    with no_running_loop():
        return run_transaction(settings, fn)


def prepare_database(settings: Settings) -> None:
    migrate.upgrade(settings)
    default = catalog.read_catalog(None)
    extra = CatalogIn.model_validate({"locations": [TINY_LOCATION]})
    run_db(settings, lambda s: catalog.load_catalog(s, catalog=default))
    run_db(settings, lambda s: catalog.load_catalog(s, catalog=extra))


@dataclass
class Live:
    """A running API: its base URL, its settings, and the app (for the in-process worker)."""

    url: str
    settings: Settings
    app: Any

    def account(self, credit: str = "100000", scope: str = "write") -> "Customer":
        """A new account with a token, as an operator would create it."""
        email = f"t-{uuid.uuid4().hex[:12]}@example.com"

        async def make(session: Any) -> tuple[int, str]:
            account = await accounts.create_account(session, email=email, credit=Decimal(credit))
            token = await accounts.create_token(session, account_id=account.id, scope=accounts.Scope(scope))
            return account.id, token

        account_id, token = run_db(self.settings, make)
        return Customer(self, account_id, token)

    def token(self, account_id: int, scope: str = "write") -> str:
        """Another token for an account, with the given scope."""
        return str(
            run_db(
                self.settings,
                lambda s: accounts.create_token(s, account_id=account_id, scope=accounts.Scope(scope)),
            )
        )

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def db(self, fn: Callable[[Any], Any]) -> Any:
        return run_db(self.settings, fn)


class Customer:
    """An account and an httpx client that sends its token."""

    def __init__(self, live: Live, account_id: int, token: str) -> None:
        self.live = live
        self.account_id = account_id
        self.token = token
        self.http = httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def create_server(self, **fields: Any) -> dict[str, Any]:
        body = {"name": "web-1", "plan_id": 1, "os_id": 5, "location": "us-west"} | fields
        r = self.http.post("/api/v1/servers/", json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def wait_status(self, server_id: int, status: str, timeout: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            r = self.http.get(f"/api/v1/servers/{server_id}/")
            assert r.status_code == 200, r.text
            if r.json()["status"] == status:
                return dict(r.json())
            if time.monotonic() > deadline:
                raise AssertionError(f"server {server_id} is {r.json()['status']}, not {status}")
            time.sleep(0.05)

    def wait_action(self, action_id: int, timeout: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            r = self.http.get(f"/api/v1/actions/{action_id}/")
            assert r.status_code == 200, r.text
            if r.json()["status"] in ("success", "error"):
                return dict(r.json())
            if time.monotonic() > deadline:
                raise AssertionError(f"action {action_id} still {r.json()['status']}")
            time.sleep(0.05)

    def active_server(self, **fields: Any) -> dict[str, Any]:
        created = self.create_server(**fields)
        return self.wait_status(created["id"], "active")


@contextmanager
def serve_in_thread(
    settings: Settings, log_level: str = "warning", run_worker: bool = True
) -> Iterator[Live]:
    """The app (with its worker, by default) on a real uvicorn server on a free loopback port."""
    app = create_app(settings, run_worker=run_worker)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield Live(url=f"http://127.0.0.1:{port}", settings=settings, app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    settings = test_settings(tmp_path_factory.mktemp("live") / "vpsorg.db")
    prepare_database(settings)
    with serve_in_thread(settings) as server:
        yield server


@pytest.fixture
def customer(live: Live) -> Customer:
    return live.account()


@dataclass
class Proc:
    """A vpsorg process started by a test."""

    popen: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def vpsorg_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"VPSORG_{name.upper()}"] = str(value)
    return env


def spawn(
    args: list[str],
    settings: Settings,
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Proc:
    """Start `vpsorg ARGS` as a real process with the settings (and `env`) in its environment
    (in `cwd`, when given: `serve --demo` on PostgreSQL writes its token file there)."""
    out = open(log, "ab")  # noqa: SIM115 (closed with the process)
    popen = subprocess.Popen(
        [sys.executable, "-m", "vpsorg", *args],
        env=vpsorg_env(settings) | (env or {}),
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
    )
    return Proc(popen, log)


def wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} did not answer within {timeout}s")
