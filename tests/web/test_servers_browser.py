"""The servers pages in Chromium, as a customer uses them: create a server and watch it turn
active, reboot it, delete it; axe and the keyboard on each page; and the README's screenshot."""

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.conftest import Customer, Live, new_public_key, prepare_database, serve_in_thread, test_settings
from tests.web.harness import assert_accessible, assert_keyboard_operable
from tests.web.panel import PASSWORD, page_log_in, panel_account
from vpsorg.accounts import logins
from vpsorg.accounts import service as accounts
from vpsorg.servers.models import Server

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "servers-page.png"
ACTIVE_WITHIN_MS = 20_000
USER_DATA = "#cloud-config\nruncmd:\n  - [touch, /root/from-the-panel]\n"


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A server of these tests whose simulated machines take seconds (a create 2 s, a reboot
    1.2 s), so that a page is seen changing; its own database, so the screenshot's addresses
    are always the same."""
    settings = test_settings(tmp_path_factory.mktemp("browser") / "servers.db", simulator_time_scale=0.4)
    prepare_database(settings)
    with serve_in_thread(settings) as server:
        yield server


def mark(page: Page) -> None:
    """A mark in the page's window: gone if the page is loaded again."""
    page.evaluate("window.notReloaded = true")


def not_reloaded(page: Page) -> bool:
    return bool(page.evaluate("window.notReloaded === true"))


def test_create_a_server_watch_it_turn_active_reboot_and_delete_it(page: Page, slow: Live) -> None:
    _, email = panel_account(slow)
    page_log_in(page, slow.url, email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Servers")
    assert_accessible(page)
    assert_keyboard_operable(page)

    page.get_by_role("link", name="Create a server").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Create a server")
    assert_accessible(page)
    assert_keyboard_operable(page)
    page.get_by_role("radio", name=re.compile("^Starter VPS")).check()
    page.get_by_role("checkbox", name=re.compile("^Backups")).check()
    expect(page.locator("#price")).to_contain_text("$7.20 a month")  # $6.00 and 20%, from the server
    mark(page)
    page.get_by_text("Add a key").click()
    page.get_by_label("Key name").fill("laptop")
    page.get_by_label("Public key").fill(new_public_key())
    page.get_by_role("button", name="Add key").click()
    expect(page.get_by_role("radio", name=re.compile("^laptop"))).to_be_checked()
    assert not_reloaded(page)  # htmx swapped the keys in
    expect(page.get_by_role("radio", name=re.compile("^Starter VPS"))).to_be_checked()
    assert_accessible(page)
    page.get_by_label("Name", exact=True).fill("browser-1")
    page.get_by_label("User data").fill(USER_DATA)
    page.get_by_role("button", name="Create server").click()

    expect(page).to_have_url(re.compile(r"/servers/\d+/$"))
    server_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    assert slow.db(lambda s: s.scalar(select(Server.user_data).where(Server.id == server_id))) == USER_DATA
    expect(page.get_by_role("heading", level=1)).to_have_text("browser-1")
    status = page.locator("#server-status")
    expect(status).to_have_text("provisioning")
    mark(page)
    expect(page.get_by_role("button", name="Reboot")).to_be_disabled()
    assert_accessible(page)
    expect(status).to_have_text("active", timeout=ACTIVE_WITHIN_MS)
    assert not_reloaded(page)  # the live region turned it active
    assert page.locator('[hx-trigger*="every"]').count() == 0  # on events, never polled
    expect(page.get_by_role("button", name="Copy the IPv4 address")).to_be_visible()
    expect(page.get_by_role("button", name="Start")).to_be_disabled()
    page.reload()  # the usage charts are drawn when the page is
    for metric in ("CPU", "Memory", "Disk", "Bandwidth"):
        for span in ("last 24 hours", "last 7 days"):
            expect(page.get_by_role("img", name=re.compile(f"^{metric}, {span}"))).to_be_visible()
    assert_accessible(page)
    assert_keyboard_operable(page)

    page.get_by_role("button", name="Reboot").click()
    expect(status).to_have_text("rebooting")
    mark(page)
    expect(status).to_have_text("active", timeout=ACTIVE_WITHIN_MS)
    assert not_reloaded(page)
    log = page.locator("#actions tbody tr")
    expect(log.first).to_contain_text("reboot")
    expect(log.first).to_contain_text("success")

    delete = page.get_by_role("button", name="Delete browser-1")
    confirm = page.get_by_label(
        "Type the server's name, browser-1, to confirm", exact=True
    )  # not the rebuild's
    expect(delete).to_be_disabled()
    confirm.fill("browser-")
    expect(delete).to_be_disabled()
    confirm.fill("browser-1")
    expect(delete).to_be_enabled()
    delete.click()
    expect(page).to_have_url(f"{slow.url}/servers/?deleted=browser-1")
    expect(page.get_by_role("status")).to_have_text("browser-1 is being deleted.")
    expect(page.locator("#server-rows tr")).to_have_count(0)


def test_a_page_changes_only_when_an_event_arrives(page: Page, slow: Live) -> None:
    """With its event stream cut, a server's page stays as it was (nothing polls); once the
    stream is back (EventSource reconnects), the events it missed turn it active. The servers
    list follows a status changed through the API."""
    account_id, email = panel_account(slow)
    customer = Customer(slow, account_id, slow.token(account_id))
    page_log_in(page, slow.url, email)
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    page.route("**/events/stream*", lambda route: route.abort())
    server = customer.create_server(name="unheard")
    page.goto(f"{slow.url}/servers/{server['id']}/")
    status = page.locator("#server-status")
    expect(status).to_have_text("provisioning")
    mark(page)
    customer.wait_status(server["id"], "active", timeout=30)
    page.wait_for_timeout(4000)  # longer than the 3 s the panel polled at while provisioning
    expect(status).to_have_text("provisioning")
    assert [u for u in fetched if "/events/stream" in u]  # it tried to listen
    assert not [u for u in fetched if f"/servers/{server['id']}/live" in u]  # and asked nothing else
    page.unroute("**/events/stream*")
    expect(status).to_have_text("active", timeout=ACTIVE_WITHIN_MS)
    assert not_reloaded(page) and [u for u in fetched if f"/servers/{server['id']}/live" in u]

    # The servers list: a status changed elsewhere (the API) shows without a reload.
    page.goto(f"{slow.url}/servers/")
    row = page.locator(f"#server-{server['id']}")
    expect(row).to_contain_text("active")
    mark(page)
    assert customer.http.post(f"/api/v1/servers/{server['id']}/stop/").status_code == 200
    expect(row).to_contain_text("stopped", timeout=ACTIVE_WITHIN_MS)
    assert not_reloaded(page)


def customer_named(live: Live, email: str) -> Customer:
    """An account with a fixed email (the screenshot shows it) and PASSWORD, and its API client."""

    async def make(session: Any) -> int:
        account = await accounts.create_account(session, email=email, credit=Decimal(1000))
        await logins.set_password(session, account_id=account.id, password=PASSWORD)
        return account.id

    account_id = live.db(make)
    return Customer(live, account_id, live.token(account_id))


def test_the_servers_page_as_the_readme_shows_it(page: Page, slow: Live) -> None:
    """Saves docs/servers-page.png: a few servers with fixed names, in locations the other
    test here leaves alone (so their addresses are always the same)."""
    customer = customer_named(slow, "ada@example.com")
    wanted = [
        ("web-1", 1, "us-east", {"env": "prod", "tier": "web"}),
        ("web-2", 1, "us-east", {"env": "prod", "tier": "web"}),
        ("db-1", 2, "eu-central", {"env": "prod", "tier": "db"}),
        ("cache-1", 3, "ap-southeast", {"env": "staging"}),
    ]
    made = [
        customer.create_server(name=n, plan_id=p, location=loc, labels=labels) for n, p, loc, labels in wanted
    ]
    for server in made:
        customer.wait_status(server["id"], "active", timeout=30)
    stopped = made[-1]["id"]
    customer.http.post(f"/api/v1/servers/{stopped}/stop/")
    customer.wait_status(stopped, "stopped", timeout=30)

    page_log_in(page, slow.url, "ada@example.com")
    expect(page.locator("#server-rows tr")).to_have_count(len(wanted))
    expect(page.locator("#server-rows")).to_contain_text("stopped")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 600})  # the page's height, not the test's window
    page.screenshot(path=SCREENSHOT, full_page=True)  # before the checks move the focus
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert_accessible(page)
    assert_keyboard_operable(page)
