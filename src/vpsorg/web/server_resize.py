"""Resizing a server from its page: the plans it may take, each with what it changes of the
month, while it is stopped.

The resize is the API's (servers.resize.request_resize, as POST
/api/v1/servers/{id}/resize/), read by the same schema (ServerResize); a refusal (its status,
the plan, credit, the host's room) re-renders the page in words with the API's status.
"""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from vpsorg.deps import HotPath, Session
from vpsorg.errors import AppError
from vpsorg.servers import resize
from vpsorg.servers.schemas import ServerResize
from vpsorg.web import refusals
from vpsorg.web.auth import SignedIn
from vpsorg.web.server_page import back, render_page, server_id_of

router = APIRouter(prefix="/servers", include_in_schema=False)


@router.post("/{server_id}/resize")
async def resize_server(
    request: Request,
    server_id: str,
    reads: HotPath,
    session: Session,
    viewer: SignedIn,
    plan_id: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Give the stopped server the plan chosen; it stays stopped once resized."""
    found = server_id_of(server_id)
    try:
        data = refusals.parse(ServerResize, {"plan_id": plan_id}, lax=True)
        await resize.request_resize(
            session, account_id=viewer.account_id, server_id=found, plan_id=data.plan_id
        )
    except AppError as exc:
        refusal = refusals.refusal(exc)
        shown = {"plan_id": plan_id}
        return await render_page(
            request, reads, session, viewer, found, refusal=refusal, form="resize", values=shown
        )
    return back(request, found)
