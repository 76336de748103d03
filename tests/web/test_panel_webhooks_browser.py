"""The Webhooks page in Chromium, as a person uses it: a webhook created from the menu (its
secret shown once, and it verifies the signature of what the receiver gets), its deliveries
with the receiver's status code, a redeliver, and the webhook deleted; axe-core and the
keyboard on each page."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Live, prepare_database, serve_in_thread, test_settings
from tests.web.harness import assert_accessible, assert_keyboard_operable
from tests.web.panel import page_log_in, panel_account
from tests.webhooks.conftest import FAST
from tests.webhooks.helpers import readme_verify
from tests.webhooks.receiver import receiving


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    settings = test_settings(tmp_path_factory.mktemp("browser-hooks") / "vpsorg.db", **FAST)
    prepare_database(settings)
    with serve_in_thread(settings) as server:
        yield server


def checked(page: Page) -> None:
    assert_accessible(page)
    assert_keyboard_operable(page)


def test_create_a_webhook_see_its_deliveries_redeliver_and_delete(page: Page, hooked: Live) -> None:
    account_id, email = panel_account(hooked)
    page_log_in(page, hooked.url, email)
    customer_token = hooked.token(account_id)
    with receiving() as r:
        page.get_by_role("link", name="Webhooks", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")
        checked(page)
        page.get_by_label("URL").fill("http://169.254.169.254/latest/")
        page.get_by_role("button", name="Create webhook").click()
        expect(page.get_by_role("alert")).to_contain_text("cloud metadata")
        checked(page)
        page.get_by_label("URL").fill(r.url)
        page.get_by_label("Description").fill("ci")
        page.get_by_label("server.created").check()
        page.get_by_role("button", name="Create webhook").click()
        expect(page.get_by_text("Copy its signing secret now")).to_be_visible()
        secret = page.get_by_label("The signing secret").input_value()
        assert secret.startswith("whsec_")
        checked(page)

        api = hooked.client(customer_token)
        made = api.post(
            "/api/v1/servers/", json={"name": "b-1", "plan_id": 1, "os_id": 5, "location": "us-west"}
        )
        assert made.status_code == 201, made.text
        (got,) = r.wait_for(1)
        assert readme_verify()(secret, got.headers["vpsorg-signature"], got.body)

        page.get_by_role("link", name="Webhooks", exact=True).click()
        assert secret not in page.content()
        page.get_by_role("link", name=r.url).click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(r.url)
        row = page.get_by_role("row").filter(has_text="server.created")
        for _ in range(100):  # the log is not live: reloaded until the worker has written it
            if "succeeded" in (row.text_content(timeout=1000) or ""):
                break
            page.wait_for_timeout(100)
            page.reload()
        expect(row).to_contain_text("succeeded")
        expect(row.locator("td.code")).to_have_text("200")
        checked(page)
        row.get_by_role("button", name="Redeliver").click()
        expect(page.get_by_role("status")).to_have_text("The event is queued to be sent again.")
        assert r.wait_for(2)[1].body == got.body

    page.get_by_role("link", name="Webhooks", exact=True).click()
    page.get_by_role("row").filter(has_text=r.url).locator("summary").click()
    page.get_by_role("button", name=f"Delete webhook to {r.url}").click()
    expect(page.get_by_role("status")).to_have_text("The webhook was deleted: nothing more is sent to it.")
    expect(page.get_by_text("No webhooks yet.")).to_be_visible()
    checked(page)
