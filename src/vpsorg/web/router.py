"""Every panel route, and the static files they use."""

from fastapi import APIRouter

from vpsorg.web import login, server_create, server_page, servers

router = APIRouter(include_in_schema=False)
for module in (login, servers, server_create, server_page):
    router.include_router(module.router)
