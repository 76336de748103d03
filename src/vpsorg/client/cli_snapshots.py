"""`vps snapshots`: list, take and delete snapshots and backups (registered on `vps` by
vpsorg.client.cli, whose helpers these commands share)."""

from typing import Annotated

import typer

from vpsorg.client import Action, ActionRef
from vpsorg.client.cli import (
    EXIT_USAGE,
    Columns,
    Output,
    Timeout,
    Wait,
    api_errors,
    err,
    render,
    show,
    state,
    wait_for,
)

snapshots_app = typer.Typer(help="Snapshots and backups of your servers' disks.", no_args_is_help=True)

SNAPSHOT_COLUMNS: Columns = [
    ("id", lambda s: s.get("id")),
    ("name", lambda s: s.get("name")),
    ("kind", lambda s: s.get("kind")),
    ("status", lambda s: s.get("status")),
    ("server", lambda s: s.get("server_id")),
    ("size GB", lambda s: s.get("size_gb")),
    ("USD/month", lambda s: s.get("price_monthly")),
    ("created", lambda s: s.get("created_at")),
    ("error", lambda s: s.get("error")),
]


@snapshots_app.command("list")
def snapshots_list(
    ctx: typer.Context,
    server: Annotated[int | None, typer.Option("--server", help="Only those of this server (id)")] = None,
    kind: Annotated[str | None, typer.Option(help="Only `snapshot`s or only `backup`s")] = None,
) -> None:
    """List your snapshots and backups."""
    if kind not in (None, "snapshot", "backup"):
        raise typer.BadParameter("must be snapshot or backup", param_hint="--kind")
    render(ctx, lambda api: api.snapshots.list(server_id=server, kind=kind), SNAPSHOT_COLUMNS)


@snapshots_app.command("get")
def snapshots_get(ctx: typer.Context, snapshot_id: int) -> None:
    """Show one snapshot."""
    render(ctx, lambda api: api.snapshots.get(snapshot_id), SNAPSHOT_COLUMNS)


@snapshots_app.command("create")
def snapshots_create(
    ctx: typer.Context,
    server_id: Annotated[int, typer.Argument(metavar="SERVER", help="The server's id")],
    name: Annotated[str, typer.Option(help="A name for the snapshot")],
    wait: Wait = False,
    timeout: Timeout = 900.0,
) -> None:
    """Take a snapshot of a server (active or stopped)."""
    st = state(ctx)
    with api_errors():
        snapshot = st.api().snapshots.create(server_id, name)
        if wait:
            ref = snapshot.action
            assert isinstance(ref, ActionRef)
            wait_for(st, Action.from_api(ref.raw | {"server_id": server_id}), timeout)
            snapshot = st.api().snapshots.get(snapshot.id)
        show(st, snapshot, SNAPSHOT_COLUMNS)


@snapshots_app.command("delete")
def snapshots_delete(
    ctx: typer.Context,
    snapshot_id: int,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False,
) -> None:
    """Delete a snapshot (its image is removed in the background)."""
    st = state(ctx)
    if not yes and not typer.confirm(f"Delete snapshot {snapshot_id}?"):
        raise typer.Exit(EXIT_USAGE)
    with api_errors():
        st.api().snapshots.delete(snapshot_id)
    if not st.quiet and st.output == Output.TABLE:
        err.print(f"snapshot {snapshot_id} deleted")
