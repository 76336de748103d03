"""The customer's server pages over real HTTP: the list, the create form, a server's page,
their refusals in words, CSRF, other accounts' servers, and the SQL statements per page."""

import re
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from tests.conftest import (
    Customer,
    Live,
    new_public_key,
    prepare_database,
    serve_in_thread,
    test_settings,
)
from tests.web.panel import browser_client, form_csrf, log_in, panel_account
from tests.web.queries import add_servers, counting
from vpsorg.accounts.limits import Defaults
from vpsorg.accounts.models import Account
from vpsorg.admin import accounts as admin_accounts
from vpsorg.catalog import service as catalog
from vpsorg.catalog.schemas import CatalogIn
from vpsorg.servers.models import Server
from vpsorg.servers.states import TRANSITIONS, ActionType, ServerStatus

# A location of these tests alone whose IPv4 pool holds exactly one assignable address.
FULL_LOCATION = {
    "code": "panel-full",
    "name": "Full",
    "country": "ZZ",
    "ipv4_pool": "198.18.0.0/30",
    "ipv4_gateway": "198.18.0.1",
    "ipv6_pool": "2001:db8:fe::/64",
    "ipv6_gateway": "2001:db8:fe::1",
}


def panel_customer(live: Live, credit: str = "1000") -> tuple[httpx.Client, Customer]:
    """A logged-in browser and the same account's API client (to set things up)."""
    account_id, email = panel_account(live, credit=credit)
    http = browser_client(live)
    assert log_in(http, email).status_code == 303
    return http, Customer(live, account_id, live.token(account_id))


def htmx(http: httpx.Client, page: str) -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRF-Token": form_csrf(page)}


def set_status(live: Live, server_id: int, status: str) -> None:
    live.db(lambda s: s.execute(update(Server).where(Server.id == server_id).values(status=status)))


def rows_url(page: str) -> str:
    found = re.search(r'<tbody id="server-rows" hx-get="([^"]+)" hx-trigger="event-arrived"', page)
    assert found, page
    return found.group(1).replace("&amp;", "&")


def fetched_on_events(page: str, region: str) -> bool:
    """Whether the region is fetched again when an event arrives (and never polled)."""
    assert 'hx-trigger="every' not in page
    return bool(re.search(rf'id="{region}"[^>]* hx-trigger="event-arrived"[^>]* data-live>', page))


def live_url(page: str) -> str:
    found = re.search(r'<section id="live"[^>]* hx-get="([^"]+)"', page)
    assert found, page
    return found.group(1).replace("&amp;", "&")


def status_of(page: str) -> str:
    found = re.search(r'id="server-status">([a-z]+)<', page)
    assert found, page
    return found.group(1)


def button(page: str, action: str) -> str:
    found = re.search(rf'<button [^>]*value="{action}"[^>]*>', page)
    assert found, page
    return found.group(0)


def new_form(http: httpx.Client, **fields: Any) -> dict[str, Any]:
    page = http.get("/servers/new").text
    return {"csrf_token": form_csrf(page), "plan_id": "3", "os_id": "5", "location": "us-west"} | fields


def wait_active_on_page(http: httpx.Client, server_id: int) -> str:
    """Poll the page's live region as htmx does, until it shows the server active."""
    page = http.get(f"/servers/{server_id}/").text
    url = live_url(page)
    deadline = time.monotonic() + 20
    while status_of(page) != "active":
        assert time.monotonic() < deadline, page
        time.sleep(0.1)
        answer = http.get(url, headers=htmx(http, page))
        if answer.status_code == 200:
            page = answer.text
            url = live_url(page)
        else:
            assert answer.status_code == 204
    return page


# The list


def test_the_list_shows_each_servers_status_address_plan_and_location(live: Live) -> None:
    http, customer = panel_customer(live)
    made = [
        customer.active_server(name=n, location=loc) for n, loc in (("alpha", "us-west"), ("beta", "us-east"))
    ]
    page = http.get("/servers/")
    assert page.status_code == 200 and "2 servers" in page.text
    for server in made:
        row = re.search(rf'<tr id="server-{server["id"]}">(.*?)</tr>', page.text, re.S)
        assert row, page.text
        cells = row.group(1)
        assert f'href="/servers/{server["id"]}/">{server["name"]}</a>' in cells
        assert '<span class="badge status-active">active</span>' in cells
        assert (
            server["ip_address"] in cells and server["plan"]["name"] in cells and server["location"] in cells
        )
    assert 'aria-live="polite"' in page.text and '<th scope="col">Status</th>' in page.text


def test_the_list_filters_by_status_and_location_and_searches_by_name(live: Live) -> None:
    http, customer = panel_customer(live)
    web = customer.active_server(name="Web-Front", location="us-west")
    db = customer.active_server(name="db-main", location="us-east")
    customer.active_server(name="web-back", location="us-east")
    customer.http.post(f"/api/v1/servers/{db['id']}/stop/")
    customer.wait_status(db["id"], "stopped")

    def names(query: str) -> list[str]:
        page = http.get(f"/servers/?{query}")
        assert page.status_code == 200, page.text
        return re.findall(r'<tr id="server-\d+">\s*<td><a [^>]*>([^<]+)</a>', page.text)

    assert names("") == ["Web-Front", "db-main", "web-back"]
    assert names("status=stopped") == ["db-main"]
    assert names("location=us-east") == ["db-main", "web-back"]
    assert names("name=WEB") == ["Web-Front", "web-back"]  # any case, anywhere in the name
    assert names("name=web&location=us-west&status=active") == ["Web-Front"]
    assert names("name=%25") == [] and names("name=_") == []  # LIKE's own characters are text
    assert names("status=&location=&name=") == names("")  # the form's "any": no filter
    page = http.get("/servers/?status=stopped&location=us-east").text
    assert '<option value="stopped" selected>' in page and '<option value="us-east" selected>' in page
    assert "1 server match" in page
    refused = http.get("/servers/?status=sleeping")
    assert refused.status_code == 400 and "no such status" in refused.text and "<html" in refused.text
    assert web["id"] != db["id"]


def test_the_list_pages_by_fifty_with_cursor_links(live: Live) -> None:
    http, customer = panel_customer(live)
    add_servers(live.db, customer.account_id, 53, active=False)
    first = http.get("/servers/").text
    assert "53 servers" in first and first.count('<tr id="server-') == 50
    found = re.search(r'<a href="(\?[^"]+)" rel="next">', first)
    assert found and "cursor=a" in found.group(1)
    assert 'rel="prev"' not in first
    second = http.get("/servers/" + found.group(1).replace("&amp;", "&")).text
    assert second.count('<tr id="server-') == 3 and "srv-0053" in second and "srv-0050" not in second
    back = re.search(r'<a href="(\?[^"]+)" rel="prev">', second)
    assert back and 'rel="next"' not in second
    again = http.get("/servers/" + back.group(1).replace("&amp;", "&")).text
    assert again.count('<tr id="server-') == 50 and "srv-0001" in again
    # a filter stays on the pager's links
    filtered = http.get("/servers/?name=srv-00").text
    assert re.search(r'<a href="\?[^"]*name=srv-00[^"]*" rel="next">', filtered)


def test_the_rows_are_fetched_on_events_and_answer_204_while_unchanged(live: Live) -> None:
    http, customer = panel_customer(live)
    server = customer.active_server(name="poll-me")
    page = http.get("/servers/").text
    assert fetched_on_events(page, "server-rows")
    url = rows_url(page)
    assert http.get(url, headers=htmx(http, page)).status_code == 204
    set_status(live, server["id"], ServerStatus.REBOOTING)
    changed = http.get(url, headers=htmx(http, page))
    assert changed.status_code == 200 and changed.text.lstrip().startswith('<tbody id="server-rows"')
    assert "<html" not in changed.text and "status-rebooting" in changed.text
    assert fetched_on_events(changed.text, "server-rows")
    assert http.get(rows_url(changed.text), headers=htmx(http, page)).status_code == 204
    set_status(live, server["id"], ServerStatus.ACTIVE)


# Creating a server


def test_the_create_form_shows_plans_as_cards_images_locations_keys_and_the_price(live: Live) -> None:
    http, customer = panel_customer(live)
    key = customer.http.post("/api/v1/ssh-keys/", json={"name": "laptop", "public_key": new_public_key()})
    page = http.get("/servers/new").text
    plans = customer.http.get("/api/v1/plans/").json()["results"]
    for plan in plans:
        card = re.search(
            rf'<label class="card plan">\s*<input type="radio" name="plan_id" value="{plan["id"]}".*?</label>',
            page,
            re.S,
        )
        assert card, plan
        text = card.group(0)
        assert plan["name"] in text and f"${Decimal(plan['price_monthly']):.2f}</strong> a month" in text
        assert (
            f"${Decimal(plan['price_hourly']):.4f} an hour" in text and f"{plan['storage']} GB disk" in text
        )
        assert f"{plan['vcpus']} vCPU" in text
    for os_ in customer.http.get("/api/v1/os/").json()["results"]:
        assert f'<option value="{os_["id"]}"' in page and os_["name"] in page
    for loc in customer.http.get("/api/v1/locations/").json()["results"]:
        assert f'<option value="{loc["code"]}"' in page
    assert f'name="ssh_key_id" value="{key.json()["id"]}"' in page and "laptop" in page
    first = plans[0]
    assert (
        f"<strong>${Decimal(first['price_monthly']):.2f} a month</strong>" in page
    )  # the price, server-side
    assert 'hx-post="/servers/new/quote"' in page


def test_the_price_follows_the_plan_and_backups(live: Live) -> None:
    http, _ = panel_customer(live)
    page = http.get("/servers/new").text

    def priced(**fields: Any) -> str:  # before a name is typed: the plan's price alone
        form = new_form(http, name="", **fields)
        return http.post("/servers/new/quote", data=form, headers=htmx(http, page)).text

    plain = priced(plan_id="3")
    assert "<strong>$6.00 a month</strong>" in plain and "$0.0089 an hour" in plain
    backed = priced(plan_id="3", backups_enabled="on")
    assert "<strong>$7.20 a month</strong>" in backed and "$0.0107 an hour" in backed
    assert "backups included ($1.20 a month)" in backed and "<html" not in backed
    assert "Choose a plan" in priced(plan_id="999")


def test_creating_a_server_leads_to_its_page_where_it_turns_active(live: Live) -> None:
    http, customer = panel_customer(live)
    done = http.post("/servers/new", data=new_form(http, name="from-panel", hostname="app.example.com"))
    assert done.status_code == 303
    found = re.fullmatch(r"/servers/(\d+)/", done.headers["location"])
    assert found
    server_id = int(found.group(1))
    created = customer.http.get(f"/api/v1/servers/{server_id}/").json()
    assert (created["name"], created["hostname"], created["plan"]["id"]) == (
        "from-panel",
        "app.example.com",
        3,
    )
    page = http.get(done.headers["location"]).text
    assert status_of(page) in ("provisioning", "active")
    page = wait_active_on_page(http, server_id)
    address = customer.http.get(f"/api/v1/servers/{server_id}/").json()["ip_address"]
    assert address and f'data-copy="{address}"' in page
    log = re.search(r'<section id="actions".*?</section>', page, re.S)
    assert log and "create" in log.group(0) and "status-success" in log.group(0)


def assert_refused_in_words(answer: httpx.Response, status: int, words: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert "The server was not created." in answer.text and words in answer.text
    assert '{"error"' not in answer.text


def test_a_bad_field_is_refused_beside_it_and_every_choice_is_kept(live: Live) -> None:
    http, customer = panel_customer(live)
    form = new_form(http, name="not ok!", plan_id="4", os_id="3", location="eu-central", backups_enabled="on")
    answer = http.post("/servers/new", data=form | {"hostname": "no_dots"})
    assert_refused_in_words(answer, 400, "1-63 letters, digits and hyphens")
    page = answer.text
    assert "must be a host name such as web01" in page and "String should match" not in page
    assert 'value="not ok!"' in page and 'value="no_dots"' in page
    assert re.search(r'name="plan_id" value="4" checked', page)
    assert '<option value="3" selected>' in page and '<option value="eu-central" selected>' in page
    assert re.search(r'name="backups_enabled" value="on" checked', page)
    assert 'aria-invalid="true"' in page
    assert customer.http.get("/api/v1/servers/").json()["count"] == 0


def test_not_enough_credit_is_refused_in_words(live: Live) -> None:
    http, customer = panel_customer(live, credit="0")
    answer = http.post("/servers/new", data=new_form(http, name="broke"))
    assert_refused_in_words(answer, 402, "Insufficient credit: Starter VPS costs 6.00 USD a month")
    assert 'value="broke"' in answer.text
    assert customer.http.get("/api/v1/servers/").json()["count"] == 0


def test_the_quota_is_refused_in_words(live: Live) -> None:
    http, customer = panel_customer(live)
    limit = update(Account).where(Account.id == customer.account_id).values(server_limit=1)
    live.db(lambda s: s.execute(limit))
    assert http.post("/servers/new", data=new_form(http, name="one")).status_code == 303
    answer = http.post("/servers/new", data=new_form(http, name="two"))
    assert_refused_in_words(answer, 403, "Quota exceeded: the account has 1 servers and may have 1")
    assert customer.http.get("/api/v1/servers/").json()["count"] == 1


def test_a_suspended_account_is_refused_in_words(live: Live) -> None:
    http, customer = panel_customer(live)

    async def suspend(session: Any) -> None:
        await admin_accounts.suspend(
            session,
            account_id=customer.account_id,
            reason="unpaid invoice",
            defaults=Defaults(),
            actor_id=None,
        )

    live.db(suspend)
    answer = http.post("/servers/new", data=new_form(http, name="held"))
    assert_refused_in_words(answer, 403, "The account is suspended: unpaid invoice")
    assert customer.http.get("/api/v1/servers/").json()["count"] == 0


def test_a_full_location_is_refused_in_words_and_keeps_nothing(live: Live) -> None:
    live.db(
        lambda s: catalog.load_catalog(s, catalog=CatalogIn.model_validate({"locations": [FULL_LOCATION]}))
    )
    http, customer = panel_customer(live)
    taken = http.post("/servers/new", data=new_form(http, name="first", location="panel-full"))
    assert taken.status_code == 303
    answer = http.post("/servers/new", data=new_form(http, name="second", location="panel-full"))
    assert_refused_in_words(answer, 503, "panel-full")
    assert '<option value="panel-full" selected>' in answer.text
    assert customer.http.get("/api/v1/servers/").json()["count"] == 1
    first_id = int(taken.headers["location"].split("/")[2])
    customer.wait_status(first_id, "active")
    customer.http.delete(f"/api/v1/servers/{first_id}/")


def test_a_key_added_on_the_form_is_chosen_with_and_without_htmx(live: Live) -> None:
    http, customer = panel_customer(live)
    form = new_form(http, name="keyed", plan_id="4", key_name="laptop", public_key=new_public_key())
    # Without JS: the whole form comes back, the new key chosen, every other choice kept.
    page = http.post("/servers/new/ssh-keys", data=form)
    assert page.status_code == 200 and "<html" in page.text
    keys = customer.http.get("/api/v1/ssh-keys/").json()["results"]
    assert [k["name"] for k in keys] == ["laptop"]
    assert re.search(rf'name="ssh_key_id" value="{keys[0]["id"]}" checked', page.text)
    assert 'value="keyed"' in page.text and re.search(r'name="plan_id" value="4" checked', page.text)
    # With htmx: the keys' fieldset alone; a refusal is in it, in words.
    again = http.post(
        "/servers/new/ssh-keys",
        data=form | {"key_name": "desk", "public_key": "ssh-rsa nonsense"},
        headers=htmx(http, page.text),
    )
    assert again.status_code == 200 and again.text.lstrip().startswith('<fieldset id="ssh-keys"')
    assert "The key was not added." in again.text and "not a valid OpenSSH public key" in again.text
    second = http.post(
        "/servers/new/ssh-keys",
        data=form | {"key_name": "desk", "public_key": new_public_key()},
        headers=htmx(http, page.text),
    )
    desk = [k for k in customer.http.get("/api/v1/ssh-keys/").json()["results"] if k["name"] == "desk"]
    assert len(desk) == 1 and re.search(rf'value="{desk[0]["id"]}" checked', second.text)
    # The server gets the chosen key.
    done = http.post("/servers/new", data=form | {"ssh_key_id": str(desk[0]["id"])})
    assert done.status_code == 303


# A server's page


def test_the_server_page_shows_its_facts_and_the_power_buttons_its_status_allows(live: Live) -> None:
    http, customer = panel_customer(live)
    server = customer.active_server(name="facts")
    page = http.get(f"/servers/{server['id']}/").text
    assert f'data-copy="{server["ip_address"]}"' in page and f'data-copy="{server["ipv6_address"]}"' in page
    for shown in (server["plan"]["name"], server["os"]["name"], server["location"], server["hostname"]):
        assert shown in page
    assert "UTC</time>" in page and '<section id="usage"' in page and "<h1>facts</h1>" in page
    usage = re.search(r'<section id="usage".*?</section>', page, re.S)
    assert usage
    titles = re.findall(r'<svg [^>]*role="img"[^>]*>\s*<title id="[^"]+">([^<]+)</title>', usage.group(0))
    spans = ("last 24 hours", "last 7 days")
    assert titles == [f"{m}, {span}" for m in ("CPU", "Memory", "Disk", "Bandwidth") for span in spans]
    cpu_today = usage.group(0).split("</svg>")[0]
    assert "chart-empty" not in cpu_today and "<desc" in cpu_today  # the create's sample is drawn
    for status in (ServerStatus.ACTIVE, ServerStatus.STOPPED, ServerStatus.REBOOTING, ServerStatus.ERROR):
        set_status(live, server["id"], status)
        page = http.get(f"/servers/{server['id']}/").text
        for kind in (ActionType.START, ActionType.STOP, ActionType.REBOOT):
            allowed = status in TRANSITIONS[kind].allowed_from
            assert ("disabled" not in button(page, kind)) == allowed, (status, kind)
        assert fetched_on_events(page, "live")
    set_status(live, server["id"], ServerStatus.ACTIVE)


def test_a_reboot_is_queued_and_logged_and_a_refused_start_says_why(live: Live) -> None:
    http, customer = panel_customer(live)
    server = customer.active_server(name="power")
    page = http.get(f"/servers/{server['id']}/").text
    csrf = form_csrf(page)
    refused = http.post(f"/servers/{server['id']}/power", data={"csrf_token": csrf, "action": "start"})
    assert refused.status_code == 400 and "Cannot start a server that is active" in refused.text
    done = http.post(f"/servers/{server['id']}/power", data={"csrf_token": csrf, "action": "reboot"})
    assert done.status_code == 303 and done.headers["location"] == f"/servers/{server['id']}/"
    page = wait_active_on_page(http, server["id"])
    log = re.search(r'<section id="actions".*?</section>', page, re.S)
    assert log and log.group(0).index("reboot") < log.group(0).index("create")  # newest first
    bogus = http.post(f"/servers/{server['id']}/power", data={"csrf_token": csrf, "action": "delete"})
    assert bogus.status_code == 400 and "no power action" in bogus.text


def test_rename_hostname_and_backups_go_through_the_patch_service(live: Live) -> None:
    http, customer = panel_customer(live)
    server = customer.active_server(name="before")
    url = f"/servers/{server['id']}/"
    csrf = form_csrf(http.get(url).text)
    # The hostname the server got by default (its name) is one label: renaming alone works.
    renamed = http.post(url + "settings", data={"csrf_token": csrf, "name": "after", "hostname": "before"})
    assert renamed.status_code == 303
    assert customer.http.get(f"/api/v1{url}").json()["name"] == "after"
    bad = http.post(url + "settings", data={"csrf_token": csrf, "name": "after", "hostname": "no_dots"})
    assert bad.status_code == 400 and "must be a host name such as web01" in bad.text
    assert 'value="no_dots"' in bad.text
    good = http.post(
        url + "settings", data={"csrf_token": csrf, "name": "after", "hostname": "a.example.com"}
    )
    assert (
        good.status_code == 303 and customer.http.get(f"/api/v1{url}").json()["hostname"] == "a.example.com"
    )
    page = http.get(url).text
    assert "Turn backups on (+$4.80 a month)" in page  # 20% of the Standard plan's $24.00
    assert http.post(url + "backups", data={"csrf_token": csrf, "enabled": "on"}).status_code == 303
    assert customer.http.get(f"/api/v1{url}").json()["backups_enabled"] is True
    assert "Turn backups off" in http.get(url).text
    assert http.post(url + "backups", data={"csrf_token": csrf, "enabled": "off"}).status_code == 303
    assert customer.http.get(f"/api/v1{url}").json()["backups_enabled"] is False


def test_delete_needs_the_servers_name(live: Live) -> None:
    http, customer = panel_customer(live)
    server = customer.active_server(name="doomed")
    url = f"/servers/{server['id']}/"
    page = http.get(url).text
    assert 'data-confirm-match="doomed" data-confirm-for="delete-button"' in page
    csrf = form_csrf(page)
    wrong = http.post(url + "delete", data={"csrf_token": csrf, "confirm_name": "doome"})
    assert wrong.status_code == 400 and "Type the server&#39;s name, doomed, to delete it." in wrong.text
    assert customer.http.get(f"/api/v1{url}").status_code == 200
    done = http.post(url + "delete", data={"csrf_token": csrf, "confirm_name": "doomed"})
    assert done.status_code == 303 and done.headers["location"] == "/servers/?deleted=doomed"
    assert customer.http.get(f"/api/v1{url}").status_code == 404
    assert "doomed is being deleted." in http.get(done.headers["location"]).text
    assert http.get(url).status_code == 404


def test_another_accounts_server_is_not_found_on_every_route(live: Live) -> None:
    _, owner = panel_customer(live)
    server = owner.active_server(name="private")
    http, _ = panel_customer(live)
    page = http.get("/servers/").text
    csrf = form_csrf(page)
    url = f"/servers/{server['id']}/"
    for answer in (
        http.get(url),
        http.get(url + "live", headers=htmx(http, page)),
        http.post(url + "power", data={"csrf_token": csrf, "action": "reboot"}),
        http.post(url + "settings", data={"csrf_token": csrf, "name": "mine", "hostname": "a.example.com"}),
        http.post(url + "backups", data={"csrf_token": csrf, "enabled": "on"}),
        http.post(url + "delete", data={"csrf_token": csrf, "confirm_name": "private"}),
        http.get("/servers/x/"),
    ):
        assert answer.status_code == 404, answer.request.url
    assert "<h1>Not found</h1>" in http.get(url).text
    after = owner.http.get(f"/api/v1{url}").json()
    assert (after["name"], after["status"], after["backups_enabled"]) == ("private", "active", False)


def test_forms_without_this_sessions_csrf_token_are_refused(live: Live) -> None:
    http, customer = panel_customer(live)
    server = customer.active_server(name="guarded")
    url = f"/servers/{server['id']}/"
    form = new_form(http, name="forged")
    for answer in (
        http.post("/servers/new", data=form | {"csrf_token": "forged"}),
        http.post("/servers/new/ssh-keys", data={"key_name": "k", "public_key": new_public_key()}),
        http.post(url + "power", data={"action": "reboot"}),
        http.post(url + "delete", data={"csrf_token": "x", "confirm_name": "guarded"}),
    ):
        assert answer.status_code == 403 and "<html" in answer.text
    assert [s["name"] for s in customer.http.get("/api/v1/servers/").json()["results"]] == ["guarded"]
    assert customer.http.get(f"/api/v1{url}").json()["status"] == "active"
    assert customer.http.get("/api/v1/ssh-keys/").json()["count"] == 0


# SQL statements per page


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server of this module's own without a worker: every statement it runs is a page's."""
    settings = test_settings(tmp_path_factory.mktemp("queries") / "queries.db")
    prepare_database(settings)
    with serve_in_thread(settings, run_worker=False) as server:
        yield server


def statements(live: Live, http: httpx.Client, path: str) -> list[str]:
    http.get(path)  # the first request of a kind compiles and caches; count the second
    with counting(live.app) as seen:
        answer = http.get(path)
    assert answer.status_code == 200, answer.text
    return list(seen)


def test_the_pages_run_as_many_statements_with_10_servers_as_with_200(quiet: Live) -> None:
    counts = {}
    for n in (10, 200):
        account_id, email = panel_account(quiet)
        http = browser_client(quiet)
        assert log_in(http, email).status_code == 303
        ids = add_servers(quiet.db, account_id, n)
        pages = {
            "list": "/servers/",
            "filtered list": "/servers/?name=srv&status=active",
            "list rows": "/servers/rows?location=us-east",
            "server": f"/servers/{ids[-1]}/",
            "server live": f"/servers/{ids[-1]}/live",
            "create form": "/servers/new",
        }
        counts[n] = {name: statements(quiet, http, path) for name, path in pages.items()}
    for name, seen in counts[10].items():
        print(name, len(seen), *(" ".join(s.split())[:100] for s in seen), sep="\n  ")
    assert {k: len(v) for k, v in counts[10].items()} == {k: len(v) for k, v in counts[200].items()}
    assert all(len(seen) > 1 for seen in counts[10].values())  # the counting sees them
