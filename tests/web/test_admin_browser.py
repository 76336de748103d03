"""The operators' pages in Chromium: an operator logs in, credits an account, suspends and
unsuspends a server, and finds it all in the audit log; every operators' page passes axe-core
and works from the keyboard."""

import re

from playwright.sync_api import Page, expect

from tests.conftest import Live
from tests.hosts import fleet
from tests.web.harness import assert_accessible, assert_keyboard_operable
from tests.web.panel import page_log_in, panel_account


def log_in(page: Page, live: Live) -> None:
    _, email = panel_account(live, admin=True)
    page_log_in(page, live.url, email)


def test_an_operator_credits_an_account_then_suspends_and_unsuspends_its_server(
    page: Page, live: Live
) -> None:
    customer = live.account(credit="50")
    server = customer.active_server(name="abused-1", plan_id=fleet.STARTER)
    log_in(page, live)
    page.get_by_role("link", name="Operators").click()
    page.get_by_role("navigation", name="Operators").get_by_role("link", name="Servers").click()
    page.get_by_label("Account id").fill(str(customer.account_id))
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("1 server", exact=True)).to_be_visible()

    page.get_by_role("link", name=f"#{customer.account_id}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"@example\.com"))
    page.get_by_label("Amount").fill("12.34")
    page.get_by_label("Reason for the credit").fill("refund for ticket 99")
    page.get_by_role("button", name="Add credit").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("Credit added"))
    credited = page.get_by_role("row", name=re.compile("refund for ticket 99"))
    expect(credited).to_contain_text("$12.34")
    # The balance is the credit's "balance after": $62.34, or a cent less when the server's
    # first hour was charged before the credit (the billing job runs at its own pace).
    after = credited.get_by_role("cell").nth(3).inner_text()
    assert after in ("$62.34", "$62.33"), after
    expect(
        page.get_by_role("definition").filter(has_text=re.compile(rf"^{re.escape(after)}$"))
    ).to_be_visible()

    page.get_by_role("link", name="abused-1").click()
    page.get_by_label("Reason to suspend abused-1").fill("abuse report 7")
    page.get_by_role("button", name="Suspend abused-1").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("Server suspended"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("suspended")
    customer.wait_status(server["id"], "suspended")
    expect(page.get_by_role("row", name=re.compile("suspended: abuse report 7"))).to_be_visible()

    page.get_by_label("Reason to unsuspend abused-1").fill("resolved with the customer")
    page.get_by_role("button", name="Unsuspend abused-1").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("Suspension lifted"))
    customer.wait_status(server["id"], "active")
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_contain_text("active")

    page.get_by_role("link", name="Operators' actions on this server").click()
    expect(page.get_by_role("row", name=re.compile("server.unsuspend"))).to_contain_text(
        "resolved with the customer"
    )
    expect(page.get_by_role("row", name=re.compile("server.suspend "))).to_contain_text("abuse report 7")


def test_every_operators_page_is_accessible_and_keyboard_operable(page: Page, live: Live) -> None:
    customer = live.account()
    loc = fleet.new_location(live.settings)
    fleet.add_host(live.settings, loc)
    sid = customer.active_server(plan_id=fleet.STARTER, location=loc)["id"]
    log_in(page, live)
    page.goto(f"{live.url}/admin/servers/{sid}/")  # an audit entry to show
    page.get_by_label(re.compile("Reason to suspend")).fill("for the audit page")
    page.get_by_role("button", name=re.compile("^Suspend")).click()
    expect(page.get_by_role("status")).to_be_visible()
    for path in (
        "/admin/",
        "/admin/accounts/",
        f"/admin/accounts/{customer.account_id}/",
        f"/admin/servers/?account={customer.account_id}",
        f"/admin/servers/{sid}/",
        f"/admin/hosts/?location={loc}",
        f"/admin/audit/?target_type=server&target_id={sid}",
    ):
        page.goto(f"{live.url}{path}")
        expect(page.get_by_role("heading", level=1)).to_have_count(1)
        assert_accessible(page)
        assert_keyboard_operable(page)
