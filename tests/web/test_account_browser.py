"""The account pages in Chromium, as a person uses them: an SSH key added and deleted, a token
created (shown once, copied) and revoked, the ledger read, paged and downloaded; axe-core and
the keyboard on every page."""

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import Live, new_public_key
from tests.web.harness import assert_accessible, assert_keyboard_operable
from tests.web.panel import page_log_in, panel_account
from vpsorg.billing import service as billing


def logged_in(page: Page, live: Live) -> int:
    account_id, email = panel_account(live)
    page_log_in(page, live.url, email)
    return account_id


def checked(page: Page) -> None:
    assert_accessible(page)
    assert_keyboard_operable(page)


def test_add_and_delete_an_ssh_key(page: Page, live: Live) -> None:
    logged_in(page, live)
    page.get_by_role("link", name="SSH keys").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("SSH keys")
    checked(page)
    page.get_by_label("Name").fill("laptop")
    page.get_by_label("Public key").fill("ssh-ed25519 AAAA-not-a-key")
    page.get_by_role("button", name="Add key").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Public key: not a valid OpenSSH public key")
    expect(page.get_by_label("Public key")).to_have_attribute("aria-invalid", "true")
    checked(page)  # the refusal, its summary's link and the marked field

    page.get_by_label("Public key").fill(new_public_key())
    page.get_by_role("button", name="Add key").click()
    expect(page.get_by_role("status")).to_have_text("The key was added.")
    row = page.get_by_role("row").filter(has_text="laptop")
    expect(row).to_contain_text("SHA256:")
    checked(page)
    row.locator("summary").click()  # the confirmation opens
    page.get_by_role("button", name="Delete key “laptop”").click()
    expect(page.get_by_role("status")).to_have_text("The key was deleted.")
    expect(page.get_by_text("No SSH keys yet.")).to_be_visible()


def test_create_copy_and_revoke_a_token(page: Page, live: Live) -> None:
    logged_in(page, live)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    page.get_by_role("link", name="API tokens").click()
    checked(page)
    page.get_by_label("Name").fill("ci")
    page.get_by_label("Scope").select_option("read")
    page.get_by_label("Expires after (days)").fill("30")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_text("Copy it now: you will not see it again.")).to_be_visible()
    secret = page.get_by_label("The token").input_value()
    assert secret.startswith("vps_")
    copy = page.locator("button[data-copy]")
    expect(copy).to_have_text("Copy token")
    expect(copy).to_have_attribute("data-copy", secret)
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == secret
    checked(page)
    api = httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {secret}"})
    assert api.get("/api/v1/account/").status_code == 200

    page.get_by_role("link", name="API tokens").click()  # the list again: the secret is gone
    expect(page.get_by_text("you will not see it again")).to_have_count(0)
    assert secret not in page.content()
    row = page.get_by_role("row").filter(has_text="ci")
    expect(row).to_contain_text("read")
    row.locator("summary").click()
    page.get_by_role("button", name="Revoke token “ci”").click()
    expect(page.get_by_role("status")).to_contain_text("The token was revoked")
    expect(page.get_by_text("No API tokens yet.")).to_be_visible()
    assert api.get("/api/v1/account/").status_code == 401


def test_see_page_and_download_the_ledger(page: Page, live: Live, tmp_path: Path) -> None:
    account_id = logged_in(page, live)

    async def gifts(session: Any) -> None:
        for i in range(60):
            await billing.credit(session, account_id=account_id, amount=Decimal("2.00"), reason=f"gift {i}")

    live.db(gifts)
    page.get_by_role("link", name="Billing").click()
    expect(page.locator("#balance")).to_have_text("$1,120.00")
    ledger = page.get_by_role("table", name="Ledger")
    expect(ledger.get_by_role("row")).to_have_count(51)  # the header and 50 entries
    expect(ledger.get_by_role("row").nth(1)).to_contain_text("gift 59")
    checked(page)
    page.get_by_role("link", name="Older entries").click()
    expect(page.get_by_text("Page 2 of 2")).to_be_visible()
    expect(ledger.get_by_role("row").last).to_contain_text("Top-up")  # the opening credit
    checked(page)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the whole ledger (CSV)").click()
    saved = tmp_path / "ledger.csv"
    download.value.save_as(saved)
    assert download.value.suggested_filename.startswith(f"vpsorg-ledger-{account_id}-")
    rows = list(csv.DictReader(saved.open(newline="")))
    assert len(rows) == 61 and rows[0]["reason"] == "gift 59" and rows[0]["amount"] == "2.00"
