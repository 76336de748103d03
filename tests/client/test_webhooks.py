"""Webhooks in the SDK (sync and async, kept parallel) and in `vps webhooks`, against an API
server that allows http to loopback (its worker delivers to a receiver started here)."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.test_vps_cli import as_json, clean_env, ok, vps
from tests.conftest import Live, prepare_database, serve_in_thread, test_settings
from tests.webhooks.conftest import FAST
from tests.webhooks.helpers import wait
from tests.webhooks.receiver import receiving
from vpsorg.client import AsyncClient, Backoff, Client, NotFound, ValidationError, Webhook, WebhookDelivery

QUICK = Backoff(initial=0.02, maximum=0.2)
ORDER = {"plan_id": 3, "os_id": 5, "location": "us-west"}


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    settings = test_settings(tmp_path_factory.mktemp("sdk-hooks") / "vpsorg.db", **FAST)
    prepare_database(settings)
    with serve_in_thread(settings) as server:
        yield server


def test_sync_sdk_create_list_get_update_deliveries_redeliver_delete(hooked: Live) -> None:
    api = Client(hooked.url, hooked.account(credit="1000").token, backoff=QUICK, timeout=10)
    with receiving() as r:
        hook = api.webhooks.create(r.url, event_types=["server.created"], description="sdk")
        assert isinstance(hook, Webhook) and hook.secret and hook.secret.startswith("whsec_")
        assert hook.event_types == ["server.created"] and hook.enabled and hook.description == "sdk"
        got = api.webhooks.get(hook.id)
        assert got.secret is None and got.url == r.url
        assert [w.id for w in api.webhooks.list()] == [hook.id]
        api.servers.create(name="hooked-1", **ORDER)  # type: ignore[call-overload]
        r.wait_for(1)
        wait(lambda: [d.status for d in api.webhooks.deliveries(hook.id)] == ["succeeded"], "the log")
        (delivery,) = api.webhooks.deliveries(hook.id)
        assert isinstance(delivery, WebhookDelivery) and delivery.last_status_code == 200
        assert delivery.event_type == "server.created" and delivery.attempts == 1
        again = api.webhooks.redeliver(hook.id, delivery.id)
        assert again.redelivery_of == delivery.id and again.event_id == delivery.event_id
        assert r.wait_for(2)[1].body == r.got[0].body
        changed = api.webhooks.update(hook.id, enabled=False, event_types=["*"])
        assert not changed.enabled and changed.event_types == ["*"] and changed.description == "sdk"
        with pytest.raises(ValidationError):
            api.webhooks.update(hook.id, url="https://169.254.169.254/")
        api.webhooks.delete(hook.id)
        with pytest.raises(NotFound):
            api.webhooks.get(hook.id)


def test_async_sdk(hooked: Live) -> None:
    customer = hooked.account(credit="1000")

    async def main() -> None:
        async with AsyncClient(hooked.url, customer.token, backoff=QUICK, timeout=10) as api:
            hook = await api.webhooks.create("http://127.0.0.1:9/hook", enabled=False)
            assert hook.event_types == ["*"] and not hook.enabled and hook.secret
            assert [w.id async for w in api.webhooks.list()] == [hook.id]
            assert (await api.webhooks.update(hook.id, description="x")).description == "x"
            assert [d async for d in api.webhooks.deliveries(hook.id)] == []
            with pytest.raises(NotFound):
                await api.webhooks.redeliver(hook.id, 2**31 - 1)
            await api.webhooks.delete(hook.id)
            with pytest.raises(NotFound):
                await api.webhooks.delete(hook.id)

    asyncio.run(main())


def test_vps_webhooks_commands(hooked: Live, tmp_path: Path) -> None:
    customer = hooked.account(credit="1000")
    env = clean_env(tmp_path, VPS_URL=hooked.url, VPS_TOKEN=customer.token)
    with receiving() as r:
        made = as_json(vps("-o", "json", "webhooks", "create", r.url, "-e", "server.created", env=env))
        assert made["secret"].startswith("whsec_") and made["event_types"] == ["server.created"]
        shown = vps("webhooks", "create", r.url, "--description", "second", "--disabled", env=env)
        assert "whsec_" in ok(shown) and "not shown again" in shown.stderr
        hid = str(made["id"])
        ids = ok(vps("-q", "webhooks", "list", env=env)).split()
        assert ids[0] == hid and len(ids) == 2
        assert "secret" not in as_json(vps("-o", "json", "webhooks", "get", hid, env=env))
        updated = as_json(vps("-o", "json", "webhooks", "update", hid, "--description", "ci", env=env))
        assert updated["description"] == "ci" and updated["enabled"] is True
        assert vps("webhooks", "update", hid, env=env).returncode == 2  # nothing to change
        customer.create_server(name="cli-hooked")
        r.wait_for(1)
        wait(lambda: "succeeded" in ok(vps("webhooks", "deliveries", hid, env=env)), "the log")
        (delivery_id,) = ok(vps("-q", "webhooks", "deliveries", hid, env=env)).split()
        again = as_json(vps("-o", "json", "webhooks", "redeliver", hid, delivery_id, env=env))
        assert again["redelivery_of"] == int(delivery_id)
        r.wait_for(2)
        bad = vps("webhooks", "create", "https://10.0.0.1/", env=env)
        assert bad.returncode == 1 and "private" in bad.stderr
        ok(vps("webhooks", "delete", "--yes", hid, env=env))
        missing = vps("webhooks", "get", hid, env=env)
        assert missing.returncode == 1 and "not found" in missing.stderr.lower()
