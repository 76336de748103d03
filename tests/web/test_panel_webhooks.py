"""Webhooks in the panel over real HTTP: the Webhooks page in the menu, creating one (the
secret shown once, in a page not cached), refusals in words with the API's status, a
webhook's deliveries with the receiver's status codes and a redeliver, deleting one,
another account's webhook (404), CSRF."""

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Live, prepare_database, serve_in_thread, test_settings
from tests.web.panel import form_csrf
from tests.web.test_servers_pages import panel_customer
from tests.webhooks.conftest import FAST
from tests.webhooks.helpers import wait
from tests.webhooks.receiver import receiving


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The panel with http to loopback allowed, for a receiver started by the test."""
    settings = test_settings(tmp_path_factory.mktemp("panel-hooks") / "vpsorg.db", **FAST)
    prepare_database(settings)
    with serve_in_thread(settings) as server:
        yield server


def create(http: httpx.Client, csrf: str, url: str, *types: str, description: str = "") -> httpx.Response:
    data: dict[str, object] = {"csrf_token": csrf, "url": url, "description": description}
    if types:
        data["event_types"] = list(types)
    return http.post("/webhooks/", data=data)


def secret_in(page: str) -> str | None:
    found = re.search(r'id="webhook-secret"[^>]* value="(whsec_[^"]+)"', page)
    return found.group(1) if found else None


def test_create_shows_the_secret_once_then_deliveries_and_a_redeliver(hooked: Live) -> None:
    http, customer = panel_customer(hooked)
    page = http.get("/webhooks/").text
    assert 'href="/webhooks/" aria-current="page">Webhooks</a>' in page and "No webhooks yet." in page
    with receiving() as r:
        made = create(http, form_csrf(page), r.url, "server.created", description="ci")
        assert made.status_code == 201, made.text
        assert made.headers["cache-control"] == "no-store"
        secret = secret_in(made.text)
        assert secret and "you will not see it again" in made.text
        [hook] = customer.http.get("/api/v1/webhooks/").json()["results"]
        assert (
            hook["url"] == r.url and hook["event_types"] == ["server.created"] and hook["description"] == "ci"
        )
        listed = http.get("/webhooks/").text
        assert secret not in listed and secret_in(listed) is None and r.url in listed
        customer.create_server(name="panel-hooked")
        (got,) = r.wait_for(1)
        assert got.headers["vpsorg-signature"]
        log_url = f"/webhooks/{hook['id']}/"
        wait(lambda: "status-succeeded" in http.get(log_url).text, "the delivery on the page")
        log = http.get(log_url).text
        [delivery] = customer.http.get(f"/api/v1/webhooks/{hook['id']}/deliveries/").json()["results"]
        row = re.search(rf'<tr id="delivery-{delivery["id"]}">.*?</tr>', log, re.S)
        assert row and '<td class="code">200</td>' in row.group(0) and "server.created" in row.group(0)
        again = http.post(
            f"{log_url}deliveries/{delivery['id']}/redeliver", data={"csrf_token": form_csrf(log)}
        )
        assert again.status_code == 303 and again.headers["location"] == f"{log_url}?done=redelivered"
        assert r.wait_for(2)[1].body == got.body
        assert "queued to be sent again" in http.get(again.headers["location"]).text
    gone = http.post(f"/webhooks/{hook['id']}/delete", data={"csrf_token": form_csrf(log)})
    assert gone.status_code == 303 and gone.headers["location"] == "/webhooks/?done=deleted"
    assert customer.http.get("/api/v1/webhooks/").json()["count"] == 0
    assert http.get(log_url).status_code == 404


def test_refusals_are_in_words_with_the_apis_status(hooked: Live) -> None:
    http, customer = panel_customer(hooked)
    csrf = form_csrf(http.get("/webhooks/").text)
    for url, said in (
        ("https://10.0.0.1/hook", "10.0.0.1 is private"),
        ("http://169.254.169.254/", "cloud metadata"),
        ("ftp://127.0.0.1/", "the scheme must be"),
        ("", "must not be empty"),
    ):
        refused = create(http, csrf, url)
        assert refused.status_code == 400, (url, refused.text)
        assert "The webhook was not created." in refused.text and said in refused.text, url
        assert secret_in(refused.text) is None
    bad_type = create(http, csrf, "http://127.0.0.1:9/", "server.exploded")
    assert bad_type.status_code == 400 and "The webhook was not created." in bad_type.text
    assert customer.http.get("/api/v1/webhooks/").json()["count"] == 0


def test_another_accounts_webhook_is_not_found_and_csrf_is_checked(hooked: Live) -> None:
    owner_http, owner = panel_customer(hooked)
    page = owner_http.get("/webhooks/").text
    assert create(owner_http, form_csrf(page), "http://127.0.0.1:9/hook").status_code == 201
    [theirs] = owner.http.get("/api/v1/webhooks/").json()["results"]
    http, _ = panel_customer(hooked)
    csrf = form_csrf(http.get("/webhooks/").text)
    assert "127.0.0.1:9" not in http.get("/webhooks/").text
    for answer in (
        http.get(f"/webhooks/{theirs['id']}/"),
        http.post(f"/webhooks/{theirs['id']}/delete", data={"csrf_token": csrf}),
        http.post(f"/webhooks/{theirs['id']}/deliveries/1/redeliver", data={"csrf_token": csrf}),
        http.post("/webhooks/x/delete", data={"csrf_token": csrf}),
        http.get("/webhooks/x/"),
    ):
        assert answer.status_code == 404, answer.request.url
    assert create(owner_http, "forged", "http://127.0.0.1:9/other").status_code == 403
    assert owner_http.post(f"/webhooks/{theirs['id']}/delete", data={}).status_code == 403
    assert [w["id"] for w in owner.http.get("/api/v1/webhooks/").json()["results"]] == [theirs["id"]]
