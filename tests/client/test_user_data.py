"""User data in the SDK (sync and async) and in `vps servers create --user-data-file`,
against a live API server: it reaches the server's row, and no answer shows it."""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.client.test_sdk import FAST, ORDER
from tests.client.test_vps_cli import as_json, clean_env, vps
from tests.conftest import Live
from vpsorg.client import AsyncClient, Client, ValidationError
from vpsorg.servers.models import Server

CONFIG = "#cloud-config\nruncmd:\n  - echo hé > /root/sdk\n"


def kept(live: Live, server_id: int) -> str | None:
    return live.db(lambda s: s.scalar(select(Server.user_data).where(Server.id == server_id)))


def test_sync_create_with_user_data_and_a_dry_run(live: Live) -> None:
    api = Client(live.url, live.account().token, backoff=FAST, timeout=10)
    server = api.servers.create("web", **ORDER, user_data=CONFIG)
    assert kept(live, server.id) == CONFIG
    assert not hasattr(server, "user_data")
    assert kept(live, api.servers.create("bare", **ORDER).id) is None
    assert api.servers.create("dry", **ORDER, user_data=CONFIG, dry_run=True).monthly_price > 0
    with pytest.raises(ValidationError, match="64 KiB"):
        api.servers.create("big", **ORDER, user_data="#" * (64 * 1024 + 1))
    with pytest.raises(ValidationError, match="64 KiB"):
        api.servers.create("big", **ORDER, user_data="#" * (64 * 1024 + 1), dry_run=True)


def test_async_create_with_user_data(live: Live) -> None:
    token = live.account().token

    async def run() -> int:
        async with AsyncClient(live.url, token, backoff=FAST, timeout=10) as api:
            with pytest.raises(ValidationError, match="64 KiB"):
                await api.servers.create("big", **ORDER, user_data="é" * (32 * 1024 + 1))
            return (await api.servers.create("one", **ORDER, user_data=CONFIG)).id

    assert kept(live, asyncio.run(run())) == CONFIG


def test_vps_create_with_a_user_data_file_or_stdin(live: Live, tmp_path: Path) -> None:
    customer = live.account(credit="1000")
    e = clean_env(tmp_path, VPS_URL=live.url, VPS_TOKEN=customer.token)
    order = ("--plan", "3", "--os", "5", "--location", "us-west")
    path = tmp_path / "cloud.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    made = as_json(
        vps("-o", "json", "servers", "create", "--name", "a", *order, "--user-data-file", str(path), env=e)
    )
    assert "user_data" not in made and "/root/sdk" not in str(made)
    assert kept(live, made["id"]) == CONFIG
    piped = as_json(
        vps(
            "-o",
            "json",
            "servers",
            "create",
            "--name",
            "b",
            *order,
            "--user-data-file",
            "-",
            env=e,
            stdin=CONFIG,
        )
    )
    assert kept(live, piped["id"]) == CONFIG
    missing = vps(
        "servers", "create", "--name", "c", *order, "--user-data-file", str(tmp_path / "nope"), env=e
    )
    assert missing.returncode == 2 and "cannot read" in missing.stderr, missing
    assert customer.http.get("/api/v1/servers/").json()["count"] == 2
