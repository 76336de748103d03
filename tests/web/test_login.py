"""The panel's login: passwords, sessions, CSRF, the login limit and the security headers,
over real HTTP against the shared server (and servers of their own where a setting differs)."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, update

from tests.conftest import Live, serve_in_thread, test_settings, vpsorg_env
from tests.operator_cli import vpsorg_in_process
from tests.web.panel import PASSWORD, browser_client, form_csrf, log_in, panel_account, signed_in
from vpsorg import clock
from vpsorg.accounts import logins
from vpsorg.accounts.models import Account, LoginSession
from vpsorg.web import auth
from vpsorg.web.security import CSP


def session_cookie(response: httpx.Response) -> str:
    found = [
        v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("vpsorg_session=")
    ]
    assert len(found) == 1, response.headers
    return found[0]


def test_login_opens_a_session_with_a_safe_cookie_and_lands_on_the_servers(live: Live) -> None:
    _, email = panel_account(live)
    http = browser_client(live)
    done = log_in(http, email)
    assert done.status_code == 303 and done.headers["location"] == "/servers/"
    cookie = session_cookie(done).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    assert "max-age=1209600" in cookie  # 14 days
    page = http.get("/servers/")
    assert page.status_code == 200 and "<h1>Servers</h1>" in page.text and email in page.text
    assert http.get("/").headers["location"] == "/servers/"


def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(live: Live) -> None:
    _, email = panel_account(live)
    http = browser_client(live)
    wrong = log_in(http, email, "not the password at all")
    unknown = log_in(http, "nobody-at-all@example.com", PASSWORD)
    for answer in (wrong, unknown):
        assert answer.status_code == 401
        assert "Wrong email or password." in answer.text
        assert "vpsorg_session=" not in answer.headers.get("set-cookie", "")
    assert http.get("/servers/").status_code == 303


def test_a_login_without_the_forms_csrf_token_is_refused(live: Live) -> None:
    _, email = panel_account(live)
    http = browser_client(live)
    http.get("/login")  # the CSRF cookie is set, but the post does not echo it
    refused = http.post("/login", data={"email": email, "password": PASSWORD})
    assert refused.status_code == 403 and "vpsorg_session=" not in refused.headers.get("set-cookie", "")
    other = browser_client(live)  # a token from another browser's form does not match this cookie
    forged = other.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": form_csrf(http.get("/login").text)},
    )
    assert forged.status_code == 403


def test_pages_without_a_session_lead_to_the_login_and_back(live: Live) -> None:
    http = browser_client(live)
    away = http.get("/servers/?status=active")
    assert away.status_code == 303 and away.headers["location"] == "/login?next=/servers/%3Fstatus%3Dactive"
    htmx = http.get("/servers/", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"] == "/login?next=/servers/"
    _, email = panel_account(live)
    csrf = form_csrf(http.get("/login?next=/servers/%3Fstatus%3Dactive").text)
    done = http.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf, "next": "/servers/?status=active"},
    )
    assert done.headers["location"] == "/servers/?status=active"
    for elsewhere in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        again = browser_client(live)
        csrf = form_csrf(again.get("/login").text)
        done = again.post(
            "/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf, "next": elsewhere}
        )
        assert done.headers["location"] == "/servers/"


def test_logging_in_again_ends_the_previous_session(live: Live) -> None:
    _, email = panel_account(live)
    http = browser_client(live)
    first = session_cookie(log_in(http, email)).split(";")[0].split("=", 1)[1]
    log_in(http, email)  # the browser sends its first session's cookie along
    old = browser_client(live)
    old.cookies.set(auth.COOKIE, first)
    assert old.get("/servers/").status_code == 303
    assert http.get("/servers/").status_code == 200


def test_logout_needs_the_csrf_token_and_ends_the_session(live: Live) -> None:
    http, account_id = signed_in(live)
    page = http.get("/servers/").text
    refused = http.post("/logout")
    assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]
    assert http.get("/servers/").status_code == 200
    done = http.post("/logout", data={"csrf_token": form_csrf(page)})
    assert done.status_code == 303 and done.headers["location"] == "/login"
    assert (
        live.db(lambda s: s.scalar(select(LoginSession.id_hash).where(LoginSession.account_id == account_id)))
        is None
    )


def test_an_htmx_request_carries_the_csrf_token_in_a_header(live: Live) -> None:
    http, _ = signed_in(live)
    page = http.get("/servers/").text
    token = form_csrf(page)
    assert f'hx-headers=\'{{"X-CSRF-Token": "{token}"}}\'' in page
    assert http.post("/logout", headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert http.post("/logout", headers={"X-CSRF-Token": token}).status_code == 303


def test_an_expired_session_no_longer_opens_pages(live: Live) -> None:
    http, account_id = signed_in(live)
    past = clock.now() - timedelta(seconds=1)
    live.db(
        lambda s: s.execute(
            update(LoginSession).where(LoginSession.account_id == account_id).values(expires_at=past)
        )
    )
    assert http.get("/servers/").status_code == 303


def test_a_new_password_ends_every_session(live: Live) -> None:
    http, account_id = signed_in(live)
    live.db(lambda s: logins.set_password(s, account_id=account_id, password="another long password"))
    assert http.get("/servers/").status_code == 303
    hashed = live.db(lambda s: s.scalar(select(Account.password_hash).where(Account.id == account_id)))
    assert hashed.startswith("$argon2id$")


def test_logins_are_limited_per_email_and_per_address(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "limits.db", login_rate_limit="3/minute")
    from tests.conftest import prepare_database

    prepare_database(settings)
    with serve_in_thread(settings, run_worker=False) as server:
        _, email = panel_account(server)

        def attempt(source: str, who: str, password: str = "wrong password!") -> httpx.Response:
            transport = httpx.HTTPTransport(local_address=source)
            with httpx.Client(
                base_url=server.url, transport=transport, headers={"Accept": "text/html"}
            ) as http:
                return log_in(http, who, password)

        # One email from four addresses: the fourth attempt is refused, even with the password.
        assert [attempt(f"127.0.0.{n}", email).status_code for n in (2, 3, 4)] == [401] * 3
        limited = attempt("127.0.0.5", email, PASSWORD)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert "Too many attempts" in limited.text
        # One address, four emails: the fourth is refused; another address still logs in.
        others = [f"x{n}@example.com" for n in range(4)]
        assert [attempt("127.0.0.9", who).status_code for who in others] == [401, 401, 401, 429]
        _, fresh = panel_account(server)
        assert attempt("127.0.0.10", fresh, PASSWORD).status_code == 303


def test_the_cookie_is_secure_when_the_panel_is_served_over_https(tmp_path: Path) -> None:
    from tests.conftest import prepare_database

    settings = test_settings(tmp_path / "https.db", public_url="https://panel.example.com")
    prepare_database(settings)
    with serve_in_thread(settings, run_worker=False) as server:
        _, email = panel_account(server)
        http = browser_client(server)
        form = http.get("/login")
        assert "secure" in form.headers["set-cookie"].lower()  # the login form's CSRF cookie too
        # httpx, like a browser, keeps a Secure cookie off plain http: send it as the proxy would.
        csrf = form.cookies[auth.LOGIN_CSRF_COOKIE]
        done = http.post(
            "/login",
            data={"email": email, "password": PASSWORD, "csrf_token": csrf},
            headers={"Cookie": f"{auth.LOGIN_CSRF_COOKIE}={csrf}"},
        )
        assert done.status_code == 303 and done.headers["location"] == "/servers/"
        assert "secure" in session_cookie(done).lower()


def test_panel_pages_carry_the_security_headers_and_the_api_does_not_need_them(live: Live) -> None:
    http = browser_client(live)
    for path in ("/login", "/static/panel.css", "/nope"):
        answer = http.get(path)
        assert answer.headers["content-security-policy"] == CSP, path
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "same-origin"
    assert "'unsafe-inline'" not in CSP and "frame-ancestors 'none'" in CSP
    api = httpx.get(f"{live.url}/api/v1/servers/")
    assert "content-security-policy" not in api.headers
    assert (
        "content-security-policy" not in httpx.get(f"{live.url}/docs").headers
    )  # Swagger UI's inline script


def test_browsers_get_error_pages_and_api_clients_json(live: Live) -> None:
    page = browser_client(live).get("/no-such-page")
    assert page.status_code == 404 and "<h1>Not found</h1>" in page.text
    api = httpx.get(f"{live.url}/no-such-page")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
    api_html = browser_client(live).get("/api/v1/nope/")
    assert api_html.json()["error"]["code"] == "not_found"  # the API answers JSON to anyone


def test_operator_cli_sets_passwords_from_standard_input(live: Live) -> None:
    env = vpsorg_env(live.settings)
    email = "cli-panel@example.com"
    made = vpsorg_in_process(
        ["accounts", "create", "--email", email, "--password-stdin", "--admin"],
        env,
        stdin="a long password 1\n",
    )
    assert made.returncode == 0, made.stderr
    account_id = int(made.stdout.strip().splitlines()[-1])
    assert log_in(browser_client(live), email, "a long password 1").status_code == 303
    short = vpsorg_in_process(
        ["accounts", "set-password", "--account", str(account_id)], env, stdin="short\n"
    )
    assert short.returncode == 1 and "at least 10 characters" in short.stderr
    changed = vpsorg_in_process(
        ["accounts", "set-password", "--account", str(account_id)], env, stdin="another password 2\n"
    )
    assert changed.returncode == 0, changed.stderr
    assert log_in(browser_client(live), email, "a long password 1").status_code == 401
    assert log_in(browser_client(live), email, "another password 2").status_code == 303

    def admin(session: Any) -> Any:
        return session.scalar(select(Account.is_admin).where(Account.id == account_id))

    assert live.db(admin) is True
    assert (
        vpsorg_in_process(["accounts", "set-admin", "--account", str(account_id), "--revoke"], env).returncode
        == 0
    )
    assert live.db(admin) is False
    missing = vpsorg_in_process(
        ["accounts", "set-password", "--account", "999999"], env, stdin="a long password 1\n"
    )
    assert missing.returncode == 1 and "999999" in missing.stderr and "Traceback" not in missing.stderr


def test_the_worker_job_forgets_expired_sessions_only(live: Live) -> None:
    import asyncio

    from vpsorg.accounts import jobs
    from vpsorg.db import make_engine, make_sessionmaker

    expired, expired_id = signed_in(live)
    kept, kept_id = signed_in(live)
    past = clock.now() - timedelta(seconds=1)
    live.db(
        lambda s: s.execute(
            update(LoginSession).where(LoginSession.account_id == expired_id).values(expires_at=past)
        )
    )

    async def purge() -> int:
        engine = make_engine(live.settings)
        try:
            return await jobs.purge_login_sessions(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    assert asyncio.run(purge()) >= 1

    def holders(session: Any) -> Any:
        return session.scalars(
            select(LoginSession.account_id).where(LoginSession.account_id.in_([expired_id, kept_id]))
        )

    assert list(live.db(holders)) == [kept_id]
    assert kept.get("/servers/").status_code == 200 and expired.get("/servers/").status_code == 303
