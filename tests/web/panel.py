"""Panel helpers for HTTP-level tests: an account with a password, and a logged-in client."""

import re
import uuid
from decimal import Decimal
from typing import Any

import httpx

from tests.conftest import Live
from vpsorg.accounts import logins
from vpsorg.accounts import service as accounts

PASSWORD = "correct horse battery staple"


def panel_account(live: Live, *, admin: bool = False, credit: str = "1000") -> tuple[int, str]:
    """A new account with PASSWORD (an operator with admin=True): (id, email)."""
    email = f"p-{uuid.uuid4().hex[:12]}@example.com"

    async def make(session: Any) -> int:
        account = await accounts.create_account(session, email=email, credit=Decimal(credit))
        await logins.set_password(session, account_id=account.id, password=PASSWORD)
        if admin:
            await logins.set_admin(session, account_id=account.id, admin=True)
        return account.id

    return live.db(make), email


def form_csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def log_in(http: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    """Fetch the login form and post it, as a browser does (the redirect not followed)."""
    csrf = form_csrf(http.get("/login").text)
    return http.post("/login", data={"email": email, "password": password, "csrf_token": csrf})


def browser_client_at(url: str) -> httpx.Client:
    """A client that asks for pages as a browser does (Accept: text/html) and keeps cookies."""
    return httpx.Client(base_url=url, headers={"Accept": "text/html"}, timeout=30)


def browser_client(live: Live) -> httpx.Client:
    return browser_client_at(live.url)


def signed_in(live: Live, *, admin: bool = False) -> tuple[httpx.Client, int]:
    """A client holding a live session of a new account: (client, account id)."""
    account_id, email = panel_account(live, admin=admin)
    http = browser_client(live)
    assert log_in(http, email).status_code == 303
    return http, account_id


def page_log_in(page: Any, url: str, email: str, password: str = PASSWORD) -> None:
    """Log in through the login page as a person does (Playwright page), landing on /servers/."""
    page.goto(f"{url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{url}/servers/")
