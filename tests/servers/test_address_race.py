"""An address taken between our read and our insert: the unique constraint refuses it, only
the insert is rolled back, and the create picks the next free address."""

from typing import Any

import pytest

from tests.conftest import Customer, Live
from vpsorg.ipam import service as ipam
from vpsorg.servers import service as servers
from vpsorg.servers.schemas import ServerCreate


def test_a_lost_address_race_is_retried(
    customer: Customer, live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = customer.create_server(name="first")
    taken = live.db(lambda s: s.get(servers.Server, first["id"]))
    real_take = ipam.take
    calls: list[tuple[str, str]] = []

    def stale_then_real(conn: Any, *, location: Any) -> tuple[str, str]:
        # The first answer is what a concurrent transaction has just taken.
        picked = (taken.ipv4_address, taken.ipv6_address) if not calls else real_take(conn, location=location)
        calls.append(picked)
        return picked

    monkeypatch.setattr(ipam, "take", stale_then_real)

    async def create(session: Any) -> tuple[str | None, str | None]:
        data = ServerCreate.model_validate(
            {"name": "second", "plan_id": 1, "os_id": 5, "location": "us-west"}
        )
        server, _ = await servers.create_server(session, account_id=customer.account_id, data=data)
        return server.ipv4_address, server.ipv6_address

    v4, v6 = live.db(create)
    assert len(calls) == 2 and calls[0] == (taken.ipv4_address, taken.ipv6_address)
    assert (v4, v6) == calls[1] and v4 != taken.ipv4_address
