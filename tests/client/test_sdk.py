"""The SDK against the real app: over HTTP (a live uvicorn server) and in-process (the
app's own transport, sync and async)."""

import asyncio
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Live, new_public_key, prepare_database, run_db, test_settings
from vpsorg.accounts import service as accounts
from vpsorg.app import create_app
from vpsorg.client import (
    ActionFailed,
    AsyncClient,
    Backoff,
    Client,
    Forbidden,
    InvalidState,
    NotFound,
    PaymentRequired,
    Server,
    Unauthorized,
    ValidationError,
)
from vpsorg.drivers.simulator import inject_fault

FAST = Backoff(initial=0.02, maximum=0.2)
ORDER = {"plan_id": 3, "os_id": 5, "location": "us-west"}


@pytest.fixture
def vps(live: Live) -> Client:
    customer = live.account(credit="1000")
    return Client(live.url, customer.token, backoff=FAST, timeout=10)


def test_create_wait_list_across_pages_update_and_delete(vps: Client) -> None:
    server = vps.servers.create("sdk-1", **ORDER, hostname="sdk-1.example.com", wait=True)
    assert isinstance(server, Server) and server.status == "active" and server.ip_address
    assert server.plan.id == 3 and server.resource_usage is not None and server.backups_enabled is False
    others = [vps.servers.create(f"sdk-{i}", **ORDER) for i in range(2, 6)]
    assert all(s.status == "provisioning" and s.action is not None for s in others)
    listed = list(vps.servers.list(page_size=2))  # three pages of two, fetched as used
    assert [s.id for s in listed] == [server.id] + [s.id for s in others]
    for s in others:
        assert s.action is not None
        vps.actions.wait(s.action.id, timeout=30)
    assert [s.id for s in vps.servers.list(status="active", page_size=1)] == [s.id for s in listed]
    renamed = server.update(name="sdk-one", backups_enabled=True)
    assert (
        renamed.name == "sdk-one"
        and renamed.backups_enabled is True
        and renamed.hostname == "sdk-1.example.com"
    )
    replaced = vps.servers.replace(
        server.id, name="sdk-uno", hostname="uno.example.com", backups_enabled=False
    )
    assert (replaced.name, replaced.hostname, replaced.backups_enabled) == (
        "sdk-uno",
        "uno.example.com",
        False,
    )
    for s in others:
        s.delete()
    assert [s.id for s in vps.servers.list()] == [server.id]
    with pytest.raises(NotFound) as caught:
        vps.servers.get(others[0].id)
    assert caught.value.status == 404 and caught.value.code == "not_found"


def test_power_actions_wait_and_the_action_log(vps: Client) -> None:
    server = vps.servers.create("power", **ORDER, wait=True)
    stop = server.stop()
    assert stop.type == "stop" and stop.status in ("queued", "running", "success")
    done = stop.wait(timeout=30)
    assert done.status == "success" and done.finished_at is not None
    assert vps.servers.get(server.id).status == "stopped"
    started = vps.servers.start(server.id, wait=True)
    assert started.status == "success"
    polled: list[str] = []
    server.reboot().wait(timeout=30, on_poll=lambda a: polled.append(a.status))
    assert polled and polled[-1] == "success"
    assert [a.type for a in server.actions()] == ["create", "stop", "start", "reboot"]
    assert vps.actions.get(done.id).type == "stop"
    with pytest.raises(InvalidState) as caught:
        server.start()
    assert "active" in caught.value.message and caught.value.details["status"] == "active"


def test_a_failed_action_raises_action_failed(vps: Client, live: Live) -> None:
    server = vps.servers.create("doomed", **ORDER, wait=True)
    run_db(live.settings, lambda s: inject_fault(s, op="reboot", server_id=server.id, message="disk on fire"))
    with pytest.raises(ActionFailed) as caught:
        server.reboot(wait=True, timeout=30)
    assert caught.value.action.status == "error" and "disk on fire" in (caught.value.action.error or "")


def test_errors_map_to_the_exception_tree(vps: Client, live: Live) -> None:
    with pytest.raises(ValidationError) as bad:
        vps.servers.create("x y", **ORDER)
    assert bad.value.status == 400 and bad.value.details["fields"][0]["name"] == "name"
    assert bad.value.request_id is not None and len(bad.value.request_id) == 32  # X-Request-ID
    echoed = httpx.get(f"{live.url}/api/v1/plans/", headers={"X-Request-ID": "support-case-17"})
    assert echoed.headers["x-request-id"] == "support-case-17"
    odd = httpx.get(f"{live.url}/api/v1/plans/", headers={"X-Request-ID": "x\ty"})
    assert odd.headers["x-request-id"] != "x\ty" and len(odd.headers["x-request-id"]) == 32
    poor = live.account(credit="1.00")
    with pytest.raises(PaymentRequired) as broke:
        Client(live.url, poor.token).servers.create("big", plan_id=5, os_id=5, location="us-west")
    assert broke.value.details["required"] == "168.00"
    with pytest.raises(Unauthorized):
        Client(live.url, "vps_wrong").servers.get(1)
    reader = Client(live.url, live.token(poor.account_id, "read"))
    with pytest.raises(Forbidden):
        reader.servers.create("r", **ORDER)
    assert isinstance(reader.account.get().balance, Decimal)


def test_catalog_keys_account_and_ledger(vps: Client) -> None:
    plans = vps.plans.list()
    assert {p.id for p in plans} >= {1, 3} and all(isinstance(p.price_monthly, Decimal) for p in plans)
    assert "us-west" in {loc.code for loc in vps.locations.list()}
    assert any(o.id == 5 for o in vps.os.list())
    key = vps.ssh_keys.create("laptop", new_public_key())
    assert key.fingerprint.startswith("SHA256:") and [k.id for k in vps.ssh_keys.list()] == [key.id]
    assert vps.ssh_keys.get(key.id).name == "laptop"
    vps.ssh_keys.delete(key.id)
    assert list(vps.ssh_keys.list()) == []
    account = vps.account.get()
    assert account.balance == Decimal("1000.00") and account.currency == "USD"
    entries = list(vps.account.ledger())
    assert [(e.kind, e.amount) for e in entries] == [("top_up", Decimal("1000.00"))]


def test_in_process_transports_sync_and_async(tmp_path: Path) -> None:
    """`http=`: the app's own transport, no network at all."""
    settings = test_settings(tmp_path / "inproc.db")
    prepare_database(settings)

    async def make(session):  # type: ignore[no-untyped-def]
        account = await accounts.create_account(session, email="in@example.com", credit=Decimal("100"))
        return await accounts.create_token(session, account_id=account.id)

    token = run_db(settings, make)
    with TestClient(create_app(settings, run_worker=True)) as http:
        vps = Client("http://vps.test", token, http=http, backoff=FAST)
        server = vps.servers.create("inproc", **ORDER, wait=True)
        assert server.status == "active"

    async def run() -> None:
        app = create_app(settings, run_worker=True)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport) as http:
                vps = AsyncClient("http://vps.test", token, http=http, backoff=FAST)
                again = await vps.servers.get(server.id)
                assert again.name == "inproc"
                action = await (await again.stop()).wait(timeout=30)
                assert action.status == "success"
                names = [s.name async for s in vps.servers.list(page_size=1)]
                assert names == ["inproc"]
                created = await vps.servers.create("async", **ORDER, wait=True)
                assert created.status == "active"
                assert [a.type async for a in created.actions()] == ["create"]
                with pytest.raises(NotFound):
                    await vps.servers.get(2147483647)

    asyncio.run(run())


def test_the_admin_api(live: Live) -> None:
    operator = live.account()
    admin = Client(live.url, live.token(operator.account_id, "admin"), backoff=FAST)
    customer = live.account(credit="50.00")
    mine = Client(live.url, customer.token, backoff=FAST)
    assert admin.admin.account(customer.account_id).balance == Decimal("50.00")
    assert customer.account_id in {a.id for a in admin.admin.accounts(page_size=5)}
    entry = admin.admin.credit(customer.account_id, Decimal("2.5"), "promo")
    assert (entry.kind, entry.amount, entry.balance_after) == ("top_up", Decimal("2.50"), Decimal("52.50"))
    assert [e.amount for e in admin.admin.ledger(customer.account_id)] == [Decimal("2.50"), Decimal("50.00")]
    with pytest.raises(ValidationError):
        admin.admin.credit(customer.account_id, "0.001", "too fine")
    server = mine.servers.create("adm", **ORDER, wait=True)
    suspended = admin.admin.suspend(server.id, "abuse", wait=True, timeout=30)
    assert suspended is not None and (suspended.type, suspended.status) == ("suspend", "success")
    assert server.refresh().status == "suspended"
    assert admin.admin.suspend(server.id) is None  # already suspended
    with pytest.raises(Forbidden):
        mine.admin.suspend(server.id)
    lifted = admin.admin.unsuspend(server.id)
    assert (lifted.type, lifted.server_id) == ("start", server.id)
    mine.actions.wait(lifted.id, timeout=30)
    assert server.refresh().status == "active"


class LoseFirstAnswer(httpx.BaseTransport):
    """Real HTTP to the live server, but the first answer to a POST is lost on the way back
    (the server acted; the client sees a cut connection)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.lost = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "POST" and not self.lost:
            response.read()
            self.lost += 1
            raise httpx.ReadError("connection reset by peer", request=request)
        return response


def test_a_create_whose_answer_is_lost_is_retried_and_makes_one_server(vps: Client, live: Live) -> None:
    customer = live.account()
    transport = LoseFirstAnswer()
    flaky = Client(live.url, customer.token, http=httpx.Client(transport=transport), backoff=FAST)
    server = flaky.servers.create("once", **ORDER, wait=True)
    assert transport.lost == 1 and server.status == "active"
    assert [s.id for s in flaky.servers.list()] == [server.id]


def test_tokens_list_create_and_delete_sync_and_async(live: Live) -> None:
    customer = live.account()
    vps = Client(live.url, customer.token, backoff=FAST, timeout=10)
    made = vps.tokens.create("ci", scope="read", expires_in_days=7)
    assert made.token and made.token.startswith("vps_") and made.scope == "read"
    assert made.expires_at is not None and (made.expires_at - made.created_at).days == 7
    listed = list(vps.tokens.list(page_size=1))
    assert [t.name for t in listed] == ["token", "ci"] and all(t.token is None for t in listed)
    with pytest.raises(Forbidden):
        vps.tokens.create("root", scope="admin")
    with pytest.raises(ValidationError):
        vps.tokens.create("", expires_in_days=1)

    async def run() -> None:
        async with AsyncClient(live.url, made.token or "", backoff=FAST, timeout=10) as reader:
            assert [t.id async for t in reader.tokens.list()] == [t.id for t in listed]
            with pytest.raises(Forbidden):
                await reader.tokens.create("more")
        async with AsyncClient(live.url, customer.token, backoff=FAST, timeout=10) as writer:
            again = await writer.tokens.create("async", expires_in_days=None)
            assert again.scope == "write" and again.expires_at is None
            await writer.tokens.delete(again.id)
            with pytest.raises(NotFound):
                await writer.tokens.delete(again.id)

    asyncio.run(run())
    vps.tokens.delete(made.id)
    with pytest.raises(Unauthorized):
        Client(live.url, made.token or "", backoff=FAST, timeout=10).account.get()
    assert [t.name for t in vps.tokens.list()] == ["token"]
