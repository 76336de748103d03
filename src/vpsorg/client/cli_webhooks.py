"""`vps webhooks`: manage the URLs your events are POSTed to and see their deliveries
(registered on `vps` by vpsorg.client.cli, whose helpers these commands share)."""

from typing import Annotated

import typer

from vpsorg.client.cli import EXIT_USAGE, Columns, Output, api_errors, err, render, show, state

webhooks_app = typer.Typer(
    help="Webhooks: your events POSTed to a URL of yours, signed.", no_args_is_help=True
)

WEBHOOK_COLUMNS: Columns = [
    ("id", lambda w: w.get("id")),
    ("url", lambda w: w.get("url")),
    ("events", lambda w: ",".join(w.get("event_types") or [])),
    ("enabled", lambda w: w.get("enabled")),
    ("description", lambda w: w.get("description")),
    ("created", lambda w: w.get("created_at")),
]
SECRET_COLUMNS: Columns = [*WEBHOOK_COLUMNS, ("secret", lambda w: w.get("secret"))]
DELIVERY_COLUMNS: Columns = [
    ("id", lambda d: d.get("id")),
    ("event", lambda d: d.get("event_id")),
    ("type", lambda d: d.get("event_type")),
    ("status", lambda d: d.get("status")),
    ("attempts", lambda d: d.get("attempts")),
    ("code", lambda d: d.get("last_status_code")),
    ("error", lambda d: d.get("last_error")),
    ("last attempt", lambda d: d.get("last_attempt_at")),
    ("next attempt", lambda d: d.get("next_attempt_at")),
]

Events = Annotated[
    list[str] | None,
    typer.Option("--event", "-e", help="An event type to receive (repeat it; default: all, `*`)"),
]
Description = Annotated[str | None, typer.Option(help="A note for yourself")]


@webhooks_app.command("list")
def webhooks_list(ctx: typer.Context) -> None:
    """List your webhooks."""
    render(ctx, lambda api: api.webhooks.list(), WEBHOOK_COLUMNS)


@webhooks_app.command("get")
def webhooks_get(ctx: typer.Context, webhook_id: int) -> None:
    """Show one webhook."""
    render(ctx, lambda api: api.webhooks.get(webhook_id), WEBHOOK_COLUMNS)


@webhooks_app.command("create")
def webhooks_create(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Where to POST the events (https)")],
    event: Events = None,
    description: Description = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it disabled")] = False,
) -> None:
    """Create a webhook; its secret (to verify signatures) is shown this once."""
    st = state(ctx)
    with api_errors():
        hook = st.api().webhooks.create(
            url, event_types=event, enabled=not disabled, description=description or ""
        )
    show(st, hook, SECRET_COLUMNS)
    if not st.quiet and st.output == Output.TABLE:
        err.print("keep the secret: it is not shown again")


@webhooks_app.command("update")
def webhooks_update(
    ctx: typer.Context,
    webhook_id: int,
    url: Annotated[str | None, typer.Option(help="A new URL")] = None,
    event: Events = None,
    description: Description = None,
    enabled: Annotated[bool | None, typer.Option("--enable/--disable", help="Turn it on or off")] = None,
) -> None:
    """Change a webhook."""
    if url is None and event is None and description is None and enabled is None:
        raise typer.BadParameter("give at least one of --url, --event, --description, --enable/--disable")
    render(
        ctx,
        lambda api: api.webhooks.update(
            webhook_id, url=url, event_types=event, enabled=enabled, description=description
        ),
        WEBHOOK_COLUMNS,
    )


@webhooks_app.command("delete")
def webhooks_delete(
    ctx: typer.Context,
    webhook_id: int,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False,
) -> None:
    """Delete a webhook and its delivery log."""
    st = state(ctx)
    if not yes and not typer.confirm(f"Delete webhook {webhook_id}?"):
        raise typer.Exit(EXIT_USAGE)
    with api_errors():
        st.api().webhooks.delete(webhook_id)
    if not st.quiet and st.output == Output.TABLE:
        err.print(f"webhook {webhook_id} deleted")


@webhooks_app.command("deliveries")
def webhooks_deliveries(ctx: typer.Context, webhook_id: int) -> None:
    """A webhook's deliveries, newest first, with the receiver's status codes."""
    render(ctx, lambda api: api.webhooks.deliveries(webhook_id), DELIVERY_COLUMNS)


@webhooks_app.command("redeliver")
def webhooks_redeliver(ctx: typer.Context, webhook_id: int, delivery_id: int) -> None:
    """Send a delivery's event again (a new delivery, after the pending ones)."""
    render(ctx, lambda api: api.webhooks.redeliver(webhook_id, delivery_id), DELIVERY_COLUMNS)
