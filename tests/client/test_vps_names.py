"""`vps` takes names where people have them: servers by name (unique in the account), plans
by name, images by slug or name, SSH keys by name; `--ssh-key` repeatable. Real processes
against a live API server."""

import subprocess
from pathlib import Path

import httpx
import pytest
import typer

from tests.client.test_vps_cli import as_json, clean_env, ok, vps
from tests.conftest import Customer, Live, new_public_key, run_db
from vpsorg.client.cli_refs import catalog_id, os_slug
from vpsorg.client.models import OperatingSystem, Plan
from vpsorg.servers.lifecycle import vm_specs


@pytest.fixture
def customer(live: Live) -> Customer:
    return live.account(credit="1000")


@pytest.fixture
def env(live: Live, customer: Customer, tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path, VPS_URL=live.url, VPS_TOKEN=customer.token)


def create(env: dict[str, str], name: str, *options: str) -> subprocess.CompletedProcess[str]:
    return vps("-o", "json", "servers", "create", "--name", name, "--location", "us-west", *options, env=env)


def ubuntu_2204_slug(customer: Customer) -> str:
    """The slug the API gives image 5, or (before images had one) its family-version."""
    image = next(o for o in customer.http.get("/api/v1/os/").json()["results"] if o["id"] == 5)
    return str(image.get("slug") or "ubuntu-22.04")


def test_plans_and_images_by_name_or_slug(env: dict[str, str], customer: Customer) -> None:
    slug = ubuntu_2204_slug(customer)
    by_slug = as_json(create(env, "named", "--plan", "Starter VPS", "--os", slug))
    assert (by_slug["plan"]["id"], by_slug["os"]["id"]) == (3, 5)
    by_name = as_json(create(env, "named-2", "--plan", "basic vps", "--os", "debian 12"))  # any case
    assert (by_name["plan"]["id"], by_name["os"]["id"]) == (4, 3)
    by_id = as_json(create(env, "named-3", "--plan", "1", "--os", "7"))
    assert (by_id["plan"]["id"], by_id["os"]["id"]) == (1, 7)
    no_plan = create(env, "never", "--plan", "Gigantic VPS", "--os", slug)
    assert no_plan.returncode == 2 and no_plan.stdout == ""
    assert (
        no_plan.stderr.strip() == "error: no plan 'Gigantic VPS': give an id or a name from `vps plans list`"
    )
    no_image = create(env, "never", "--plan", "Starter VPS", "--os", "windows-95")
    assert no_image.returncode == 2 and "no image 'windows-95'" in no_image.stderr
    names = [s["name"] for s in customer.http.get("/api/v1/servers/").json()["results"]]
    assert names == ["named", "named-2", "named-3"]  # nothing ordered by the refused ones
    listed = ok(vps("os", "list", env=env))
    assert slug in listed and "Ubuntu 22.04 LTS" in listed


def test_a_catalog_name_two_items_share_is_refused_listing_their_ids(
    capsys: pytest.CaptureFixture[str],
) -> None:
    plans = [Plan.from_api({"id": i, "name": "Same", "vcpus": 1, "memory": 1, "storage": 1}) for i in (4, 9)]
    with pytest.raises(typer.Exit) as caught:
        catalog_id("plan", plans, "same", [lambda row: row.get("name")])
    assert caught.value.exit_code == 2
    assert "2 plans match 'same' (ids 4, 9): give the id" in capsys.readouterr().err
    # A slug is matched before any name: an image named like another's slug does not shadow it.
    images = [
        OperatingSystem.from_api({"id": 1, "name": "debian-12", "family": "x", "version": "1"}),
        OperatingSystem.from_api({"id": 2, "name": "Debian 12", "slug": "debian-12"}),
    ]
    assert catalog_id("image", images, "debian-12", [os_slug, lambda row: row.get("name")]) == 2
    assert os_slug({"family": "ubuntu", "version": "22.04"}) == "ubuntu-22.04"
    assert os_slug({"slug": "ubuntu-jammy", "family": "ubuntu", "version": "22.04"}) == "ubuntu-jammy"


def test_servers_by_name_in_every_command(env: dict[str, str], customer: Customer, live: Live) -> None:
    live.account().create_server(name="web-1")  # another account's web-1 is not ours to find
    sid = as_json(create(env, "web-1", "--plan", "3", "--os", "5", "--wait"))["id"]
    assert as_json(vps("-o", "json", "servers", "get", "web-1", env=env))["id"] == sid
    for verb, status in (("stop", "stopped"), ("start", "active"), ("reboot", "active")):
        action = as_json(vps("-o", "json", "servers", verb, "web-1", "--wait", env=env))
        assert (action["type"], action["status"], action["server_id"]) == (verb, "success", sid)
        assert customer.http.get(f"/api/v1/servers/{sid}/").json()["status"] == status
    actions = as_json(vps("-o", "json", "actions", "list", "--server", "web-1", env=env))
    assert [a["type"] for a in actions] == ["create", "stop", "start", "reboot"]
    renamed = as_json(vps("-o", "json", "servers", "update", "web-1", "--name", "web-one", env=env))
    assert (renamed["id"], renamed["name"]) == (sid, "web-one")

    gone = vps("servers", "get", "web-1", env=env, process=True)
    assert gone.returncode == 1 and gone.stdout == ""
    assert (
        gone.stderr.strip() == "error: no server named 'web-1' in your account (vps servers list shows them)"
    )
    twin = as_json(create(env, "web-one", "--plan", "3", "--os", "5"))["id"]
    both = vps("servers", "stop", "web-one", env=env)
    assert both.returncode == 2
    assert f"2 servers are named 'web-one' (ids {sid}, {twin}): give the id" in both.stderr
    assert [a["type"] for a in customer.http.get(f"/api/v1/servers/{sid}/actions/").json()["results"]][
        -1
    ] == "reboot"
    ok(vps("servers", "delete", str(twin), "--yes", env=env))
    ok(vps("servers", "delete", "web-one", "--yes", env=env))
    assert customer.http.get(f"/api/v1/servers/{sid}/").status_code == 404


def keys_of(live: Live, server_id: int) -> set[str]:
    """The public keys the driver is given for the server (its VM spec)."""
    specs = run_db(live.settings, lambda s: vm_specs(s, [server_id]))
    return set(specs[server_id].ssh_public_keys)


def accepts_several_keys(live: Live) -> bool:
    schema = httpx.get(f"{live.url}/openapi.json", timeout=30).json()["components"]["schemas"]
    return "ssh_key_ids" in schema["ServerCreate"]["properties"]


def test_ssh_keys_by_name_and_repeatable(env: dict[str, str], customer: Customer, live: Live) -> None:
    laptop, desk = new_public_key(), new_public_key()
    ok(vps("ssh-keys", "create", "--name", "laptop", "--public-key", laptop, env=env))
    desk_id = int(ok(vps("-q", "ssh-keys", "create", "--name", "desk", "--public-key", desk, env=env)))
    one = as_json(create(env, "one-key", "--plan", "3", "--os", "5", "--ssh-key", "laptop"))
    assert keys_of(live, one["id"]) == {laptop.strip()}
    same = as_json(
        create(env, "same-key", "--plan", "3", "--os", "5", "--ssh-key", "desk", "--ssh-key", str(desk_id))
    )
    assert keys_of(live, same["id"]) == {desk.strip()}  # one key given twice: sent once
    unknown = create(env, "no-key", "--plan", "3", "--os", "5", "--ssh-key", "phone")
    assert unknown.returncode == 2 and "no SSH key 'phone'" in unknown.stderr

    two = create(env, "two-keys", "--plan", "3", "--os", "5", "--ssh-key", "laptop", "--ssh-key", "desk")
    if accepts_several_keys(live):
        assert keys_of(live, as_json(two)["id"]) == {laptop.strip(), desk.strip()}
    else:  # this API takes one key: it refuses the list in words (nothing silently dropped)
        assert two.returncode == 1 and "ssh_key_ids" in two.stderr and "(validation_error)" in two.stderr
        assert "two-keys" not in ok(vps("servers", "list", env=env))


def test_resolving_needs_the_api_and_says_so_when_it_is_down(tmp_path: Path) -> None:
    env = clean_env(tmp_path, VPS_URL="http://127.0.0.1:9", VPS_TOKEN="vps_t")
    down = vps("servers", "get", "web-1", env=env)
    assert (
        down.returncode == 1 and "cannot reach the API: GET http://127.0.0.1:9/api/v1/servers/" in down.stderr
    )
