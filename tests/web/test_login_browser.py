"""Logging in and out in Chromium, as a person does; the login page's accessibility."""

from playwright.sync_api import Page, expect

from tests.conftest import Live
from tests.web.harness import assert_accessible, assert_keyboard_operable
from tests.web.panel import PASSWORD, page_log_in, panel_account


def test_a_wrong_password_is_refused_in_words_then_the_right_one_logs_in(page: Page, live: Live) -> None:
    _, email = panel_account(live)
    page.goto(f"{live.url}/servers/")
    expect(page).to_have_url(f"{live.url}/login?next=/servers/")
    assert_accessible(page)
    assert_keyboard_operable(page)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    expect(page.get_by_label("Email")).to_have_value(email)  # kept; the password is not
    assert_accessible(page)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")  # the keyboard submits the form
    expect(page).to_have_url(f"{live.url}/servers/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Servers")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{live.url}/login")
    page.goto(f"{live.url}/servers/")
    expect(page).to_have_url(f"{live.url}/login?next=/servers/")


def test_a_form_without_its_csrf_token_is_refused(page: Page, live: Live) -> None:
    _, email = panel_account(live)
    page_log_in(page, live.url, email)
    # A forged form: the same post without the session's token (as another site would send it).
    page.evaluate("document.querySelector('form.logout input[name=csrf_token]').remove()")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.get_by_role("alert")).to_contain_text("not sent by this session's page")
    page.goto(f"{live.url}/servers/")  # still logged in: nothing was done
    expect(page.get_by_role("heading", level=1)).to_have_text("Servers")


def test_a_customer_reaching_the_operators_pages_is_refused(page: Page, live: Live) -> None:
    _, email = panel_account(live)
    page_log_in(page, live.url, email)
    expect(page.get_by_role("link", name="Operators")).to_have_count(0)  # not offered...
    answer = page.goto(f"{live.url}/admin/accounts/")  # ...and refused when typed
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.get_by_role("alert")).to_have_text("These pages are for operators only")
    assert_accessible(page)  # the error page too
    assert_keyboard_operable(page)
