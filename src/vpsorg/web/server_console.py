"""A server's serial console in its page: a ticket for the page's script, which opens the
console's WebSocket (the API's, vpsorg.console) in an xterm.js terminal.

The ticket is the API's (console.service.issue, as POST /api/v1/servers/{id}/console/),
asked with the session's cookie and its CSRF token (the X-CSRF-Token header the page's
script sends); the answer is JSON, refusals in the API's error shape with its status.
"""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from vpsorg.console import bridge
from vpsorg.console import service as consoles
from vpsorg.deps import Session, get_state
from vpsorg.errors import AppError
from vpsorg.web.auth import SignedIn
from vpsorg.web.server_page import server_id_of

router = APIRouter(prefix="/servers", include_in_schema=False)


@router.post("/{server_id}/console")
async def console_ticket(
    request: Request, server_id: str, session: Session, viewer: SignedIn
) -> JSONResponse:
    """{"url", "expires_at"} of a new ticket to the running server's console."""
    try:
        issued = await consoles.issue(
            session,
            account_id=viewer.account_id,
            server_id=server_id_of(server_id),
            lifetime=get_state(request).settings.console_ticket_seconds,
        )
    except AppError as exc:
        body = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
        return JSONResponse(body, status_code=exc.status_code)
    return JSONResponse(
        {"url": bridge.ticket_url(request, issued.ticket), "expires_at": issued.expires_at.isoformat()}
    )
