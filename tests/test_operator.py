"""An operator's first minutes: a database that is not migrated, database URLs as people
write them (and wrong ones), links that follow VPSORG_PUBLIC_URL, docs that work offline, and
metrics that are not on the API port. The CLI runs in this process through Typer's runner
(tests/operator_cli.py: the same commands without an interpreter start each), and as real
processes (`.venv/bin/vpsorg`) where the process is the point: `serve` and `worker` refusing to
start or starting, and a sample of the one-line errors as the shell sees them."""

import socket
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from tests.conftest import (
    Live,
    free_port,
    prepare_database,
    serve_in_thread,
    spawn,
    test_settings,
    vpsorg_env,
    wait_http,
)
from tests.databases import TEST_DATABASE_URL, on_postgresql
from tests.operator_cli import vpsorg_in_process
from vpsorg import migrate
from vpsorg.config import Settings, normalize_database_url

VPSORG = str(Path(sys.executable).parent / "vpsorg")
TIMEOUT = 180  # a bound on each process: start-up alone takes seconds on a busy machine
DB_COMMANDS = [
    ["migrate"],
    ["serve", "--port", "1"],  # never reached: the database check comes first
    ["worker"],
    ["accounts", "create", "--email", "x@example.com"],
    ["accounts", "credit", "--account", "1", "--amount", "1", "--reason", "x"],
    ["tokens", "create", "--account", "1"],
    ["catalog", "load"],
]


def run_all(env: dict[str, str], *commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run `vpsorg ARGS` for each command side by side, each to completion (bounded)."""
    return run_pairs([(env, args) for args in commands])


def run_pairs(pairs: list[tuple[dict[str, str], list[str]]]) -> list[subprocess.CompletedProcess[str]]:
    """Run `vpsorg ARGS` with its environment for each pair side by side, each to completion."""
    commands = [args for _, args in pairs]
    procs = [
        subprocess.Popen(
            [VPSORG, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for env, args in pairs
    ]
    done = []
    try:
        for args, proc in zip(commands, procs, strict=True):
            out, err = proc.communicate(timeout=TIMEOUT)
            done.append(subprocess.CompletedProcess([VPSORG, *args], proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return done


def in_process(env: dict[str, str], *commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run `vpsorg ARGS` for each command in this process, one after the other."""
    return [vpsorg_in_process(args, env) for args in commands]


def env_with(settings: Settings, **extra: str) -> dict[str, str]:
    return vpsorg_env(settings) | extra


def assert_one_line_error(done: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit 1, one line on stderr (nothing on stdout), no traceback, naming each fragment."""
    output = done.stdout + done.stderr
    assert done.returncode == 1, f"{done.args} exited {done.returncode}:\n{output}"
    assert "Traceback" not in output, output
    lines = output.strip().splitlines()
    assert len(lines) == 1, f"{done.args}:\n{output}"
    for fragment in fragments:
        assert fragment in lines[0], f"{done.args}: {fragment!r} not in {lines[0]!r}"
    return lines[0]


def masked(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


# --- 1. No schema, no serve -------------------------------------------------------------


def test_serve_and_worker_refuse_a_database_that_is_not_migrated_or_behind(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "fresh.db")
    url = masked(settings.database_url)
    serve_port = free_port()
    serve, worker = run_all(vpsorg_env(settings), ["serve", "--port", str(serve_port)], ["worker"])
    (credit,) = in_process(vpsorg_env(settings), ["accounts", "create", "--email", "a@example.com"])
    for done in (serve, worker, credit):
        assert_one_line_error(done, url, "run `vpsorg migrate`")

    # Behind the code: the schema of the revision before the head.
    cfg = migrate.alembic_config(settings)
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    previous = ScriptDirectory.from_config(cfg).get_revision(head).down_revision
    assert isinstance(previous, str)
    command.upgrade(cfg, previous)
    serve, worker = in_process(vpsorg_env(settings), ["serve", "--port", str(serve_port)], ["worker"])
    for done in (serve, worker):
        line = assert_one_line_error(done, url, "run `vpsorg migrate`", previous, head)
        assert "behind" in line

    # --migrate upgrades first, then serves.
    port = free_port()
    proc = spawn(["serve", "--migrate", "--no-worker", "--port", str(port)], settings, tmp_path / "serve.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", timeout=TIMEOUT)
    finally:
        proc.stop()
    assert migrate.current_revisions(settings) == {head}
    assert "Traceback" not in proc.log.read_text()


def test_worker_migrate_flag_and_migrate_names_the_database(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "w.db")
    port = free_port()
    env = {"VPSORG_WORKER_METRICS_PORT": str(port)}
    proc = spawn(["worker", "--migrate"], settings, tmp_path / "worker.log", env=env)
    try:
        wait_http(f"http://127.0.0.1:{port}/metrics", timeout=TIMEOUT)  # up: past the schema check
        assert f"migrated {masked(settings.database_url)}" in proc.log.read_text()
    finally:
        proc.stop()
    (done,) = in_process(vpsorg_env(settings), ["migrate"])
    assert done.returncode == 0, done.stderr
    assert f"migrated {masked(settings.database_url)}" in done.stderr


# --- 2. Database URLs as people write them ------------------------------------------------


def plain_forms(settings: Settings) -> list[str]:
    """The test database's URL without a driver, as an operator would write it."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return [f"sqlite:///{url.database}"]
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return [plain, plain.replace("postgresql://", "postgres://", 1)]


def test_database_urls_without_a_driver_work_for_every_command(tmp_path: Path) -> None:
    """The commands in this process on each plain form; then `serve` as a real process on each
    form at once (it builds the app from the same settings, in a process of its own)."""
    settings = test_settings(tmp_path / "plain.db")
    envs, tokens = [], []
    for n, plain in enumerate(plain_forms(settings)):
        env = env_with(settings, VPSORG_DATABASE_URL=plain)
        (migrated,) = in_process(env, ["migrate"])
        assert migrated.returncode == 0, migrated.stderr
        assert "migrated " + masked(settings.database_url) in migrated.stderr
        assert make_url(settings.database_url).password is None or "vpsorg:vpsorg@" not in migrated.stderr
        loaded, created = in_process(
            env, ["catalog", "load"], ["accounts", "create", "--email", f"plain{n}@example.com"]
        )
        assert loaded.returncode == 0 and created.returncode == 0, loaded.stderr + created.stderr
        (token,) = in_process(env, ["tokens", "create", "--account", created.stdout.split()[-1]])
        assert token.returncode == 0, token.stderr
        envs.append(env)
        tokens.append(token.stdout.split()[-1])
    ports = [free_port() for _ in envs]
    procs = [
        spawn(["serve", "--port", str(port)], settings, tmp_path / f"plain{n}.log", env=env)
        for n, (port, env) in enumerate(zip(ports, envs, strict=True))
    ]
    try:
        for port, token_ in zip(ports, tokens, strict=True):
            wait_http(f"http://127.0.0.1:{port}/readyz", timeout=TIMEOUT)
            headers = {"Authorization": f"Bearer {token_}"}
            r = httpx.get(f"http://127.0.0.1:{port}/api/v1/servers/", headers=headers, timeout=TIMEOUT)
            assert r.status_code == 200, r.text
    finally:
        for proc in procs:
            proc.stop()
    assert Settings(database_url="sqlite+aiosqlite:///x.db").database_url == "sqlite+aiosqlite:///x.db"


def refused_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again on return, never listened on


def wrong_urls(tmp_path: Path) -> dict[str, tuple[str, list[str]]]:
    """name: (URL, fragments the one line must hold); passwords are s3cret, never shown."""
    port = refused_port()
    urls = {
        "refused": (f"postgresql://vpsorg:s3cret@127.0.0.1:{port}/vpsorg", ["Connection refused"]),
        "unknown host": ("postgres://vpsorg:s3cret@no-such-host.invalid/vpsorg", ["no-such-host.invalid"]),
        "missing directory": (f"sqlite:///{tmp_path}/missing/dir/x.db", ["does not exist"]),
        "bad scheme": (
            "mysql://vpsorg:s3cret@127.0.0.1/vpsorg",
            ["unsupported database", "VPSORG_DATABASE_URL"],
        ),
        "not a URL": ("vpsorg.db", ["not a database URL"]),
    }
    if on_postgresql():
        wrong = make_url(TEST_DATABASE_URL).set(password="s3cret").render_as_string(hide_password=False)
        urls["wrong password"] = (wrong, ["password authentication failed"])
    return urls


# Real processes for a sample of the wrong URLs (one command each, side by side): the line a
# shell sees, with nothing else a process prints on its way out (a driver's noise, warnings at
# exit). Every case runs in this process as well.
IN_A_PROCESS = {
    "refused": ["worker"],
    "unknown host": ["serve", "--port", "1"],
    "missing directory": ["migrate"],
}
if on_postgresql():
    IN_A_PROCESS["wrong password"] = ["accounts", "create", "--email", "x@example.com"]


def test_wrong_database_urls_are_one_line_for_every_command(tmp_path: Path) -> None:
    """Every command on an unreachable server; migrate and serve on every other wrong URL."""
    settings = test_settings(tmp_path / "unused.db")
    cases, processes = [], []
    for name, (url, fragments) in wrong_urls(tmp_path).items():
        shown = url if name == "not a URL" else masked(url)
        if name not in ("bad scheme", "not a URL"):
            shown = masked(normalize_database_url(url))  # as the message names it: with the driver
        for args in DB_COMMANDS if name == "refused" else DB_COMMANDS[:2]:
            cases.append((name, url, args, [shown, *fragments]))
        if name in IN_A_PROCESS:
            processes.append((name, url, IN_A_PROCESS[name], [shown, *fragments]))
    assert len(processes) == len(IN_A_PROCESS)
    env = {url: env_with(settings, VPSORG_DATABASE_URL=url) for _, url, _, _ in cases}
    results = run_pairs([(env[url], args) for _, url, args, _ in processes])
    results += [vpsorg_in_process(args, env[url]) for _, url, args, _ in cases]
    for (name, _, _, fragments), done in zip(processes + cases, results, strict=True):
        line = assert_one_line_error(done, *fragments)
        assert "s3cret" not in line, (name, line)


# --- 3. Links from configuration ----------------------------------------------------------


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    settings = test_settings(
        tmp_path_factory.mktemp("public") / "public.db", public_url="https://api.example.com/vps"
    )
    prepare_database(settings)
    with serve_in_thread(settings, run_worker=False) as server:
        yield server


EVIL = {"Host": "evil.example"}
SERVER = {"name": "web-1", "plan_id": 1, "os_id": 5, "location": "us-west"}


def test_public_url_decides_redirects_locations_and_page_links(public: Live) -> None:
    customer = public.account()
    http = customer.http
    base = "https://api.example.com/vps"
    for path in ("/api/v1/servers", "/vps/api/v1/servers"):  # the proxy strips the prefix, or not
        r = http.get(path, headers=EVIL, follow_redirects=False)
        assert r.status_code in (307, 308), r.text
        assert r.headers["location"] == f"{base}/api/v1/servers/"
    created = [
        http.post("/api/v1/servers/", json=SERVER | {"name": f"web-{i}"}, headers=EVIL) for i in (1, 2)
    ]
    for r in created:
        assert r.status_code == 201, r.text
        assert r.headers["location"] == f"{base}/api/v1/servers/{r.json()['id']}/"
    page = http.get("/api/v1/servers/", params={"page_size": 1}, headers=EVIL).json()
    assert page["next"].startswith(f"{base}/api/v1/servers/?"), page
    second = http.get("/api/v1/servers/", params={"page_size": 1, "page": 2}, headers=EVIL).json()
    assert second["previous"].startswith(f"{base}/api/v1/servers/?"), second
    assert "evil.example" not in str(page) + str(second)


def test_without_public_url_links_follow_the_request(live: Live) -> None:
    http = live.account().http
    r = http.get("/api/v1/servers", headers=EVIL, follow_redirects=False)
    assert r.headers["location"] == "http://evil.example/api/v1/servers/"
    r = http.post("/api/v1/servers/", json=SERVER)
    assert r.headers["location"] == f"{live.url}/api/v1/servers/{r.json()['id']}/"


# --- 4. Docs work offline -----------------------------------------------------------------


class Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.urls.append(str(values["src"]))
        if tag == "link" and values.get("href"):
            self.urls.append(str(values["href"]))


CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_load_every_asset_from_this_server(live: Live, page: str) -> None:
    r = httpx.get(live.url + page, timeout=TIMEOUT)
    assert r.status_code == 200
    parser = Assets()
    parser.feed(r.text)
    assert any(u.endswith(".js") for u in parser.urls), parser.urls
    for url in parser.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = httpx.get(live.url + url, timeout=TIMEOUT)
        assert asset.status_code == 200, url
        assert CONTENT_TYPES[Path(url).suffix] in asset.headers["content-type"], (url, asset.headers)
    assert "http://" not in r.text and "https://" not in r.text and "//cdn" not in r.text, r.text


# --- 5. /metrics is not on the API port ---------------------------------------------------


def test_metrics_not_on_the_api_port_and_on_the_metrics_port(tmp_path: Path, live: Live) -> None:
    admin = live.account(scope="admin")
    assert httpx.get(live.url + "/metrics", timeout=TIMEOUT).status_code == 404
    assert admin.http.get("/metrics").status_code == 404
    port = free_port()
    settings = live.settings.model_copy(update={"metrics_port": port})
    with serve_in_thread(settings, run_worker=False) as other:
        r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=TIMEOUT)
        assert r.status_code == 200 and "vpsorg_actions_total" in r.text
        assert httpx.get(other.url + "/metrics", timeout=TIMEOUT).status_code == 404
    with pytest.raises(httpx.TransportError):  # closed with the app
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)


def consecutive_free_ports(n: int) -> int:
    for _ in range(100):
        first = free_port()
        socks = []
        try:
            for port in range(first, first + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no consecutive free ports")


def test_serve_workers_each_serve_metrics_on_their_own_port(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "multi.db")
    prepare_database(settings)
    metrics_port = consecutive_free_ports(2)
    port = free_port()
    env: dict[str, Any] = {"VPSORG_METRICS_PORT": str(metrics_port)}
    args = ["serve", "--no-worker", "--workers", "2", "--port", str(port)]
    proc = spawn(args, settings, tmp_path / "multi.log", env=env)
    try:
        for p in (metrics_port, metrics_port + 1):
            wait_http(f"http://127.0.0.1:{p}/metrics", timeout=TIMEOUT)
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=TIMEOUT)
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=TIMEOUT).status_code == 404
    finally:
        proc.stop()
    assert "Traceback" not in proc.log.read_text()
