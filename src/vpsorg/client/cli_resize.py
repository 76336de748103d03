"""`vps servers resize`: another plan for a stopped server (registered on `vps servers`)."""

import typer

from vpsorg.client.cli import ACTION_COLUMNS, Timeout, Wait, api_errors, servers_app, show, state, wait_for
from vpsorg.client.cli_refs import PlanId, ServerId


@servers_app.command("resize")
def servers_resize(
    ctx: typer.Context,
    server_id: ServerId,
    plan: PlanId,
    wait: Wait = False,
    timeout: Timeout = 900.0,
) -> None:
    """Give a stopped server another plan: its vCPUs and memory, its disk grown (never shrunk;
    the root filesystem takes the room at the next boot). It stays stopped; start it after."""
    st = state(ctx)
    with api_errors():
        action = st.api().servers.resize(server_id, plan)
        if wait:
            action = wait_for(st, action, timeout)
        show(st, action, ACTION_COLUMNS)
