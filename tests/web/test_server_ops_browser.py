"""The server page's operations in Chromium on the simulator: a snapshot seen available
without a reload (the live region), a rebuild behind the typed name, a restore of the
snapshot, and a resize, whose
form becomes usable live once the server is stopped; axe and the keyboard on the server
page."""

import re

from playwright.sync_api import Page, expect

from tests.conftest import Customer, Live
from tests.web.harness import assert_accessible, assert_keyboard_operable
from tests.web.panel import page_log_in, panel_account


def test_snapshot_rebuild_and_resize_on_the_server_page(page: Page, live: Live) -> None:
    account_id, email = panel_account(live)
    customer = Customer(live, account_id, live.token(account_id))
    server = customer.active_server(name="walked", plan_id=1)
    page_log_in(page, live.url, email)
    page.goto(f"{live.url}/servers/{server['id']}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("walked")
    assert_accessible(page)
    assert_keyboard_operable(page)

    # A snapshot: its row appears creating (or already available) and turns available live.
    page.get_by_label("Snapshot name").fill("before-rebuild")
    page.get_by_role("button", name="Take a snapshot").click()
    row = page.locator("#snapshots-list tbody tr").filter(has_text="before-rebuild")
    expect(row).to_contain_text("snapshot")
    expect(row.locator(".badge")).to_have_text("available")
    expect(row).to_contain_text(re.compile(r"\d+ GB"))
    assert_accessible(page)

    # A rebuild: the button waits for the typed name; Debian 12 is installed.
    button = page.get_by_role("button", name="Rebuild walked")
    expect(button).to_be_disabled()
    page.get_by_label("Image").select_option(label="Debian 12")
    page.get_by_label("Type the server's name, walked, to confirm the rebuild").fill("walked")
    expect(button).to_be_enabled()
    button.click()
    expect(page.locator("#server-status")).to_have_text("active")
    expect(page.locator("#live")).to_contain_text("Debian 12")
    expect(page.locator("#actions")).to_contain_text("reinstall Debian 12")
    assert_accessible(page)
    assert_keyboard_operable(page)

    # A restore: the same form, the snapshot chosen instead of an image.
    image = page.get_by_label("Image")
    snapshot = image.locator("option", has_text="before-rebuild").get_attribute("value")
    assert snapshot and snapshot.startswith("snapshot:"), snapshot
    image.select_option(value=snapshot)
    page.get_by_label("Type the server's name, walked, to confirm the rebuild").fill("walked")
    button.click()
    expect(page.locator("#actions")).to_contain_text(f"restore snapshot {snapshot.split(':')[1]}")
    expect(page.locator("#server-status")).to_have_text("active")

    # A resize: disabled while the server runs; usable once it is stopped, without a reload.
    performance = page.get_by_role("radio", name=re.compile("^Performance VPS"))
    expect(performance).to_be_disabled()
    expect(page.locator("#resize-reason")).to_contain_text("Stop it first.")
    page.get_by_role("button", name="Stop").click()
    expect(page.locator("#server-status")).to_have_text("stopped")
    expect(performance).to_be_enabled()
    expect(page.locator("#resize-plans")).to_contain_text(
        "Performance VPS: 4 vCPUs, 8 GB memory, 160 GB disk · +$24.00 a month"
    )
    assert_accessible(page)
    assert_keyboard_operable(page)
    performance.check()
    page.get_by_role("button", name="Resize").click()
    expect(page.locator("#live")).to_contain_text("Performance VPS: 4 vCPUs")
    expect(page.locator("#server-status")).to_have_text("stopped")
    expect(page.locator("#actions")).to_contain_text("resize")
    assert_accessible(page)

    # The account's snapshots, from the menu.
    page.get_by_role("link", name="Snapshots", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Snapshots")
    expect(page.get_by_role("cell", name="before-rebuild", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="walked")).to_be_visible()
    assert_accessible(page)
    assert_keyboard_operable(page)

    # A new server from it: the create form opens with the snapshot chosen.
    page.get_by_role("link", name=re.compile("^New server from it")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Create a server")
    expect(page.get_by_label("Operating system or snapshot")).to_have_value(re.compile(r"^snapshot:\d+$"))
    assert_accessible(page)
