"""The operators' pages (/admin/): admin accounts only (vpsorg.web.auth.Operator; anyone else
gets 403). Every change calls the service the admin API calls, which records it in the audit
log with the operator's account as its actor."""

from fastapi import APIRouter

from vpsorg.web.admin import accounts, audit, hosts, overview, servers

router = APIRouter(prefix="/admin", include_in_schema=False)
for module in (overview, accounts, servers, hosts, audit):
    router.include_router(module.router)
