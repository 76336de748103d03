"""`vps servers console ID`: this terminal attached to a server's serial console, as `virsh
console` does (registered on `vps servers`).

The terminal is put in raw mode (every key goes to the guest, Ctrl-C included) and restored
on the way out, whatever ends the session: Ctrl-] (leaves), the console closing, an error.
"""

import asyncio
import contextlib
import os
import sys
import termios
import tty

import typer
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from vpsorg.client.cli import api_errors, err, fail, servers_app, state
from vpsorg.client.cli_refs import ServerId

ESCAPE = b"\x1d"  # Ctrl-]
NORMAL_CLOSE = 1000


@servers_app.command("console")
def servers_console(ctx: typer.Context, server_id: ServerId) -> None:
    """Attach this terminal to the server's serial console (it must be running): raw mode,
    Ctrl-] leaves. Press Enter to see the login prompt again."""
    st = state(ctx)
    with api_errors():
        ticket = st.api().servers.request_console(server_id)
    err.print(f"Connected to the console of server {server_id}; Ctrl-] leaves.")
    problem = attach(ticket.url, sys.stdin.fileno(), sys.stdout.fileno())
    if problem is not None:
        fail(problem)
    err.print("\nLeft the console.")


def attach(url: str, fd_in: int, fd_out: int) -> str | None:
    """Pass bytes between the terminal and the console's WebSocket until Ctrl-], the end of
    input or the console's end; None, or what went wrong. A terminal is in raw mode meanwhile,
    and restored afterwards even on error."""
    saved = termios.tcgetattr(fd_in) if os.isatty(fd_in) else None
    try:
        if saved is not None:
            tty.setraw(fd_in)
        return asyncio.run(_session(url, fd_in, fd_out))
    finally:
        if saved is not None:
            termios.tcsetattr(fd_in, termios.TCSADRAIN, saved)


async def _session(url: str, fd_in: int, fd_out: int) -> str | None:
    try:
        ws = await connect(url, max_size=None, open_timeout=30)
    except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
        return f"cannot connect to the console: {exc}"
    loop = asyncio.get_running_loop()
    keys: asyncio.Queue[bytes] = asyncio.Queue()
    try:
        loop.add_reader(fd_in, lambda: keys.put_nowait(os.read(fd_in, 4096)))
    except (PermissionError, ValueError):  # a regular file or /dev/null: nothing to wait on
        await ws.close()
        return "standard input must be a terminal or a pipe"
    typing = asyncio.create_task(_typing(ws, keys))
    tasks = [typing, asyncio.create_task(_showing(ws, fd_out))]
    left = False
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        left = typing in done  # Ctrl-] or the end of input, not the console's end
    finally:
        loop.remove_reader(fd_in)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await ws.close()
    code = ws.close_code
    if not left and code is not None and code != NORMAL_CLOSE:
        return f"the console closed: {ws.close_reason or 'no reason given'} (code {code})"
    return None


async def _typing(ws: ClientConnection, keys: "asyncio.Queue[bytes]") -> None:
    """Keys to the console, until Ctrl-] or the end of input."""
    while data := await keys.get():
        data, escape, _ = data.partition(ESCAPE)
        if data:
            await ws.send(data)
        if escape:
            return


async def _showing(ws: ClientConnection, fd_out: int) -> None:
    """The console's bytes to the terminal, until it closes."""
    with contextlib.suppress(ConnectionClosed):
        async for message in ws:
            os.write(fd_out, message if isinstance(message, bytes) else message.encode())
