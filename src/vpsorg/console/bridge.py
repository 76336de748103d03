"""The console's WebSocket: a ticket checked, the console opened where the server's host is
driven, and bytes passed both ways.

Only the worker talks to drivers: in `vpsorg serve` with its worker in-process the console
is opened by that worker directly; otherwise (API processes apart from the workers) through
the relay of the worker serving the server's host (vpsorg.worker.console), which consumes
the ticket.
"""

import asyncio
import logging

from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket, WebSocketDisconnect

from vpsorg.console import service as consoles
from vpsorg.console.service import TicketRefused
from vpsorg.deps import AppState
from vpsorg.drivers.base import Console, DriverError
from vpsorg.worker import console as relay

log = logging.getLogger("vpsorg.console")

POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
NORMAL = 1000


def ticket_url(request: HTTPConnection, ticket: str) -> str:
    """The ticket's WebSocket URL, on the API's public base (VPSORG_PUBLIC_URL or the request's)."""
    url = str(request.url_for("console_websocket", ticket=ticket))
    return "ws" + url.removeprefix("http") if url.startswith("http") else url


def _reason(text: str) -> str:
    """A close reason fits in 123 bytes."""
    return text.encode()[:120].decode(errors="ignore")


async def _open(websocket: WebSocket, ticket: str) -> Console:
    state: AppState = websocket.app.state.vpsorg
    async with state.read_sessions() as session:
        target = await consoles.peek(session, ticket=ticket)
    worker = getattr(websocket.app.state, "worker", None)
    if worker is not None:  # `vpsorg serve`: this process's worker serves every host
        console: Console = await worker.attach_console(ticket)
        return console
    if target.relay_address is None:
        raise DriverError("no worker takes console relays for the server's host")
    return await relay.connect(target.relay_address, ticket)


async def serve(websocket: WebSocket, ticket: str) -> None:
    await websocket.accept()
    try:
        console = await _open(websocket, ticket)
    except TicketRefused as exc:
        await websocket.close(POLICY_VIOLATION, _reason(str(exc)))
        return
    except DriverError as exc:
        log.warning("console for a ticket could not be opened: %s", exc)
        await websocket.close(INTERNAL_ERROR, _reason(f"The console is not available: {exc}"))
        return
    try:
        ended = await _splice(websocket, console)
    finally:
        await console.close()
    if ended:  # the console's end, not the client's: say so (the client may be gone too)
        try:
            await websocket.close(NORMAL, "The console closed")
        except (RuntimeError, OSError):
            pass


async def _splice(websocket: WebSocket, console: Console) -> bool:
    """Pass bytes until either side ends; whether it was the console (the socket is open)."""

    async def out() -> None:
        while data := await console.read():
            await websocket.send_bytes(data)

    async def into() -> None:
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                data = message.get("bytes") or (message.get("text") or "").encode()
                if data:
                    await console.write(data)
        except (WebSocketDisconnect, DriverError):
            return

    reading, writing = asyncio.create_task(out()), asyncio.create_task(into())
    try:
        done, _ = await asyncio.wait((reading, writing), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (reading, writing):
            task.cancel()
        await asyncio.gather(reading, writing, return_exceptions=True)
    return writing not in done
