"""`vps servers rebuild`: reinstall a server from an OS image or restore a snapshot onto it
(registered on `vps servers`)."""

from typing import Annotated

import typer

from vpsorg.client.cli import (
    ACTION_COLUMNS,
    EXIT_USAGE,
    Timeout,
    Wait,
    api_errors,
    fail,
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
    os_id: OsId = None,
    snapshot: Annotated[
        int | None,
        typer.Option(
            "--snapshot",
            metavar="SNAPSHOT",
            help="Restore one of your snapshots or backups (vps snapshots list)",
        ),
    ] = None,
    # default (none given): the server keeps its keys
    ssh_key: SshKeyIds = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False,
    wait: Wait = False,
    timeout: Timeout = 900.0,
) -> None:
    """Reinstall a server from a clean OS image (--os), or restore a snapshot onto it
    (--snapshot: its disk and OS come back): everything on its disk now is erased; its id,
    addresses, hostname and plan stay. With --wait, return when it is active again."""
    st = state(ctx)
    if (os_id is None) == (snapshot is None):
        fail("give --os IMAGE or --snapshot SNAPSHOT (one of the two)", EXIT_USAGE)
    if not yes and not typer.confirm(f"Rebuild server {server_id}? Everything on its disk will be erased."):
        raise typer.Exit(EXIT_USAGE)
    with api_errors():
        action = st.api().servers.rebuild(
            server_id, os_id=os_id, snapshot_id=snapshot, ssh_key_ids=ssh_key or None
        )
        if wait:
            action = wait_for(st, action, timeout)
        show(st, action, ACTION_COLUMNS)
