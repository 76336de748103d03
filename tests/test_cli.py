"""The operator CLI over a fresh database: `vpsorg ...` in this process through Typer's runner
(tests/operator_cli.py: the same code without an interpreter start per command), and as real
processes (`python -m vpsorg ...`) where the process is the point: serving, signals, the worker
beside the API, and a few commands that show the installed entry point's output and exit status."""

import importlib.metadata
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import text

from tests.conftest import (
    Proc,
    free_port,
    prepare_database,
    run_db,
    spawn,
    test_settings,
    vpsorg_env,
    wait_http,
)
from tests.operator_cli import vpsorg_in_process
from tests.web.panel import browser_client_at, log_in
from vpsorg.accounts import service as accounts
from vpsorg.app import create_app
from vpsorg.config import Settings

TIMEOUT = 180  # a bound on every process and every wait (as tests/test_operator.py): start-up alone took over 60 s beside other test runs
SERVER = {"name": "cli-1", "plan_id": 1, "os_id": 5, "location": "us-west"}


def start(settings: Settings, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "vpsorg", *args],
        env=vpsorg_env(settings),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(popen: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    try:
        out, err = popen.communicate(timeout=TIMEOUT)
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait()
    return subprocess.CompletedProcess(popen.args, popen.returncode, out, err)


def vpsorg(settings: Settings, *args: str, process: bool = False) -> subprocess.CompletedProcess[str]:
    """Run `vpsorg ARGS` to completion: in this process, or with process=True as a real one."""
    if process:
        return finish(start(settings, *args))
    return vpsorg_in_process(list(args), vpsorg_env(settings))


def side_by_side(settings: Settings, *commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run independent `vpsorg` commands at the same time (each start-up is most of the cost)."""
    running = [start(settings, *args) for args in commands]
    try:
        return [finish(popen) for popen in running]
    finally:
        for popen in running:
            if popen.poll() is None:
                popen.kill()
                popen.wait()


def last_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout.strip().splitlines()[-1]


def assert_clean_error(done: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit 1 with one line on stderr naming the problem, and no traceback."""
    assert done.returncode == 1, done
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], done.stderr


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The API (no worker) over settings' database on a loopback port, in this process."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=TIMEOUT)


def client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)


def wait_status(http: httpx.Client, server_id: int, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while True:
        r = http.get(f"/api/v1/servers/{server_id}/")
        assert r.status_code == 200, r.text
        if r.json()["status"] == status:
            return dict(r.json())
        assert time.monotonic() < deadline, f"server {server_id} is {r.json()['status']}, not {status}"
        time.sleep(0.05)


def wait_token(proc: Proc) -> str:
    """The token `serve --demo` prints before it starts serving."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        found = re.search(r"^API token:\s+(\S+)$", proc.log.read_text(errors="replace"), re.MULTILINE)
        if found:
            return found.group(1)
        assert proc.popen.poll() is None, f"serve exited {proc.popen.returncode}:\n{proc.log.read_text()}"
        assert time.monotonic() < deadline, f"no token printed:\n{proc.log.read_text()}"
        time.sleep(0.05)


def demo_password(proc: Proc) -> str:
    """The panel password `serve --demo` prints with the token."""
    found = re.search(r"^  password:\s+(\S+)", proc.log.read_text(errors="replace"), re.MULTILINE)
    assert found, proc.log.read_text()
    return found.group(1)


def stop(proc: Proc) -> int:
    """SIGTERM, as a service manager would; the exit code."""
    proc.popen.send_signal(signal.SIGTERM)
    try:
        return proc.popen.wait(timeout=TIMEOUT)
    finally:
        proc.kill()


def assert_served_and_shut_down(proc: Proc, code: int) -> None:
    """uvicorn shuts down gracefully on SIGTERM, then re-raises the signal: -SIGTERM, not 0."""
    log = proc.log.read_text(errors="replace")
    assert code in (0, -signal.SIGTERM), log
    assert "Application startup complete" in log and "Application shutdown complete" in log, log
    assert "Traceback" not in log, log


def table_counts(settings: Settings) -> dict[str, int]:
    async def count(session: Any) -> dict[str, int]:
        return {
            table: int(await session.scalar(text(f"SELECT count(*) FROM {table}")))  # noqa: S608 (fixed names)
            for table in ("plans", "operating_systems", "locations", "accounts")
        }

    return dict(run_db(settings, count))


def test_bootstrap_commands(tmp_path: Path) -> None:
    """migrate, catalog load, accounts create, tokens create; errors are one line, exit 1."""
    db = tmp_path / "cli.db"
    settings = test_settings(db)

    for process in (True, False):  # idempotent; the first as a real process
        done = vpsorg(settings, "migrate", process=process)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
    assert table_counts(settings) == {"plans": 0, "operating_systems": 0, "locations": 0, "accounts": 0}

    loaded = vpsorg(settings, "catalog", "load")
    assert re.fullmatch(r"loaded \d+ plans, \d+ operating systems, \d+ locations", last_line(loaded))
    account_id = int(
        last_line(vpsorg(settings, "accounts", "create", "--email", "ops@example.com", "--credit", "50"))
    )

    # A token and a one-line refusal from real processes (what the shell sees), side by side.
    minted, duplicate = side_by_side(
        settings,
        ["tokens", "create", "--account", str(account_id)],
        ["accounts", "create", "--email", "ops@example.com", "--credit", "5"],
    )
    token = last_line(minted)
    assert re.fullmatch(r"\S{20,}", token), token
    assert_clean_error(duplicate, "an account with this email exists")
    assert_clean_error(
        vpsorg(settings, "accounts", "create", "--email", "ops@example.com"), "with this email exists"
    )
    assert_clean_error(vpsorg(settings, "tokens", "create", "--account", "999"), "No account with id 999")

    assert table_counts(settings)["accounts"] == 1
    with serving(settings) as url, client(url, token) as http:
        r = http.get("/api/v1/account/")
        assert r.status_code == 200, r.text
        assert r.json()["id"] == account_id and r.json()["email"] == "ops@example.com"
        assert r.json()["credit"] == "50.00"
        r = http.get("/api/v1/servers/")
        assert r.status_code == 200 and r.json()["count"] == 0, r.text
        assert http.get("/api/v1/plans/").json()["count"] > 0  # the catalog was loaded
        with client(url, token + "x") as wrong:
            assert wrong.get("/api/v1/servers/").status_code == 401


def demo_token_file(tmp_path: Path) -> Path:
    """Beside the SQLite file; on PostgreSQL in the current directory (the test runs serve in tmp_path)."""
    return tmp_path / "vpsorg-demo-token"


def test_serve_demo_on_an_empty_database_and_again(tmp_path: Path) -> None:
    """The demo token is saved (0600) and reused by the next start while it authenticates;
    once revoked, the next start mints a new one."""
    db = tmp_path / "demo.db"  # does not exist yet
    settings = test_settings(db, log_level="info")  # uvicorn then logs its startup and shutdown
    saved = demo_token_file(tmp_path)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = spawn(["serve", "--demo", "--port", str(port)], settings, tmp_path / "first.log", cwd=tmp_path)
    try:
        token = wait_token(first)
        wait_http(f"{url}/healthz", timeout=TIMEOUT)
        r = httpx.get(f"{url}/readyz", timeout=TIMEOUT)
        assert r.status_code == 200 and r.json() == {"status": "ok", "database": "ok"}
        with client(url, token) as http:
            r = http.get("/api/v1/servers/")
            assert r.status_code == 200 and r.json()["count"] == 0, r.text
            r = http.post("/api/v1/servers/", json=SERVER)
            assert r.status_code == 201, r.text
            server_id = r.json()["id"]
            wait_status(http, server_id, "active")  # the in-process worker, time scale 0
        # The panel: the printed password logs in the demo customer and the demo operator.
        password = demo_password(first)
        for email, operator in (("demo@vpsorg.local", False), ("operator@vpsorg.local", True)):
            with browser_client_at(url) as browser:
                assert log_in(browser, email, password).status_code == 303
                assert ("/admin/" in browser.get("/servers/").text) is operator
    finally:
        code = stop(first)
    assert_served_and_shut_down(first, code)
    assert saved.read_text().strip() == token
    assert saved.stat().st_mode & 0o777 == 0o600
    password_file = tmp_path / "vpsorg-demo-password"
    assert password_file.read_text().strip() == password and password_file.stat().st_mode & 0o777 == 0o600
    counts = table_counts(settings)
    assert counts["plans"] > 0 and counts["operating_systems"] > 0 and counts["locations"] > 0
    assert counts["accounts"] == 2  # the demo customer and the demo operator

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    second = spawn(["serve", "--demo", "--port", str(port)], settings, tmp_path / "second.log", cwd=tmp_path)
    try:
        assert wait_token(second) == token  # reused, not a new token at every start
        assert demo_password(second) == password  # and so is the panel's password
        wait_http(f"{url}/healthz", timeout=TIMEOUT)
        with client(url, token) as http:
            r = http.get("/api/v1/servers/")  # the same demo account: it sees the first run's server
            assert r.status_code == 200, r.text
            assert [s["id"] for s in r.json()["results"]] == [server_id]
            assert r.json()["results"][0]["status"] == "active"
            listed = http.get("/api/v1/tokens/").json()["results"]
            assert [t["name"] for t in listed] == ["demo"]
            assert http.delete(f"/api/v1/tokens/{listed[0]['id']}/").status_code == 204
            assert http.get("/api/v1/servers/").status_code == 401
    finally:
        code = stop(second)
    assert_served_and_shut_down(second, code)
    assert table_counts(settings) == counts  # neither the catalog nor the demo account was duplicated

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    third = spawn(
        ["serve", "--demo", "--no-worker", "--port", str(port)], settings, tmp_path / "3.log", cwd=tmp_path
    )
    try:
        fresh = wait_token(third)
        assert fresh != token and saved.read_text().strip() == fresh
        assert saved.stat().st_mode & 0o777 == 0o600
        wait_http(f"{url}/healthz", timeout=TIMEOUT)
        with client(url, fresh) as http:
            assert http.get("/api/v1/servers/").json()["count"] == 1
    finally:
        stop(third)


def test_serve_without_worker_then_a_separate_worker(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "split.db")
    prepare_database(settings)

    async def make(session: Any) -> str:
        account = await accounts.create_account(session, email="split@example.com", credit=Decimal("100"))
        return await accounts.create_token(session, account_id=account.id)

    token = run_db(settings, make)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api = spawn(["serve", "--no-worker", "--port", str(port)], settings, tmp_path / "api.log")
    worker: Proc | None = None
    try:
        wait_http(f"{url}/healthz", timeout=TIMEOUT)
        with client(url, token) as http:
            r = http.post("/api/v1/servers/", json=SERVER)
            assert r.status_code == 201, r.text
            server_id = r.json()["id"]
            # A worker polls every 0.05 s at time scale 0: with one running, this would be ample.
            time.sleep(0.5)
            assert http.get(f"/api/v1/servers/{server_id}/").json()["status"] == "provisioning"
            actions = http.get(f"/api/v1/servers/{server_id}/actions/").json()["results"]
            assert [(a["type"], a["status"]) for a in actions] == [("create", "queued")]

            worker = spawn(["worker"], settings, tmp_path / "worker.log")
            wait_status(http, server_id, "active")
            actions = http.get(f"/api/v1/servers/{server_id}/actions/").json()["results"]
            assert [(a["type"], a["status"]) for a in actions] == [("create", "success")]

        assert stop(worker) == 0, worker.log.read_text()
        assert "Traceback" not in worker.log.read_text()
    finally:
        for proc in (worker, api):
            if proc is not None:
                proc.kill()
    assert "Traceback" not in api.log.read_text()


def test_accounts_credit_and_token_scopes(tmp_path: Path) -> None:
    """`accounts credit` writes a ledger entry and prints the balance; `tokens create --scope`
    mints read, write (the default) and admin tokens that the API tells apart."""
    settings = test_settings(tmp_path / "credit.db")
    prepare_database(settings)
    account_id = int(
        last_line(vpsorg(settings, "accounts", "create", "--email", "a@example.com", "--credit", "5"))
    )
    topped = vpsorg(
        settings, "accounts", "credit", "--account", str(account_id), "--amount", "20.5", "--reason", "paid"
    )
    assert topped.returncode == 0, topped.stderr
    assert last_line(topped) == "25.50"
    debit = vpsorg(
        settings, "accounts", "credit", "--account", str(account_id), "--amount", "-0.50", "--reason", "fee"
    )
    assert last_line(debit) == "25.00"
    refund = vpsorg(
        settings,
        *("accounts", "credit", "--account", str(account_id), "--amount", "1.25", "--reason", "sorry"),
        *("--kind", "refund"),
    )
    assert last_line(refund) == "26.25"
    assert_clean_error(
        vpsorg(
            settings, "accounts", "credit", "--account", str(account_id), "--amount", "0.001", "--reason", "x"
        ),
        "must be a number with at most two decimals",
    )
    for odd in ("1e30", "NaN", "-Infinity"):
        assert_clean_error(
            vpsorg(
                settings, "accounts", "credit", "--account", str(account_id), "--amount", odd, "--reason", "x"
            ),
            "must be a number with at most two decimals",
        )
    assert_clean_error(
        vpsorg(settings, "accounts", "create", "--email", "b@example.com", "--credit", "1e30"),
        "must be a number with at most two decimals",
    )
    assert_clean_error(
        vpsorg(settings, "accounts", "credit", "--account", "999", "--amount", "1", "--reason", "x"),
        "No account with id 999",
    )
    tokens = {
        scope: last_line(vpsorg(settings, "tokens", "create", "--account", str(account_id), *args))
        for scope, args in (("read", ["--scope", "read"]), ("write", []), ("admin", ["--scope", "admin"]))
    }
    bad = vpsorg(settings, "tokens", "create", "--account", str(account_id), "--scope", "root")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    with serving(settings) as url:
        with client(url, tokens["read"]) as http:
            assert http.get("/api/v1/account/").json()["balance"] == "26.25"
            ledger = http.get("/api/v1/account/ledger/").json()
            assert [(e["kind"], e["amount"], e["balance_after"], e["reason"]) for e in ledger["results"]] == [
                ("refund", "1.25", "26.25", "sorry"),
                ("adjustment", "-0.50", "25.00", "fee"),
                ("top_up", "20.50", "25.50", "paid"),
                ("top_up", "5.00", "5.00", "initial credit"),
            ]
            assert http.post("/api/v1/servers/", json=SERVER).status_code == 403
        with client(url, tokens["write"]) as http:
            assert http.post("/api/v1/servers/", json=SERVER).status_code == 201
            assert http.get("/api/v1/admin/accounts/").status_code == 403
        with client(url, tokens["admin"]) as http:
            listed = http.get("/api/v1/admin/accounts/").json()
            assert [a["id"] for a in listed["results"]] == [account_id]


def test_tokens_create_list_and_revoke(tmp_path: Path) -> None:
    """`tokens create --name --expires-in-days`, `tokens list --account` (a table, no secrets),
    `tokens revoke ID` (the token is refused at once)."""
    settings = test_settings(tmp_path / "tokens.db")
    prepare_database(settings)
    account_id = int(last_line(vpsorg(settings, "accounts", "create", "--email", "t@example.com")))
    account = str(account_id)
    ci, laptop, too_long = (
        vpsorg(settings, *args)
        for args in (
            [
                "tokens",
                "create",
                "--account",
                account,
                "--name",
                "ci",
                "--scope",
                "read",
                "--expires-in-days",
                "7",
            ],
            ["tokens", "create", "--account", account, "--name", "laptop"],
            ["tokens", "create", "--account", account, "--expires-in-days", "3651"],
        )
    )
    ci_token, laptop_token = last_line(ci), last_line(laptop)
    assert ci_token.startswith("vps_") and laptop_token.startswith("vps_")
    assert too_long.returncode == 2 and "Traceback" not in too_long.stderr

    listed, missing, unknown = (
        vpsorg(settings, *args)
        for args in (
            ["tokens", "list", "--account", account],
            ["tokens", "list", "--account", "999"],
            ["tokens", "revoke", "999"],
        )
    )
    assert_clean_error(missing, "No account with id 999")
    assert_clean_error(unknown, "Token 999 not found")
    assert listed.returncode == 0, listed.stderr
    assert ci_token not in listed.stdout and laptop_token not in listed.stdout
    lines = listed.stdout.strip().splitlines()
    assert lines[0].split() == ["ID", "NAME", "SCOPE", "CREATED", "LAST", "USED", "EXPIRES"]
    rows = {line.split()[1]: line.split() for line in lines[1:]}
    assert set(rows) == {"ci", "laptop"}
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    assert rows["ci"][2] == "read" and re.fullmatch(stamp, rows["ci"][3]) and rows["ci"][4] == "never"
    assert re.fullmatch(stamp, rows["ci"][5]) and rows["ci"][5] > rows["ci"][3]
    assert rows["laptop"][2:] == ["write", rows["laptop"][3], "never", "never"]

    with serving(settings) as url, client(url, laptop_token) as http:
        assert http.get("/api/v1/account/").status_code == 200
        revoked = vpsorg(settings, "tokens", "revoke", rows["laptop"][0])
        assert revoked.returncode == 0, revoked.stderr
        assert http.get("/api/v1/account/").status_code == 401
        with client(url, ci_token) as reader:
            assert reader.get("/api/v1/account/").status_code == 200
    again = vpsorg(settings, "tokens", "list", "--account", account)
    assert [line.split()[1] for line in again.stdout.strip().splitlines()[1:]] == ["ci"]


def test_accounts_limits_shows_sets_and_resets_an_accounts_quotas(tmp_path: Path) -> None:
    """`accounts limits` prints used and limit per resource; --servers/--ssh-keys set an
    account's own limit (a number) or go back to the default (`default`); the API enforces it."""
    settings = test_settings(tmp_path / "limits.db", default_server_limit=3)
    prepare_database(settings)
    account_id = last_line(
        vpsorg(settings, "accounts", "create", "--email", "q@example.com", "--credit", "100")
    )
    shown = vpsorg(settings, "accounts", "limits", "--account", account_id)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        "servers used 0 limit 3 (default)",
        "ssh_keys used 0 limit 100 (default)",
    ]
    set_ = vpsorg(
        settings, "accounts", "limits", "--account", account_id, "--servers", "1", "--ssh-keys", "7"
    )
    assert set_.stdout.splitlines() == [
        "servers used 0 limit 1 (this account's)",
        "ssh_keys used 0 limit 7 (this account's)",
    ]
    token = last_line(vpsorg(settings, "tokens", "create", "--account", account_id))
    with serving(settings) as url, client(url, token) as http:
        assert http.post("/api/v1/servers/", json=SERVER).status_code == 201
        r = http.post("/api/v1/servers/", json=SERVER | {"name": "cli-2"})
        assert r.status_code == 403 and r.json()["error"]["details"] == {
            "resource": "servers",
            "limit": 1,
            "used": 1,
        }
        reset = vpsorg(settings, "accounts", "limits", "--account", account_id, "--servers", "default")
        assert reset.stdout.splitlines()[0] == "servers used 1 limit 3 (default)"
        assert reset.stdout.splitlines()[1] == "ssh_keys used 0 limit 7 (this account's)"
        assert http.post("/api/v1/servers/", json=SERVER | {"name": "cli-2"}).status_code == 201
        assert http.get("/api/v1/account/").json()["limits"]["servers"] == {"limit": 3, "used": 2}
    for bad in (["--servers", "many"], ["--ssh-keys", "1.5"]):
        done = vpsorg(settings, "accounts", "limits", "--account", account_id, *bad)
        assert done.returncode == 2 and "Traceback" not in done.stderr and "not a number" in done.stderr, done
    assert_clean_error(
        vpsorg(settings, "accounts", "limits", "--account", account_id, "--servers", "-1"), "must be from 0"
    )
    assert_clean_error(vpsorg(settings, "accounts", "limits", "--account", "999"), "No account with id 999")
    assert_clean_error(
        vpsorg(settings, "accounts", "limits", "--account", "999", "--servers", "5"), "No account with id 999"
    )


def test_version(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("vpsorg")), "--version"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"vpsorg {importlib.metadata.version('vpsorg')}"
