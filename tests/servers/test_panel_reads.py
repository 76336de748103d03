"""What the services read for the panel: servers searched by name, a server's own prices, and
its actions newest first (the API's answers unchanged)."""

from decimal import Decimal
from typing import Any

from tests.conftest import Customer, Live
from vpsorg.actions import service as actions
from vpsorg.pagination import Cursor, KeysetParams, PageParams
from vpsorg.servers import service as servers
from vpsorg.servers.states import ServerStatus


def search(live: Live, account_id: int, name: str | None, **kwargs: Any) -> tuple[int, list[str]]:
    page = kwargs.pop("page", KeysetParams(page=1, page_size=50))
    filters = {"status": None, "location": None} | kwargs

    async def listed(session: Any) -> tuple[int, list[dict[str, Any]]]:
        return await servers.list_servers(session, account_id=account_id, page=page, name=name, **filters)

    count, rows = live.db(listed)
    return count, [r["name"] for r in rows]


def test_a_name_search_finds_the_text_anywhere_in_any_case(customer: Customer) -> None:
    live = customer.live
    for name in ("Web-1", "api-web", "db-1", "a1", "b2"):
        customer.create_server(name=name, location="us-east" if name.startswith("db") else "us-west")
    other = live.account()
    other.create_server(name="web-other")
    assert search(live, customer.account_id, "WEB") == (2, ["Web-1", "api-web"])
    assert search(live, customer.account_id, "-1") == (2, ["Web-1", "db-1"])
    assert search(live, customer.account_id, "nothing") == (0, [])
    assert search(live, customer.account_id, None)[0] == 5 and search(live, customer.account_id, "")[0] == 5
    # LIKE's wildcards are searched for as text: no name holds them (names cannot)
    assert search(live, customer.account_id, "%") == (0, []) and search(live, customer.account_id, "_") == (
        0,
        [],
    )
    assert search(live, customer.account_id, "1", location="us-east") == (1, ["db-1"])
    provisioning = search(live, customer.account_id, "web", status=ServerStatus.PROVISIONING)
    active = search(live, customer.account_id, "web", status=ServerStatus.ACTIVE)
    assert provisioning[0] + active[0] == 2


def test_a_name_search_pages_by_cursor(customer: Customer) -> None:
    live = customer.live
    made = [customer.create_server(name=f"n{i}")["id"] for i in range(5)]
    customer.create_server(name="other")
    count, first = search(live, customer.account_id, "n", page=KeysetParams(page=1, page_size=2))
    assert count == 5 and first == ["n0", "n1", "n2"]  # the page and one more: another follows
    after = KeysetParams(page=1, page_size=2, cursor=Cursor(id=made[1]))
    assert search(live, customer.account_id, "n", page=after) == (5, ["n2", "n3", "n4"])


def test_the_detail_with_prices_adds_the_servers_own_prices(customer: Customer) -> None:
    created = customer.create_server(plan_id=3)

    async def both(session: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        ids = {"account_id": customer.account_id, "server_id": created["id"]}
        return await servers.get_detail(session, **ids), await servers.get_detail(
            session, **ids, with_prices=True
        )

    plain, priced = customer.live.db(both)
    assert "price_monthly" not in plain
    assert (priced["price_monthly"], priced["price_hourly"]) == (Decimal("6.00"), Decimal("0.0089"))
    assert {k: v for k, v in priced.items() if not k.startswith("price_")} == plain
    api = customer.http.get(f"/api/v1/servers/{created['id']}/").json()
    assert not any(k.startswith("price") for k in api)


def test_a_servers_actions_newest_first(customer: Customer) -> None:
    server = customer.active_server()
    for kind in ("stop", "start"):
        action = customer.http.post(f"/api/v1/servers/{server['id']}/{kind}/").json()["action"]
        customer.wait_action(action["id"])

    async def listed(session: Any, newest: bool) -> tuple[int, list[str]]:
        count, rows = await actions.list_for_server(
            session, server_id=server["id"], page=PageParams(page=1, page_size=2), newest_first=newest
        )
        return count, [a.type for a in rows]

    assert customer.live.db(lambda s: listed(s, True)) == (3, ["start", "stop"])
    assert customer.live.db(lambda s: listed(s, False)) == (3, ["create", "stop"])
