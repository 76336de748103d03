"""Operators' servers: every account's, filtered; a server's page; suspend and unsuspend."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from vpsorg import inputs
from vpsorg.accounts.logins import Viewer
from vpsorg.admin import service as admin
from vpsorg.deps import Session
from vpsorg.errors import AppError, ValidationFailed
from vpsorg.servers import suspension
from vpsorg.servers.states import ServerStatus
from vpsorg.web.admin import common
from vpsorg.web.auth import Operator
from vpsorg.web.templating import render

router = APIRouter(prefix="/servers")

FilterText = Annotated[str, Query(max_length=63)]
# Which button a server's row offers: the statuses suspension can act on (its own table).
SUSPENDABLE = frozenset(s.value for s in suspension.RESUME_TO)
STATUSES = frozenset(s.value for s in ServerStatus)


def _filters(account: str, status: str, location: str, host: str) -> admin.ServerFilter:
    """The filter form's values (empty: any); the service refuses names that do not exist."""
    if status and status not in STATUSES:
        raise ValidationFailed.field("status", f"no status {status!r}")
    return admin.ServerFilter(
        account_id=common.whole_or_none("account", account),
        status=ServerStatus(status) if status else None,
        location=location.strip() or None,
        host=host.strip() or None,
    )


@router.get("/")
async def list_page(
    request: Request,
    session: Session,
    viewer: Operator,
    account: FilterText = "",
    status: FilterText = "",
    location: FilterText = "",
    host: FilterText = "",
    page: Annotated[int, Query(ge=1, le=10_000_000)] = 1,
) -> Response:
    params = common.page_of(page)
    count, rows, refused = 0, list[dict[str, Any]](), None
    try:
        filters = _filters(account, status, location, host)
        count, rows = await admin.list_servers(session, filters=filters, page=params)
    except AppError as exc:
        refused = exc
    return render(
        request,
        "admin/servers.html",
        viewer,
        status_code=refused.status_code if refused else 200,
        section="admin",
        count=count,
        servers=rows,
        sent={"account": account, "status": status, "location": location, "host": host},
        statuses=list(ServerStatus),
        suspendable=SUSPENDABLE,
        back=common.here(request),
        pager=common.pager(request, params, count),
        notice=common.notice(request.query_params.get("done")),
        error=refused.message if refused else None,
    )


async def _server_page(
    request: Request, session: Session, viewer: Viewer, server_id: int, refused: AppError | None = None
) -> Response:
    server = await admin.server_detail(session, server_id=server_id)
    return render(
        request,
        "admin/server.html",
        viewer,
        status_code=refused.status_code if refused else 200,
        section="admin",
        server=server,
        suspendable=SUSPENDABLE,
        notice=common.notice(request.query_params.get("done")),
        error=refused.message if refused else None,
    )


@router.get("/{server_id}/")
async def server_page(
    server_id: inputs.PathId, request: Request, session: Session, viewer: Operator
) -> Response:
    return await _server_page(request, session, viewer, server_id)


Reason = Annotated[str, Form(max_length=500)]
Back = Annotated[str, Form(max_length=2000)]


# POST /api/v1/admin/servers/{id}/suspend/ and unsuspend/'s services, from a form.
SUSPENSION = {"suspend": admin.suspend_server, "unsuspend": admin.unsuspend_server}


@router.post("/{server_id}/{verb}")
async def suspend_or_unsuspend(
    server_id: inputs.PathId,
    verb: Literal["suspend", "unsuspend"],
    request: Request,
    session: Session,
    viewer: Operator,
    reason: Reason = "",
    back: Back = "",
) -> Response:
    """Suspend a server, or lift its suspension, with the operator's reason."""

    async def change() -> None:
        await SUSPENSION[verb](
            session, server_id=server_id, reason=common.reason_of(reason), actor_id=viewer.account_id
        )

    refused = await common.attempt(session, change)
    if refused is not None:
        return await _server_page(request, session, viewer, server_id, refused)
    return common.redirect(request, common.back_to(back, f"/admin/servers/{server_id}/"), done=f"{verb}ed")
