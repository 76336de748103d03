"""Health endpoints: /healthz is the process, /readyz the process and its database."""

from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from tests.conftest import Live, free_port, serve_in_thread, test_settings
from tests.databases import on_postgresql


def test_healthz_and_readyz_answer_when_all_is_well(live: Live) -> None:
    assert httpx.get(live.url + "/healthz").json() == {"status": "ok"}
    r = httpx.get(live.url + "/readyz")
    assert r.status_code == 200 and r.json()["database"] == "ok"


def test_readyz_is_503_while_the_database_is_unreachable(tmp_path: Path) -> None:
    if on_postgresql():  # a port where no database listens
        settings = test_settings(tmp_path / "unused.db")
        url = make_url(settings.database_url).set(port=free_port())
        settings = settings.model_copy(update={"database_url": url.render_as_string(hide_password=False)})
    else:  # a file SQLite cannot create
        settings = test_settings(tmp_path / "no-such-dir" / "vpsorg.db")
    with serve_in_thread(settings, log_level="critical", run_worker=False) as server:
        assert httpx.get(server.url + "/healthz").status_code == 200
        r = httpx.get(server.url + "/readyz")
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "database_unavailable"
        # An API call in the meantime is a 503 with the error body, not a 500.
        # On PostgreSQL the hot reads' pool waits 5 s for a connection before the 503: as long
        # as httpx's default timeout, so give the request room.
        r = httpx.get(server.url + "/api/v1/servers/", headers={"Authorization": "Bearer x"}, timeout=30)
        assert r.status_code == 503 and r.json()["error"]["code"] == "database_unavailable"
