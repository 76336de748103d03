"""Plans, operating systems and locations: what a customer can order."""

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.catalog.models import Location, OperatingSystem, Plan
from vpsorg.catalog.schemas import CatalogIn
from vpsorg.errors import ValidationFailed
from vpsorg.hosts import service as hosts
from vpsorg.ipam import service as ipam


def read_catalog(path: Path | None) -> CatalogIn:
    """Parse a catalog file (YAML or JSON); the packaged default when path is None."""
    if path is None:
        text = resources.files("vpsorg.catalog").joinpath("default.yaml").read_text()
    else:
        text = path.read_text()
    data: Any = json.loads(text) if path is not None and path.suffix == ".json" else yaml.safe_load(text)
    return CatalogIn.model_validate(data)


async def load_catalog(
    session: AsyncSession, *, catalog: CatalogIn, default_hosts: bool = True
) -> dict[str, int]:
    """Insert or update every entry (plans and OS by id, locations by code); with
    `default_hosts`, a location left without a host gets its default one (see
    hosts.ensure_default_hosts)."""
    for plan in catalog.plans:
        await session.merge(Plan(**plan.model_dump()))
    for os_ in catalog.operating_systems:
        await session.merge(OperatingSystem(**os_.model_dump()))
    for loc in catalog.locations:
        existing = await session.scalar(select(Location).where(Location.code == loc.code))
        if existing is None:
            session.add(Location(**loc.model_dump()))
            continue
        before = _pools(existing)
        for key, value in loc.model_dump().items():
            setattr(existing, key, value)
        if _pools(existing) != before:
            await session.flush()
            await ipam.rebuild(session, location=existing)  # counts from the new pools
    await session.flush()
    if default_hosts:
        await hosts.ensure_default_hosts(session)
    return {
        "plans": len(catalog.plans),
        "operating_systems": len(catalog.operating_systems),
        "locations": len(catalog.locations),
    }


def _pools(location: Location) -> tuple[str, ...]:
    return (location.ipv4_pool, location.ipv4_gateway, location.ipv6_pool, location.ipv6_gateway)


async def list_plans(session: AsyncSession) -> list[Plan]:
    return list(await session.scalars(select(Plan).where(Plan.available).order_by(Plan.id)))


async def list_operating_systems(session: AsyncSession) -> list[OperatingSystem]:
    rows = await session.scalars(
        select(OperatingSystem).where(OperatingSystem.available).order_by(OperatingSystem.id)
    )
    return list(rows)


async def list_locations(session: AsyncSession) -> list[Location]:
    return list(await session.scalars(select(Location).where(Location.available).order_by(Location.id)))


async def orderable(
    session: AsyncSession, *, plan_id: int, os_id: int, location: str
) -> tuple[Plan, OperatingSystem, Location]:
    """The plan, OS and location of an order, each checked to exist and be available."""
    # One query when the order is good (a create's common case); one per part to say which
    # part is missing otherwise.
    found = (
        await session.execute(
            select(Plan, OperatingSystem, Location)
            .select_from(Plan)
            .join(OperatingSystem, OperatingSystem.id == os_id)
            .join(Location, Location.code == location)
            .where(Plan.id == plan_id)
        )
    ).first()
    if found is not None and all(part.available for part in found):
        return found[0], found[1], found[2]
    plan = await session.get(Plan, plan_id)
    if plan is None or not plan.available:
        raise ValidationFailed.field("plan_id", f"no plan with id {plan_id}")
    os_ = await session.get(OperatingSystem, os_id)
    if os_ is None or not os_.available:
        raise ValidationFailed.field("os_id", f"no operating system with id {os_id}")
    loc = await session.scalar(select(Location).where(Location.code == location))
    if loc is None or not loc.available:
        raise ValidationFailed.field("location", f"no location with code {location!r}")
    return plan, os_, loc
