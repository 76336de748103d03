"""Labels in the SDK (sync and async) and in `vps`, against a live API server."""

import asyncio
from pathlib import Path

import pytest

from tests.client.test_sdk import FAST, ORDER
from tests.client.test_vps_cli import as_json, clean_env, vps
from tests.conftest import Customer, Live
from vpsorg.client import AsyncClient, Client, ValidationError


def test_sync_create_update_replace_and_select(live: Live) -> None:
    api = Client(live.url, live.account().token, backoff=FAST, timeout=10)
    web = api.servers.create("web", **ORDER, labels={"env": "prod", "tier": "web"})
    assert web.labels == {"env": "prod", "tier": "web"}
    db = api.servers.create("db", **ORDER, labels={"env": "prod"})
    bare = api.servers.create("bare", **ORDER)
    assert bare.labels == {}
    assert [s.name for s in api.servers.list(label_selector="env=prod")] == ["web", "db"]
    assert [s.name for s in api.servers.list(label_selector="env=prod,!tier")] == ["db"]
    assert [s.name for s in api.servers.list(label_selector="env!=prod", page_size=1)] == ["bare"]
    assert api.servers.get(web.id).labels == {"env": "prod", "tier": "web"}

    assert api.servers.update(db.id, labels={"env": "dev"}).labels == {"env": "dev"}
    assert api.servers.update(db.id, name="db-2").labels == {"env": "dev"}  # kept
    assert api.servers.update(db.id, labels={}).labels == {}  # an empty map is given
    kept = api.servers.replace(web.id, name="web", hostname="web.example.com", backups_enabled=False)
    assert kept.labels == {"env": "prod", "tier": "web"}
    replaced = api.servers.replace(
        web.id, name="web", hostname="web.example.com", backups_enabled=False, labels={"a": "b"}
    )
    assert replaced.labels == {"a": "b"}
    with pytest.raises(ValidationError, match="label key 'a b'"):
        api.servers.create("bad", **ORDER, labels={"a b": "c"})
    with pytest.raises(ValidationError, match="whitespace"):
        list(api.servers.list(label_selector="env = prod"))


def test_async_create_update_replace_and_select(live: Live) -> None:
    token = live.account().token

    async def run() -> None:
        async with AsyncClient(live.url, token, backoff=FAST, timeout=10) as api:
            one = await api.servers.create("one", **ORDER, labels={"team": "a"})
            assert one.labels == {"team": "a"}
            two = await api.servers.create("two", **ORDER)
            assert [s.name async for s in api.servers.list(label_selector="team=a")] == ["one"]
            assert [s.name async for s in api.servers.list(label_selector="!team")] == ["two"]
            assert (await api.servers.update(two.id, labels={"team": "b"})).labels == {"team": "b"}
            assert [s.name async for s in api.servers.list(label_selector="team")] == ["one", "two"]
            put = await api.servers.replace(
                one.id, name="one", hostname="one.example.com", backups_enabled=False, labels={}
            )
            assert put.labels == {}
            assert (await api.servers.get(one.id)).labels == {}
            with pytest.raises(ValidationError, match="label_selector"):
                [s async for s in api.servers.list(label_selector="a,,b")]

    asyncio.run(run())


@pytest.fixture
def env(live: Live, tmp_path: Path) -> tuple[Customer, dict[str, str]]:
    customer = live.account(credit="1000")
    return customer, clean_env(tmp_path, VPS_URL=live.url, VPS_TOKEN=customer.token)


def test_vps_create_with_labels_and_list_by_them(env: tuple[Customer, dict[str, str]]) -> None:
    customer, e = env
    order = ("--plan", "3", "--os", "5", "--location", "us-west")
    made = as_json(
        vps(
            "-o",
            "json",
            "servers",
            "create",
            "--name",
            "a",
            *order,
            "--label",
            "env=prod",
            "--label",
            "x=",
            env=e,
        )
    )
    assert made["labels"] == {"env": "prod", "x": ""}
    customer.create_server(name="b", labels={"env": "prod", "tier": "db"})
    customer.create_server(name="c")
    listed = as_json(vps("-o", "json", "servers", "list", "--label", "env=prod", env=e))
    assert [s["name"] for s in listed] == ["a", "b"]
    listed = as_json(vps("-o", "json", "servers", "list", "--label", "env=prod", "--label", "!tier", env=e))
    assert [s["name"] for s in listed] == ["a"]
    table = vps("servers", "get", str(made["id"]), env=e)
    assert table.returncode == 0 and "env=prod,x=" in table.stdout, table


@pytest.mark.parametrize("label", ["env", "=prod"])
def test_vps_refuses_a_label_without_key_and_value(env: tuple[Customer, dict[str, str]], label: str) -> None:
    customer, e = env
    order = ("--plan", "3", "--os", "5", "--location", "us-west")
    result = vps("servers", "create", "--name", "a", *order, "--label", label, env=e)
    assert result.returncode == 2, result
    assert "key=value" in result.stderr
    assert customer.http.get("/api/v1/servers/").json()["count"] == 0


def test_vps_reports_a_bad_selector_in_words(env: tuple[Customer, dict[str, str]]) -> None:
    _, e = env
    result = vps("servers", "list", "--label", "env in (a)", env=e)
    assert result.returncode == 1, result
    assert "whitespace" in result.stderr
