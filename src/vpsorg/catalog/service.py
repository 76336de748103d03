"""Plans, operating systems and locations: what a customer can order."""

import json
from collections import namedtuple
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.catalog.models import Location, OperatingSystem, Plan, Price
from vpsorg.catalog.schemas import CatalogIn
from vpsorg.errors import ValidationFailed
from vpsorg.hosts import service as hosts
from vpsorg.ipam import service as ipam


class CatalogError(ValueError):
    """A catalog file that does not hold a catalog, said in words (see describe)."""


def read_catalog(path: Path | None) -> CatalogIn:
    """Parse a catalog file (YAML or JSON); the packaged default when path is None. A file
    that parses but is no catalog raises CatalogError."""
    if path is None:
        text = resources.files("vpsorg.catalog").joinpath("default.yaml").read_text()
    else:
        text = path.read_text()
    data: Any = json.loads(text) if path is not None and path.suffix == ".json" else yaml.safe_load(text)
    try:
        return CatalogIn.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(describe(exc)) from None


MAX_ERRORS_SHOWN = 10


def describe(exc: ValidationError) -> str:
    """Pydantic's errors as an operator reads them: where in the file (`plans[2].vcpus`),
    what is wrong and the value found; no documentation links, no model names. One line."""
    errors = exc.errors(include_url=False)
    said = [_one(e) for e in errors[:MAX_ERRORS_SHOWN]]
    if len(errors) > MAX_ERRORS_SHOWN:
        said.append(f"and {len(errors) - MAX_ERRORS_SHOWN} more")
    return "; ".join(said)


# Messages that name our classes or say too little, in words.
_MESSAGES = {
    "model_type": "must be a mapping",
    "dict_type": "must be a mapping",
    "extra_forbidden": "is not a known field",
    "missing": "is missing",
}


def _one(error: ErrorDetails) -> str:
    where = _path(error["loc"])
    message = _MESSAGES.get(error["type"], error["msg"]).removeprefix("Value error, ")
    message = message.replace("Input should be", "must be")
    value = error.get("input")
    shown = ""
    if error["type"] not in ("missing", "extra_forbidden") and isinstance(value, str | int | float | bool):
        shown = f" (found {value!r})"
    elif error["type"] in ("model_type", "dict_type", "list_type"):
        shown = f" (found {_kind(value)})"
    return f"{where}: {message}{shown}"


def _path(loc: tuple[int | str, ...]) -> str:
    """('plans', 2, 'vcpus') as plans[2].vcpus; the whole file when empty."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the catalog"


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    kinds: dict[type, str] = {dict: "a mapping", list: "a list", str: "text"}
    return kinds.get(type(value), type(value).__name__)


async def load_catalog(
    session: AsyncSession, *, catalog: CatalogIn, default_hosts: bool = True
) -> dict[str, int]:
    """Insert or update every entry (plans and OS by id, locations by code); with
    `default_hosts`, a location this load adds gets its default host (see
    hosts.ensure_default_hosts); one loaded before keeps the hosts it has, or none."""
    for plan in catalog.plans:
        await session.merge(Plan(**plan.model_dump()))
    await _check_slugs(session, catalog)
    for os_ in catalog.operating_systems:
        await session.merge(OperatingSystem(**os_.model_dump()))
    added = []
    for loc in catalog.locations:
        existing = await session.scalar(select(Location).where(Location.code == loc.code))
        if existing is None:
            session.add(Location(**loc.model_dump()))
            added.append(loc.code)
            continue
        before = _pools(existing)
        for key, value in loc.model_dump().items():
            setattr(existing, key, value)
        if _pools(existing) != before:
            await session.flush()
            await ipam.rebuild(session, location=existing)  # counts from the new pools
    if catalog.snapshot_price_gb_month is not None:
        await session.merge(Price(name=SNAPSHOT_GB_MONTH, amount=catalog.snapshot_price_gb_month))
    await session.flush()
    if default_hosts and added:
        await hosts.ensure_default_hosts(session, codes=added)
    return {
        "plans": len(catalog.plans),
        "operating_systems": len(catalog.operating_systems),
        "locations": len(catalog.locations),
    }


# Prices that are not a plan's, and their defaults when the catalog names none.
SNAPSHOT_GB_MONTH = "snapshot_gb_month"  # USD per GB of snapshot (and backup) storage a month
DEFAULT_PRICES = {SNAPSHOT_GB_MONTH: Decimal("0.06")}


async def price(session: AsyncSession, *, name: str) -> Decimal:
    """A catalog price by name: the loaded catalog's, else its default."""
    found = await session.get(Price, name)
    return found.amount if found is not None else DEFAULT_PRICES[name]


async def _check_slugs(session: AsyncSession, catalog: CatalogIn) -> None:
    """Refuse a slug another system keeps (one not in this file); clear those of the file's
    systems first, so that a file may swap or move slugs between them (the unique index
    would otherwise refuse the first of two swapped rows written)."""
    ids = [o.id for o in catalog.operating_systems]
    if not ids:
        return
    held = await session.execute(
        select(OperatingSystem.slug, OperatingSystem.id).where(
            OperatingSystem.slug.in_([o.slug for o in catalog.operating_systems]),
            OperatingSystem.id.not_in(ids),
        )
    )
    taken = [f"{slug} (operating system {os_id})" for slug, os_id in held]
    if taken:
        raise CatalogError(f"operating_systems: slug already taken: {', '.join(sorted(taken))}")
    await session.execute(update(OperatingSystem).where(OperatingSystem.id.in_(ids)).values(slug=None))
    await session.flush()


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


_plans = Plan.__table__.c
_oses = OperatingSystem.__table__.c
_locations = Location.__table__.c
# What an order reads of its plan, OS and location: flat rows (see `orderable`).
PlanRow = namedtuple("PlanRow", "id name vcpus memory storage bandwidth price_monthly price_hourly available")
OsRow = namedtuple("OsRow", "id name slug available")
LocationRow = namedtuple("LocationRow", "id code ipv4_pool ipv4_gateway ipv6_pool ipv6_gateway available")
_PLAN_COLUMNS = [_plans[name] for name in PlanRow._fields]
_OS_COLUMNS = [_oses[name] for name in OsRow._fields]
_LOCATION_COLUMNS = [_locations[name] for name in LocationRow._fields]
_P, _O = len(_PLAN_COLUMNS), len(_PLAN_COLUMNS) + len(_OS_COLUMNS)
_ORDERABLE = (
    select(
        *(c.label(f"plan_{c.key}") for c in _PLAN_COLUMNS),
        *(c.label(f"os_{c.key}") for c in _OS_COLUMNS),
        *(c.label(f"location_{c.key}") for c in _LOCATION_COLUMNS),
    )
    .select_from(
        Plan.__table__.join(OperatingSystem.__table__, _oses.id == bindparam("os_id")).join(
            Location.__table__, _locations.code == bindparam("location")
        )
    )
    .where(_plans.id == bindparam("plan_id"))
)
_PLAN = select(*_PLAN_COLUMNS).where(_plans.id == bindparam("id"))
_OS = select(*_OS_COLUMNS).where(_oses.id == bindparam("id"))
_LOCATION = select(*_LOCATION_COLUMNS).where(_locations.code == bindparam("code"))


def orderable(
    conn: Connection, *, plan_id: int, os_id: int, location: str
) -> tuple[PlanRow, OsRow, LocationRow]:
    """The plan, OS and location of an order, each checked to exist and be available (on a
    create's connection, see vpsorg.servers.service.order_server: Core statements built once)."""
    # One query when the order is good (a create's common case); one per part to say which
    # part is missing otherwise.
    found = conn.execute(_ORDERABLE, {"plan_id": plan_id, "os_id": os_id, "location": location}).first()
    if found is not None:
        plan, os_, loc = PlanRow._make(found[:_P]), OsRow._make(found[_P:_O]), LocationRow._make(found[_O:])
        if plan.available and os_.available and loc.available:
            return plan, os_, loc
    plan_row = conn.execute(_PLAN, {"id": plan_id}).first()
    if plan_row is None or not plan_row.available:
        raise ValidationFailed.field("plan_id", f"no plan with id {plan_id}")
    os_row = conn.execute(_OS, {"id": os_id}).first()
    if os_row is None or not os_row.available:
        raise ValidationFailed.field("os_id", f"no operating system with id {os_id}")
    location_row = conn.execute(_LOCATION, {"code": location}).first()
    if location_row is None or not location_row.available:
        raise ValidationFailed.field("location", f"no location with code {location!r}")
    return PlanRow._make(plan_row), OsRow._make(os_row), LocationRow._make(location_row)
