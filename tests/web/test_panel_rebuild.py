"""Rebuild on a server's page over real HTTP: the form (images, the account's keys with the
server's own ticked), the rebuild through the API's service, the typed name checked on the
server, refusals in words with the API's status, another account's server, CSRF."""

import re
import time

import httpx

from tests.conftest import Customer, Live, new_public_key
from tests.web.panel import form_csrf
from tests.web.test_servers_pages import panel_customer, set_status, wait_active_on_page

DEBIAN_12 = 3


def add_key(customer: Customer, name: str) -> int:
    r = customer.http.post("/api/v1/ssh-keys/", json={"name": name, "public_key": new_public_key()})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def ticked(page: str) -> list[int]:
    """The key ids the rebuild form has ticked."""
    boxes = re.findall(
        r'<input type="checkbox" id="rebuild-key-(\d+)" name="ssh_key_ids" value="\d+"( checked)?>', page
    )
    return [int(key_id) for key_id, checked in boxes if checked]


def rebuild(http: httpx.Client, url: str, csrf: str, **fields: object) -> httpx.Response:
    return http.post(url + "rebuild", data={"csrf_token": csrf, **fields})


def test_the_form_offers_the_images_and_ticks_the_servers_own_keys(live: Live) -> None:
    http, customer = panel_customer(live)
    mine = add_key(customer, "laptop")
    other = add_key(customer, "desktop")
    server = customer.active_server(name="rebuilt", ssh_key_id=mine)
    page = http.get(f"/servers/{server['id']}/").text
    assert '<h2 id="rebuild-heading">Rebuild</h2>' in page
    assert '<option value="os:5" selected>Ubuntu 22.04 LTS</option>' in page  # the server's image
    assert '<option value="os:3">Debian 12</option>' in page
    assert ticked(page) == [mine] and f'id="rebuild-key-{other}"' in page
    assert 'data-confirm-match="rebuilt" data-confirm-for="rebuild-button"' in page


def test_a_rebuild_installs_the_chosen_image_and_keys(live: Live) -> None:
    http, customer = panel_customer(live)
    first = add_key(customer, "laptop")
    second = add_key(customer, "desktop")
    server = customer.active_server(name="fresh", ssh_key_id=first)
    url = f"/servers/{server['id']}/"
    csrf = form_csrf(http.get(url).text)
    done = rebuild(http, url, csrf, confirm_name="fresh", source=f"os:{DEBIAN_12}", ssh_key_ids=[str(second)])
    assert done.status_code == 303 and done.headers["location"] == url
    assert customer.http.get(f"/api/v1{url}").json()["os"]["id"] == DEBIAN_12
    page = wait_active_on_page(http, server["id"])
    log = re.search(r'<section id="actions".*?</section>', page, re.S)
    assert log and "rebuild" in log.group(0) and "reinstall Debian 12" in log.group(0)
    page = http.get(url).text
    assert ticked(page) == [second]  # the keys it has now are the next rebuild's default
    assert '<option value="os:3" selected>Debian 12</option>' in page
    # No box ticked: no keys installed (as the API's []).
    again = rebuild(http, url, csrf, confirm_name="fresh", source=f"os:{DEBIAN_12}")
    assert again.status_code == 303
    wait_active_on_page(http, server["id"])
    assert ticked(http.get(url).text) == []


def test_a_rebuild_needs_the_servers_name_and_refusals_are_in_words(live: Live) -> None:
    http, customer = panel_customer(live)
    server = customer.active_server(name="careful")
    url = f"/servers/{server['id']}/"
    csrf = form_csrf(http.get(url).text)
    wrong = rebuild(http, url, csrf, confirm_name="carefu", source=f"os:{DEBIAN_12}")
    assert wrong.status_code == 400
    assert "The server was not rebuilt. Type the server&#39;s name, careful, to rebuild it." in wrong.text
    assert 'value="carefu"' in wrong.text and '<option value="os:3" selected>Debian 12</option>' in wrong.text
    no_os = rebuild(http, url, csrf, confirm_name="careful", source="os:999")
    assert no_os.status_code == 400 and "no operating system with id 999" in no_os.text
    assert 'id="rebuild-os-error"' in no_os.text
    bad = rebuild(http, url, csrf, confirm_name="careful", source="os:x")
    assert bad.status_code == 400 and "must be a whole number" in bad.text
    _, other = panel_customer(live)
    theirs = add_key(other, "theirs")
    foreign = rebuild(http, url, csrf, confirm_name="careful", source="os:3", ssh_key_ids=[str(theirs)])
    assert foreign.status_code == 400 and f"no SSH key with id {theirs}" in foreign.text
    set_status(live, server["id"], "rebooting")
    busy = rebuild(http, url, csrf, confirm_name="careful", source=f"os:{DEBIAN_12}")
    assert busy.status_code == 400 and "Cannot rebuild a server that is rebooting" in busy.text
    assert "A server is rebuilt while it is active or stopped; this one is rebooting." in busy.text
    set_status(live, server["id"], "active")
    after = customer.http.get(f"/api/v1{url}").json()
    assert (after["os"]["id"], after["status"]) == (5, "active")  # nothing of the refusals stuck
    actions = customer.http.get(f"/api/v1{url}actions/").json()["results"]
    assert [a["type"] for a in actions] == ["create"]


def test_another_accounts_server_is_not_found_and_a_form_without_the_csrf_token_is_refused(
    live: Live,
) -> None:
    owner_http, owner = panel_customer(live)
    server = owner.active_server(name="private")
    url = f"/servers/{server['id']}/"
    http, _ = panel_customer(live)
    csrf = form_csrf(http.get("/servers/").text)
    assert rebuild(http, url, csrf, confirm_name="private", source=f"os:{DEBIAN_12}").status_code == 404
    forged = owner_http.post(url + "rebuild", data={"confirm_name": "private", "os_id": "3"})
    assert forged.status_code == 403 and "<html" in forged.text
    wrong = rebuild(owner_http, url, "forged", confirm_name="private", source=f"os:{DEBIAN_12}")
    assert wrong.status_code == 403
    after = owner.http.get(f"/api/v1{url}").json()
    assert (after["os"]["id"], after["status"]) == (5, "active")


def test_a_snapshot_is_restored_from_the_rebuild_form(live: Live) -> None:
    http, customer = panel_customer(live)
    server = customer.active_server(name="restored")
    url = f"/servers/{server['id']}/"
    csrf = form_csrf(http.get(url).text)
    assert http.post(url + "snapshots", data={"csrf_token": csrf, "name": "golden"}).status_code == 303
    [snap] = customer.http.get("/api/v1/snapshots/").json()["results"]
    deadline = time.monotonic() + 20
    while customer.http.get(f"/api/v1/snapshots/{snap['id']}/").json()["status"] != "available":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    page = http.get(url).text
    assert '<optgroup label="Your snapshots (restore)">' in page
    assert re.search(rf'<option value="snapshot:{snap["id"]}">golden \(snapshot, \d+ GB, ', page)
    done = rebuild(http, url, csrf, confirm_name="restored", source=f"snapshot:{snap['id']}")
    assert done.status_code == 303
    page = wait_active_on_page(http, server["id"])
    log = re.search(r'<section id="actions".*?</section>', page, re.S)
    assert log and f"restore snapshot {snap['id']}" in log.group(0)
    # Another account's snapshot: not found, in words, and nothing rebuilt.
    _, other = panel_customer(live)
    theirs = other.active_server(name="theirs")
    r = other.http.post(f"/api/v1/servers/{theirs['id']}/snapshots/", json={"name": "theirs"})
    assert r.status_code == 202
    foreign = rebuild(
        http, url, csrf, confirm_name="restored", source=f"snapshot:{r.json()['snapshot']['id']}"
    )
    assert foreign.status_code == 404 and "Snapshot " in foreign.text and "not found" in foreign.text
    actions = customer.http.get(f"/api/v1{url}actions/").json()["results"]
    assert [a["type"] for a in actions] == ["create", "snapshot", "rebuild"]
