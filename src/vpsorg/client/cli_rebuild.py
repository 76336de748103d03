"""`vps servers rebuild`: reinstall a server from an OS image (registered on `vps servers`)."""

from typing import Annotated

import typer

from vpsorg.client.cli import (
    ACTION_COLUMNS,
    EXIT_USAGE,
    Timeout,
    Wait,
    api_errors,
    servers_app,
    show,
    state,
    wait_for,
)
from vpsorg.client.cli_refs import OsId, ServerId, SshKeyIds


@servers_app.command("rebuild")
def servers_rebuild(
    ctx: typer.Context,
    server_id: ServerId,
    os_id: OsId,
    # default (none given): the server keeps its keys
    ssh_key: SshKeyIds = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False,
    wait: Wait = False,
    timeout: Timeout = 900.0,
) -> None:
    """Reinstall a server from a clean OS image: everything on its disk is erased; its id,
    addresses, hostname and plan stay. With --wait, return when it is active again."""
    st = state(ctx)
    if not yes and not typer.confirm(f"Rebuild server {server_id}? Everything on its disk will be erased."):
        raise typer.Exit(EXIT_USAGE)
    with api_errors():
        action = st.api().servers.rebuild(server_id, os_id=os_id, ssh_key_ids=ssh_key or None)
        if wait:
            action = wait_for(st, action, timeout)
        show(st, action, ACTION_COLUMNS)
