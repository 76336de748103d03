from fastapi import APIRouter

from vpsorg import inputs
from vpsorg.catalog import service as catalog
from vpsorg.catalog.schemas import LocationOut, OperatingSystemOut, PlanOut
from vpsorg.deps import AccountId, Session
from vpsorg.errors import AUTH_RESPONSES
from vpsorg.pagination import Page, whole_page

router = APIRouter(
    prefix="/api/v1", tags=["catalog"], responses=AUTH_RESPONSES, route_class=inputs.LimitedRoute
)


@router.get("/plans/", summary="List plans")
async def list_plans(session: Session, _: AccountId) -> Page[PlanOut]:
    rows = await catalog.list_plans(session)
    return whole_page([PlanOut.model_validate(p, from_attributes=True) for p in rows])


@router.get("/os/", summary="List operating systems")
async def list_os(session: Session, _: AccountId) -> Page[OperatingSystemOut]:
    rows = await catalog.list_operating_systems(session)
    return whole_page([OperatingSystemOut.model_validate(o, from_attributes=True) for o in rows])


@router.get("/locations/", summary="List datacenter locations")
async def list_locations(session: Session, _: AccountId) -> Page[LocationOut]:
    rows = await catalog.list_locations(session)
    return whole_page([LocationOut.model_validate(loc, from_attributes=True) for loc in rows])
