"""The serial console in a running server's page, in Chromium on the simulator: the Console
button opens xterm.js on the ticketed WebSocket; typing logs in and runs `hostname`. And the
panel's ticket route: the session's CSRF token, the account's server, a running one."""

import re

from playwright.sync_api import Page, expect

from tests.conftest import Customer, Live
from tests.web.harness import assert_accessible
from tests.web.panel import browser_client_at, log_in, page_log_in, panel_account


def test_the_console_in_the_page(page: Page, live: Live) -> None:
    account_id, email = panel_account(live)
    customer = Customer(live, account_id, live.token(account_id))
    server = customer.active_server(name="termed", hostname="termed.example.org")
    page_log_in(page, live.url, email)
    page.goto(f"{live.url}/servers/{server['id']}/")
    assert_accessible(page)
    page.get_by_role("button", name="Console").click()
    screen = page.locator("#console-terminal .xterm-rows")
    expect(screen).to_contain_text("termed.example.org login:")
    expect(page.locator("#console-status")).to_contain_text("Connected")
    page.locator("#console-terminal").click()
    page.keyboard.type("vpsorg")
    page.keyboard.press("Enter")
    expect(screen).to_contain_text("Password:")
    page.keyboard.type("vpsorg")
    page.keyboard.press("Enter")
    expect(screen).to_contain_text("vpsorg@termed:~$")
    page.keyboard.type("hostname")
    page.keyboard.press("Enter")
    # Rows are read back without line breaks: the command, its answer, the next prompt.
    expect(screen).to_contain_text(re.compile(r"\$ hostname\s*termed\.example\.org\s*vpsorg@termed:~\$"))


def test_the_panels_ticket_route(live: Live) -> None:
    account_id, email = panel_account(live)
    customer = Customer(live, account_id, live.token(account_id))
    server = customer.active_server()
    _, other_email = panel_account(live)
    with browser_client_at(live.url) as browser:
        log_in(browser, email)
        page = browser.get(f"/servers/{server['id']}/")
        assert 'id="console-open"' in page.text
        csrf = page.text.split('"X-CSRF-Token": "', 1)[1].split('"', 1)[0]
        refused = browser.post(f"/servers/{server['id']}/console")  # no CSRF token
        assert refused.status_code == 403, refused.text
        r = browser.post(f"/servers/{server['id']}/console", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200, r.text
        assert r.json()["url"].startswith(live.url.replace("http://", "ws://") + "/api/v1/console/")
        customer.http.post(f"/api/v1/servers/{server['id']}/stop/")
        customer.wait_status(server["id"], "stopped")
        r = browser.post(f"/servers/{server['id']}/console", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_state", r.text
        assert 'id="console-open"' not in browser.get(f"/servers/{server['id']}/").text
    with browser_client_at(live.url) as stranger:  # another account: no such server
        log_in(stranger, other_email)
        theirs = stranger.get("/servers/").text.split('"X-CSRF-Token": "', 1)[1].split('"', 1)[0]
        r = stranger.post(f"/servers/{server['id']}/console", headers={"X-CSRF-Token": theirs})
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
