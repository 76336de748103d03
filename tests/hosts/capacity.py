"""Helpers for the placement and worker-per-host tests: hosts added as an operator would
(hosts.service), accounts allowed many servers, and each host's counters beside the sums of
its servers' plans."""

import math
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update

from tests.conftest import run_db
from vpsorg.accounts import service as accounts
from vpsorg.accounts.models import Account
from vpsorg.catalog.models import Plan
from vpsorg.config import Settings
from vpsorg.hosts import service as hosts
from vpsorg.hosts.models import Host
from vpsorg.servers.models import Server

PLAN_ID = 3  # Starter VPS: 1 vCPU, 1024 MiB, 25 GB


def add_hosts(settings: Settings, location: str, specs: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Simulator hosts by name (NewHost fields beyond name, location and driver); their ids."""

    async def add(session: Any) -> dict[str, int]:
        made = {}
        for name, spec in specs.items():
            new = hosts.NewHost(name=name, location=location, driver="simulator", **spec)
            made[name] = (await hosts.add_host(session, new)).id
        return made

    return dict(run_db(settings, add))


def fits(plan: Plan, host: dict[str, Any]) -> int:
    """How many servers of `plan` an empty host takes under its overcommit ratios."""
    room = [
        (host["vcpus"] * host.get("cpu_overcommit", 4.0), plan.vcpus),
        (host["memory_mib"] * host.get("memory_overcommit", 1.0), plan.memory),
        (host["disk_gb"] * host.get("disk_overcommit", 1.0), plan.storage),
    ]
    return min(math.floor(total / need) for total, need in room)


def plan(settings: Settings, plan_id: int = PLAN_ID) -> Plan:
    return run_db(settings, lambda s: s.get(Plan, plan_id))  # type: ignore[no-any-return]


def account_token(settings: Settings, server_limit: int = 1000, credit: str = "100000") -> tuple[int, str]:
    """A new account allowed `server_limit` servers, with credit for them, and its token."""

    async def make(session: Any) -> tuple[int, str]:
        n = await session.scalar(select(func.count()).select_from(Account))
        account = await accounts.create_account(
            session, email=f"fleet{n}@example.com", credit=Decimal(credit)
        )
        await session.execute(
            update(Account).where(Account.id == account.id).values(server_limit=server_limit)
        )
        return account.id, await accounts.create_token(session, account_id=account.id)

    account_id, token = run_db(settings, make)
    return int(account_id), str(token)


def usage(
    settings: Settings,
) -> tuple[dict[int, tuple[int, int, int, int]], dict[int, tuple[int, int, int, int]]]:
    """Per host id: its counters (vCPUs, MiB, GB, servers), and the sums of the plans of the
    servers whose host_id it is."""

    async def read(session: Any) -> Any:
        counters = {
            h.id: (h.used_vcpus, h.used_memory_mib, h.used_disk_gb, h.servers)
            for h in await session.scalars(select(Host))
        }
        rows = await session.execute(
            select(
                Server.host_id,
                func.sum(Plan.vcpus),
                func.sum(Plan.memory),
                func.sum(Plan.storage),
                func.count(),
            )
            .join(Plan, Plan.id == Server.plan_id)
            .where(Server.host_id.is_not(None))
            .group_by(Server.host_id)
        )
        sums = dict.fromkeys(counters, (0, 0, 0, 0))
        sums |= {host_id: (int(v), int(m), int(d), int(n)) for host_id, v, m, d, n in rows}
        return counters, sums

    counters, sums = run_db(settings, read)
    return counters, sums


def host_of(settings: Settings, server_ids: list[int]) -> dict[int, int | None]:
    async def read(session: Any) -> dict[int, int | None]:
        rows = await session.execute(select(Server.id, Server.host_id).where(Server.id.in_(server_ids)))
        return {sid: host_id for sid, host_id in rows}

    return dict(run_db(settings, read))
