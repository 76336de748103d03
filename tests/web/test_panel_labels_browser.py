"""Labels and the live dry run in Chromium: the create form's price follows the plan before
submit, a refusal (the server limit reached, a bad label) shows before submit, labels given at
create show on the server's page, which edits them, and the list selects by them; axe and the
keyboard on each page changed."""

import re

from playwright.sync_api import Page, expect
from sqlalchemy import update

from tests.conftest import Live
from tests.web.harness import assert_accessible, assert_keyboard_operable
from tests.web.panel import page_log_in, panel_account
from vpsorg.accounts.models import Account


def test_labels_and_the_live_dry_run(page: Page, live: Live) -> None:
    account_id, email = panel_account(live)
    limit = update(Account).where(Account.id == account_id).values(server_limit=1)
    live.db(lambda s: s.execute(limit))
    page_log_in(page, live.url, email)
    page.get_by_role("link", name="Create a server").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Create a server")
    quote = page.locator("#price")
    expect(quote).to_have_attribute("aria-live", "polite")

    page.get_by_label("Name", exact=True).fill("labelled-1")
    page.get_by_role("radio", name=re.compile("^Starter VPS")).check()
    expect(quote).to_contain_text("$6.00 a month")
    expect(quote).to_contain_text("this order would be accepted")
    page.get_by_role("radio", name=re.compile("^Standard")).check()
    expect(quote).to_contain_text("$24.00 a month")  # the dry run's price follows the plan
    expect(quote).to_contain_text("this order would be accepted")

    labels = page.get_by_label(re.compile("^Labels"))
    labels.fill("Bad Key=x")
    labels.press("Tab")  # the change leaves the field
    expect(quote).to_contain_text("This server would not be created.")
    expect(quote).to_contain_text("label key 'Bad Key'")
    labels.fill("env=prod\nteam=web")
    labels.press("Tab")
    expect(quote).to_contain_text("this order would be accepted")
    assert_accessible(page)
    assert_keyboard_operable(page)
    page.get_by_role("button", name="Create server").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("labelled-1")
    chips = page.get_by_role("list", name="This server's labels")
    expect(chips.get_by_role("listitem")).to_have_text(["env=prod", "team=web"])
    page.get_by_label("Labels, one key=value a line").fill("env=staging")
    page.get_by_role("button", name="Save labels").click()
    expect(chips.get_by_role("listitem")).to_have_text(["env=staging"])
    page.get_by_label("Labels, one key=value a line").fill("env=no good")
    page.get_by_role("button", name="Save labels").click()
    expect(page.get_by_role("alert")).to_contain_text("The labels were not saved.")
    expect(chips.get_by_role("listitem")).to_have_text(["env=staging"])
    assert_accessible(page)
    assert_keyboard_operable(page)

    page.get_by_role("link", name="Servers", exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Servers")
    page.get_by_label("Labels").fill("env=prod")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No server matches these filters.")).to_be_visible()
    page.get_by_label("Labels").fill("env=staging")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("cell", name="env=staging")).to_be_visible()
    assert_accessible(page)
    assert_keyboard_operable(page)

    page.get_by_role("link", name="Create a server").click()
    page.get_by_label("Name", exact=True).fill("labelled-2")
    page.get_by_role("radio", name=re.compile("^Starter VPS")).check()
    expect(quote).to_contain_text("Quota exceeded: the account has 1 servers and may have 1")
    assert_accessible(page)
