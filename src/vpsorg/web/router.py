"""Every panel route, and the static files they use."""

from fastapi import APIRouter

from vpsorg.web import (
    admin,
    billing,
    live,
    login,
    server_console,
    server_create,
    server_page,
    server_rebuild,
    server_resize,
    servers,
    snapshots,
    ssh_keys,
    tokens,
    webhooks,
)

router = APIRouter(include_in_schema=False)
for module in (
    login,
    servers,
    server_create,
    server_page,
    server_console,
    server_rebuild,
    server_resize,
    snapshots,
    ssh_keys,
    tokens,
    webhooks,
    billing,
    admin,
    live,
):
    router.include_router(module.router)
