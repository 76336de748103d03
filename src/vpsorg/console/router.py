"""The serial console: a ticket over HTTP, then the console over a WebSocket."""

from fastapi import APIRouter, Request, WebSocket

from vpsorg import inputs
from vpsorg.console import bridge
from vpsorg.console import service as consoles
from vpsorg.console.schemas import ConsoleTicketOut
from vpsorg.deps import AccountId, Session, get_state
from vpsorg.errors import AUTH_RESPONSES, InvalidState, NotFound, ValidationFailed, errors

router = APIRouter(
    prefix="/api/v1", tags=["console"], responses=AUTH_RESPONSES, route_class=inputs.LimitedRoute
)

CONSOLE = """A ticket to the server's serial console (its ttyS0, where the guest runs a login prompt),
as Hetzner's `request_console`: connect a WebSocket client to `url` within 60 seconds; the
ticket opens one session only. The WebSocket carries the console's bytes both ways in
binary frames (text frames from the client are sent as their UTF-8 bytes). A ticket that is
unknown, used or expired, or whose server stopped running, closes the socket with code 1008
(policy violation) and the reason; a console the hypervisor cannot open, with 1011.
Only while the server is active (400 invalid_state otherwise)."""


@router.post(
    "/servers/{server_id}/console/",
    status_code=201,
    summary="Request a serial console ticket",
    description=CONSOLE,
    responses=errors(ValidationFailed, NotFound, InvalidState),
)
async def request_console(
    server_id: inputs.PathId, request: Request, session: Session, account_id: AccountId
) -> ConsoleTicketOut:
    issued = await consoles.issue(
        session,
        account_id=account_id,
        server_id=server_id,
        lifetime=get_state(request).settings.console_ticket_seconds,
    )
    return ConsoleTicketOut(url=bridge.ticket_url(request, issued.ticket), expires_at=issued.expires_at)


@router.websocket("/console/{ticket}", name="console_websocket")
async def console_websocket(websocket: WebSocket, ticket: str) -> None:
    await bridge.serve(websocket, ticket)
