"""Every panel route, and the static files they use."""

from fastapi import APIRouter

from vpsorg.web import admin, login, servers

router = APIRouter(include_in_schema=False)
for module in (login, servers, admin):
    router.include_router(module.router)
