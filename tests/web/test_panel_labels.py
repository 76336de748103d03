"""Labels and the create's live dry run in the panel, over real HTTP: labels at create and on
a server's page (refusals in words beside the field), the list's labels and label selector,
and the dry-run fragment's price and every refusal, which creates nothing."""

import re
from typing import Any

import httpx
from sqlalchemy import update

from tests.conftest import Live
from tests.web.panel import form_csrf
from tests.web.test_servers_pages import FULL_LOCATION, htmx, new_form, panel_customer
from vpsorg.accounts.limits import Defaults
from vpsorg.accounts.models import Account
from vpsorg.admin import accounts as admin_accounts
from vpsorg.catalog import service as catalog
from vpsorg.catalog.schemas import CatalogIn


def quote(http: httpx.Client, **fields: Any) -> str:
    """The dry-run fragment for the form's fields, as htmx asks for it."""
    page = http.get("/servers/new").text
    answer = http.post("/servers/new/quote", data=new_form(http, **fields), headers=htmx(http, page))
    assert answer.status_code == 200, answer.text
    assert "<html" not in answer.text
    return answer.text


def refused_words(fragment: str) -> str:
    found = re.search(
        r'id="quote-refusal"><p><strong>This server would not be created.</strong> ([^<]+)<', fragment
    )
    assert found, fragment
    return found.group(1)


def count(customer: Any) -> int:
    return int(customer.http.get("/api/v1/servers/").json()["count"])


def test_labels_given_at_create_are_the_servers(live: Live) -> None:
    http, customer = panel_customer(live)
    form = new_form(http, name="labelled", labels="env=prod\n\n example.com/tier = web \nflag")
    done = http.post("/servers/new", data=form)
    assert done.status_code == 303, done.text
    server_id = int(done.headers["location"].split("/")[2])
    shown = customer.http.get(f"/api/v1/servers/{server_id}/").json()["labels"]
    assert shown == {"env": "prod", "example.com/tier": "web", "flag": ""}
    page = http.get(f"/servers/{server_id}/").text
    assert '<li class="label mono">env=prod</li>' in page
    assert "env=prod\nexample.com/tier=web\nflag=</textarea>" in page


def test_a_bad_label_is_refused_in_words_beside_the_field_and_the_lines_are_kept(live: Live) -> None:
    http, customer = panel_customer(live)
    answer = http.post("/servers/new", data=new_form(http, name="bad", labels="env=prod\nBad Key=x"))
    assert answer.status_code == 400
    assert "The server was not created." in answer.text
    error = re.search(r'<span class="field-error" id="labels-error">([^<]+)</span>', answer.text)
    assert error and "label key &#39;Bad Key&#39;: the name must be 1-63 letters" in error.group(1)
    assert "env=prod\nBad Key=x</textarea>" in answer.text and 'aria-invalid="true"' in answer.text
    twice = http.post("/servers/new", data=new_form(http, name="bad", labels="a=1\na=2"))
    assert twice.status_code == 400 and "line 2: the key &#39;a&#39; is given twice" in twice.text
    assert count(customer) == 0


def test_the_server_page_replaces_the_labels_and_refuses_bad_ones_in_words(live: Live) -> None:
    http, customer = panel_customer(live)
    server = customer.create_server(name="edited", labels={"old": "1"})
    url = f"/servers/{server['id']}/"
    page = http.get(url).text
    assert '<li class="label mono">old=1</li>' in page
    csrf = form_csrf(page)
    saved = http.post(url + "labels", data={"csrf_token": csrf, "labels": "env=staging\nteam=web"})
    assert saved.status_code == 303 and saved.headers["location"] == url
    labels = customer.http.get(f"/api/v1{url}").json()["labels"]
    assert labels == {"env": "staging", "team": "web"}  # the whole map replaced: old is gone
    bad = http.post(url + "labels", data={"csrf_token": csrf, "labels": "env=no good"})
    assert bad.status_code == 400
    assert "The labels were not saved." in bad.text and "the value of label &#39;env&#39; must be" in bad.text
    assert "env=no good</textarea>" in bad.text
    assert customer.http.get(f"/api/v1{url}").json()["labels"] == labels
    cleared = http.post(url + "labels", data={"csrf_token": csrf, "labels": ""})
    assert cleared.status_code == 303 and customer.http.get(f"/api/v1{url}").json()["labels"] == {}
    assert "No labels yet." in http.get(url).text


def test_the_list_shows_labels_and_filters_by_a_label_selector(live: Live) -> None:
    http, customer = panel_customer(live)
    customer.create_server(name="prod-web", labels={"env": "prod", "tier": "web"})
    customer.create_server(name="test-web", labels={"env": "test", "tier": "web"})
    customer.create_server(name="bare")
    page = http.get("/servers/").text
    assert '<li class="label mono">tier=web</li>' in page and '<th scope="col">Labels</th>' in page
    selected = http.get("/servers/", params={"label_selector": "tier,env!=test"}).text
    assert "prod-web" in selected and "test-web" not in selected and ">bare<" not in selected
    assert 'value="tier,env!=test"' in selected and "1 server match" in selected
    absent = http.get("/servers/", params={"label_selector": "!env"}).text
    assert ">bare<" in absent and "prod-web" not in absent
    bad = http.get("/servers/", params={"label_selector": "env in (a,b)"})
    assert bad.status_code == 400 and '<span class="field-error" id="filter-labels-error">' in bad.text
    assert "the selector must not contain whitespace" in bad.text


def test_the_dry_run_answers_the_price_the_plan_and_backups_give_and_creates_nothing(live: Live) -> None:
    http, customer = panel_customer(live)
    starter = quote(http, name="quoted", plan_id="3")
    assert "<strong>$6.00 a month</strong>" in starter and "in us-west" in starter
    assert "this order would be accepted" in starter
    backed = quote(http, name="quoted", plan_id="3", backups_enabled="on", location="eu-central")
    assert "<strong>$7.20 a month</strong>" in backed and "in eu-central" in backed
    unnamed = quote(http, name="", plan_id="3")  # no refusal of a name not yet typed
    assert "<strong>$6.00 a month</strong>" in unnamed and "Name the server" in unnamed
    assert count(customer) == 0


def test_the_dry_run_says_each_refusal_in_words(live: Live) -> None:
    live.db(
        lambda s: catalog.load_catalog(s, catalog=CatalogIn.model_validate({"locations": [FULL_LOCATION]}))
    )
    http, customer = panel_customer(live)
    assert "1-63 letters, digits and hyphens" in refused_words(quote(http, name="not ok!"))
    assert "label key" in refused_words(quote(http, name="ok", labels="-x=1"))
    # 503: the full location's one address, taken
    taken = customer.create_server(name="first", location="panel-full")
    assert "panel-full" in refused_words(quote(http, name="second", location="panel-full"))
    customer.wait_status(taken["id"], "active")
    customer.http.delete(f"/api/v1/servers/{taken['id']}/")
    limit = update(Account).where(Account.id == customer.account_id).values(server_limit=1)
    live.db(lambda s: s.execute(limit))
    customer.create_server(name="one")
    assert "Quota exceeded: the account has 1 servers and may have 1" in refused_words(
        quote(http, name="two")
    )

    broke, broke_customer = panel_customer(live, credit="0")
    assert "Insufficient credit: Starter VPS costs 6.00 USD" in refused_words(quote(broke, name="x"))

    async def suspend(session: Any) -> None:
        await admin_accounts.suspend(
            session,
            account_id=broke_customer.account_id,
            reason="unpaid invoice",
            defaults=Defaults(),
            actor_id=None,
        )

    live.db(suspend)
    assert "The account is suspended: unpaid invoice" in refused_words(quote(broke, name="x"))
    assert count(broke_customer) == 0 and count(customer) == 1


def test_the_new_forms_need_this_sessions_csrf_token(live: Live) -> None:
    http, customer = panel_customer(live)
    server = customer.create_server(name="guarded", labels={"keep": "1"})
    form = new_form(http, name="q") | {"csrf_token": "forged"}
    assert http.post("/servers/new/quote", data=form).status_code == 403
    edit = http.post(f"/servers/{server['id']}/labels", data={"csrf_token": "forged", "labels": "a=b"})
    assert edit.status_code == 403
    assert customer.http.get(f"/api/v1/servers/{server['id']}/").json()["labels"] == {"keep": "1"}
