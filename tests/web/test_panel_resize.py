"""Resize on a server's page over real HTTP: the plans it may take with their monthly
differences, the form disabled with its reason unless the server is stopped, the resize
through the API's service, refusals in words with the API's status, another account's
server, CSRF."""

import re
import time
from typing import Any

import httpx

from tests.conftest import Customer, Live
from tests.web.panel import form_csrf
from tests.web.test_servers_pages import htmx, live_url, panel_customer
from vpsorg.catalog import service as catalog
from vpsorg.catalog.schemas import CatalogIn

STANDARD, PERFORMANCE, HIGH_MEMORY, DEDICATED = 1, 2, 5, 6  # the default catalog's plans
# A plan of these tests alone: a larger disk than Standard's, cheaper.
ROOMY = {
    "id": 90,
    "name": "Roomy VPS",
    "vcpus": 1,
    "memory": 2048,
    "storage": 100,
    "bandwidth": 1024,
    "price_monthly": "10.00",
    "price_hourly": "0.0150",
}


def stopped_server(customer: Customer, **fields: Any) -> dict[str, Any]:
    sid = customer.active_server(**fields)["id"]
    assert customer.http.post(f"/api/v1/servers/{sid}/stop/").status_code == 200
    return customer.wait_status(sid, "stopped")


def offered(page: str) -> dict[int, str]:
    """The plans the resize form offers: id -> its monthly difference as shown."""
    return {int(i): d for i, d in re.findall(r'<span id="resize-diff-(\d+)">([^<]+) a month</span>', page)}


def resize(http: httpx.Client, url: str, csrf: str, plan_id: object) -> httpx.Response:
    return http.post(url + "resize", data={"csrf_token": csrf, "plan_id": str(plan_id)})


def test_the_form_lists_the_larger_disks_with_the_monthly_difference(live: Live) -> None:
    live.db(lambda s: catalog.load_catalog(s, catalog=CatalogIn.model_validate({"plans": [ROOMY]})))
    http, customer = panel_customer(live)
    server = customer.active_server(name="growing", plan_id=STANDARD)
    page = http.get(f"/servers/{server['id']}/").text
    # No smaller disk (Starter, Basic), not its own plan; cheapest first.
    assert offered(page) == {
        90: "\u2212$14.00",
        PERFORMANCE: "+$24.00",
        HIGH_MEMORY: "+$144.00",
        DEDICATED: "+$168.00",
    }
    assert list(offered(page)) == [90, PERFORMANCE, HIGH_MEMORY, DEDICATED]
    # Active: the form is there, disabled, and says why.
    assert '<fieldset id="resize-plans" disabled aria-describedby="resize-reason">' in page
    assert "A server is resized while it is stopped; this one is active. Stop it first." in page
    # With backups on, the differences count the backups' surcharge too (20%).
    assert (
        customer.http.patch(f"/api/v1/servers/{server['id']}/", json={"backups_enabled": True}).status_code
        == 200
    )
    assert offered(http.get(f"/servers/{server['id']}/").text)[PERFORMANCE] == "+$28.80"


def test_a_stopped_server_is_resized_and_stays_stopped(live: Live) -> None:
    http, customer = panel_customer(live)
    server = stopped_server(customer, name="bigger", plan_id=STANDARD)
    url = f"/servers/{server['id']}/"
    page = http.get(url).text
    assert '<fieldset id="resize-plans">' in page and 'id="resize-reason"' not in page
    done = resize(http, url, form_csrf(page), PERFORMANCE)
    assert done.status_code == 303 and done.headers["location"] == url
    after = customer.wait_status(server["id"], "stopped")
    assert after["plan"]["id"] == PERFORMANCE
    page = http.get(url).text
    assert "Performance VPS: 4 vCPUs, 8 GB memory, 160 GB disk" in page  # the overview
    assert PERFORMANCE not in offered(page) and STANDARD not in offered(page)  # a smaller disk now
    log = re.search(r'<section id="actions".*?</section>', page, re.S)
    assert log and "<td>resize</td>" in log.group(0)


def test_refusals_are_in_words_with_the_apis_status(live: Live) -> None:
    http, customer = panel_customer(live, credit="40")
    server = customer.active_server(name="refused", plan_id=STANDARD)
    url = f"/servers/{server['id']}/"
    csrf = form_csrf(http.get(url).text)
    active = resize(http, url, csrf, PERFORMANCE)
    assert (
        active.status_code == 400
        and "The server was not resized. Cannot resize a server that is active" in active.text
    )
    assert customer.http.post(f"/api/v1{url}stop/").status_code == 200
    customer.wait_status(server["id"], "stopped")
    smaller = resize(http, url, csrf, 3)
    assert smaller.status_code == 400 and "a disk only grows" in smaller.text
    same = resize(http, url, csrf, STANDARD)
    assert same.status_code == 400 and "has plan 1 (Standard VPS) already" in same.text
    assert resize(http, url, csrf, "x").status_code == 400
    broke = resize(http, url, csrf, DEDICATED)  # a month more is $168, over the $40 of credit
    assert broke.status_code == 402 and "The server was not resized." in broke.text
    assert 'id="resize-plan-6" name="plan_id" value="6" required checked' in broke.text  # the choice kept
    after = customer.http.get(f"/api/v1{url}").json()
    assert (after["plan"]["id"], after["status"]) == (STANDARD, "stopped")


def test_another_accounts_server_is_not_found_and_csrf_is_checked(live: Live) -> None:
    owner_http, owner = panel_customer(live)
    server = stopped_server(owner, name="private", plan_id=STANDARD)
    url = f"/servers/{server['id']}/"
    http, _ = panel_customer(live)
    assert resize(http, url, form_csrf(http.get("/servers/").text), PERFORMANCE).status_code == 404
    assert owner_http.post(url + "resize", data={"plan_id": str(PERFORMANCE)}).status_code == 403
    assert resize(owner_http, url, "forged", PERFORMANCE).status_code == 403
    after = owner.http.get(f"/api/v1{url}").json()
    assert (after["plan"]["id"], after["status"]) == (STANDARD, "stopped")


def test_the_form_becomes_usable_live_once_the_server_is_stopped(live: Live) -> None:
    http, customer = panel_customer(live)
    server = customer.active_server(name="stopping", plan_id=STANDARD)
    page = http.get(f"/servers/{server['id']}/").text
    assert '<fieldset id="resize-plans" disabled' in page
    assert customer.http.post(f"/api/v1/servers/{server['id']}/stop/").status_code == 200
    url, deadline = live_url(page), time.monotonic() + 20
    while True:
        answer = http.get(url, headers=htmx(http, page))
        if answer.status_code == 200:
            if 'id="server-status">stopped<' in answer.text:
                break
            url = live_url(answer.text)
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert '<section id="resize" aria-labelledby="resize-heading" hx-swap-oob="true">' in answer.text
    assert '<fieldset id="resize-plans">' in answer.text and "resize-reason" not in answer.text
