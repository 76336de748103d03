"""Console relays: how an API process reaches the serial console of a server whose host is
driven by a worker in another process (only the worker talks to drivers).

Each worker listens on VPSORG_CONSOLE_LISTEN (default 127.0.0.1, any free port) and writes
the address (VPSORG_CONSOLE_ADVERTISE, else the one it listens on) on the rows of the hosts
it serves, with each heartbeat. An API process holding a WebSocket with a ticket looks the
ticket's server up (its host's address), connects there and speaks this protocol, one
session per TCP connection:

    API -> worker   the ticket, one ASCII line: b"<ticket>\\n"
    worker -> API   b"ok\\n", or b"refused <reason>\\n" and the connection closes
    then            the console's bytes, both ways, until either side closes

The worker consumes the ticket itself (vpsorg.console.service.consume, in its own
transaction), so the ticket is the relay's only credential, as it is the WebSocket's: 256
random bits, single use, short-lived. No shared secret to configure; but the bytes (a
password typed at the login prompt) cross the network in clear: listen on loopback (one
machine) or on a private network between the API and the hosts.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from vpsorg.console.service import TicketRefused
from vpsorg.drivers.base import Console, DriverError

log = logging.getLogger("vpsorg.worker.console")

MAX_LINE = 200  # a ticket is 43 characters; a refusal's reason a sentence
CHUNK = 65536
HANDSHAKE_SECONDS = 30.0

Attach = Callable[[str], Awaitable[Console]]


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class RelayListener:
    """The worker's end: accepts relays and attaches each to its server's console."""

    def __init__(self, attach: Attach) -> None:
        self._attach = attach
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    async def start(self, listen: str) -> str:
        """Listen; the address bound (host:port, the port chosen when 0 was asked)."""
        host, port = split_address(listen)
        self._server = await asyncio.start_server(self._serve, host, port)
        bound = self._server.sockets[0].getsockname()
        return f"[{bound[0]}]:{bound[1]}" if ":" in bound[0] else f"{bound[0]}:{bound[1]}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._sessions):
            task.cancel()
        await asyncio.gather(*self._sessions, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            await self._session(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            self._sessions.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await asyncio.wait_for(reader.readline(), HANDSHAKE_SECONDS)
        ticket = line[:MAX_LINE].decode("ascii", errors="replace").strip()
        try:
            console = await self._attach(ticket)
        except TicketRefused as exc:
            writer.write(f"refused {exc}\n".encode())
            await writer.drain()
            return
        except DriverError as exc:
            writer.write(f"refused The console is not available: {exc}\n".encode())
            await writer.drain()
            return
        try:
            writer.write(b"ok\n")
            await writer.drain()
            await splice(console, reader, writer)
        finally:
            await console.close()


async def splice(console: Console, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Pass bytes between a console and a TCP stream until either side ends."""

    async def out() -> None:
        while data := await console.read():
            writer.write(data)
            await writer.drain()

    async def into() -> None:
        while data := await reader.read(CHUNK):
            await console.write(data)

    tasks = [asyncio.create_task(out()), asyncio.create_task(into())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class RelayedConsole:
    """The API's end of a relay: a Console whose bytes pass through the worker."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self) -> bytes:
        try:
            return await self._reader.read(CHUNK)
        except ConnectionError:
            return b""

    async def write(self, data: bytes) -> None:
        try:
            self._writer.write(data)
            await self._writer.drain()
        except ConnectionError as exc:
            raise DriverError("the console relay closed") from exc

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()


async def connect(address: str, ticket: str) -> Console:
    """Open a relay to the worker at `address` with the ticket; TicketRefused with the
    worker's reason, DriverError when the worker cannot be reached."""
    host, port = split_address(address)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), HANDSHAKE_SECONDS)
    except (OSError, TimeoutError) as exc:
        raise DriverError(f"the worker's console relay at {address} does not answer") from exc
    try:
        writer.write(ticket.encode("ascii", errors="replace")[:MAX_LINE] + b"\n")
        await writer.drain()
        answer = (await asyncio.wait_for(reader.readline(), HANDSHAKE_SECONDS)).decode(errors="replace")
    except (OSError, TimeoutError) as exc:
        writer.close()
        raise DriverError(f"the worker's console relay at {address} does not answer") from exc
    if answer.strip() != "ok":
        writer.close()
        reason = answer.removeprefix("refused").strip() or "the worker closed the relay"
        raise TicketRefused(reason)
    return RelayedConsole(reader, writer)
