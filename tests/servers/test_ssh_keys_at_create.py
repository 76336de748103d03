"""A create takes several SSH keys: ssh_key_ids beside the contract's ssh_key_id, the union of
both going to the machine (the spec the worker hands the driver), each once, in order."""

import asyncio
import dataclasses
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from tests.client.test_sdk import FAST
from tests.conftest import Customer, Live, new_public_key
from tests.drivers.test_contract import spec
from tests.servers.test_validation import assert_error, assert_field_error, field_names
from vpsorg.client import AsyncClient, Client, ValidationError
from vpsorg.drivers.libvirt.seed import cloud_config
from vpsorg.servers import lifecycle
from vpsorg.servers.models import Server
from vpsorg.servers.schemas import MAX_SSH_KEYS

ORDER = {"name": "keys", "plan_id": 3, "os_id": 5, "location": "us-west"}


def add_key(customer: Customer, name: str) -> tuple[int, str]:
    public_key = new_public_key()
    r = customer.http.post("/api/v1/ssh-keys/", json={"name": name, "public_key": public_key})
    assert r.status_code == 201, r.text
    return int(r.json()["id"]), public_key


def machine_keys(live: Live, server_id: int) -> tuple[tuple[str, ...], int | None]:
    """The keys in the spec the worker gives the driver, and the server's ssh_key_id."""

    async def read(session: Any) -> tuple[tuple[str, ...], int | None]:
        spec = (await lifecycle.vm_specs(session, [server_id]))[server_id]
        first = await session.scalar(select(Server.ssh_key_id).where(Server.id == server_id))
        return spec.ssh_public_keys, first

    result: tuple[tuple[str, ...], int | None] = live.db(read)
    return result


@pytest.fixture
def keyed(customer: Customer) -> tuple[Customer, list[tuple[int, str]]]:
    return customer, [add_key(customer, f"k{i}") for i in range(3)]


def test_ssh_key_id_and_ssh_key_ids_together_give_every_key_once(
    keyed: tuple[Customer, list[tuple[int, str]]], live: Live
) -> None:
    customer, [(k1, p1), (k2, p2), (k3, p3)] = keyed
    server = customer.create_server(**ORDER | {"ssh_key_id": k1, "ssh_key_ids": [k2, k3, k1, k2]})
    assert machine_keys(live, server["id"]) == ((p1, p2, p3), k1)
    assert customer.wait_status(server["id"], "active")["status"] == "active"  # the simulator built it
    # The machine keeps its keys when one is deleted afterwards.
    assert customer.http.delete(f"/api/v1/ssh-keys/{k2}/").status_code == 204
    assert machine_keys(live, server["id"]) == ((p1, p2, p3), k1)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"ssh_key_ids": [2, 0]}, ((2, 0), 2)),  # indexes into the account's keys
        ({"ssh_key_ids": [1]}, ((1,), 1)),
        ({"ssh_key_id": 0}, ((0,), 0)),
        ({"ssh_key_ids": []}, ((), None)),
        ({}, ((), None)),
    ],
)
def test_the_keys_given_in_order(
    keyed: tuple[Customer, list[tuple[int, str]]], live: Live, fields: dict[str, Any], expected: Any
) -> None:
    customer, keys = keyed
    body = {k: ([keys[i][0] for i in v] if isinstance(v, list) else keys[v][0]) for k, v in fields.items()}
    server = customer.create_server(**ORDER | body)
    order, first = expected
    assert machine_keys(live, server["id"]) == (
        tuple(keys[i][1] for i in order),
        None if first is None else keys[first][0],
    )


def test_an_unknown_key_is_refused_naming_its_field_and_id(
    keyed: tuple[Customer, list[tuple[int, str]]], live: Live
) -> None:
    """Another account's key is as unknown as a missing one; a dry run refuses the same."""
    customer, [(k1, _), *_] = keyed
    theirs, _ = add_key(live.account(), "theirs")
    missing = 2**31 - 1
    for body, field, named in (
        ({"ssh_key_id": k1, "ssh_key_ids": [theirs]}, "ssh_key_ids", theirs),
        ({"ssh_key_id": theirs, "ssh_key_ids": [k1]}, "ssh_key_id", theirs),
        ({"ssh_key_ids": [k1, missing]}, "ssh_key_ids", missing),
    ):
        for params in ({}, {"dry_run": "true"}):
            r = customer.http.post("/api/v1/servers/", json=ORDER | body, params=params)
            error = assert_field_error(r, field)
            assert f"no SSH key with id {named}" in error["message"], error
    assert customer.http.get("/api/v1/servers/").json()["count"] == 0


@pytest.mark.parametrize(
    "value",
    [None, "1", [1.5], ["1"], [0], [2**31], [True], 1, {"a": 1}, list(range(1, MAX_SSH_KEYS + 2))],
)
def test_a_malformed_ssh_key_ids_is_refused(customer: Customer, value: Any) -> None:
    r = customer.http.post("/api/v1/servers/", json=ORDER | {"ssh_key_ids": value})
    names = field_names(assert_error(r, 400, "validation_error"))
    assert any(n == "ssh_key_ids" or n.startswith("ssh_key_ids.") for n in names), names  # an item: .N


def test_the_seed_gives_the_guest_every_key() -> None:
    keys = (new_public_key(), new_public_key())
    config = yaml.safe_load(cloud_config(dataclasses.replace(spec(), ssh_public_keys=keys)))
    assert config["ssh_authorized_keys"] == list(keys)


def test_the_sdk_sends_ssh_key_ids_sync_and_async(live: Live) -> None:
    customer = live.account()
    (k1, p1), (k2, p2) = add_key(customer, "a"), add_key(customer, "b")
    api = Client(live.url, customer.token, backoff=FAST, timeout=10)
    server = api.servers.create("sdk", 3, 5, "us-west", ssh_key_id=k1, ssh_key_ids=[k2])
    assert machine_keys(live, server.id) == ((p1, p2), k1)
    with pytest.raises(ValidationError, match="no SSH key with id 2147483647"):
        api.servers.create("sdk", 3, 5, "us-west", ssh_key_ids=[k1, 2**31 - 1])
    assert server.os.slug == "ubuntu-22.04"  # the image's slug, as the API shows it

    async def main() -> int:
        async with AsyncClient(live.url, customer.token, backoff=FAST, timeout=10) as aapi:
            created = await aapi.servers.create("sdk-a", 3, 5, "us-west", ssh_key_ids=[k2, k1])
            return created.id

    assert machine_keys(live, asyncio.run(main())) == ((p2, p1), k2)
