"""`vps account`: the balance, what the servers commit a month, and the ledger behind them."""

from itertools import islice
from typing import Annotated, Any

import typer

from vpsorg.client.cli_base import Columns, Output, api_errors, render, show, state

RECENT = 5  # ledger entries `vps account` shows under the account


def money(field: str) -> Any:
    return lambda a: None if a.get(field) is None else f"{a[field]} {a.get('currency', '')}".strip()


def _quota(a: dict[str, Any]) -> str | None:
    servers = (a.get("limits") or {}).get("servers")
    return f"{servers['used']} of {servers['limit']}" if servers else None


ACCOUNT_COLUMNS: Columns = [
    ("id", lambda a: a["id"]),
    ("email", lambda a: a["email"]),
    ("balance", money("balance")),
    ("available", money("available_credit")),
    ("monthly commitment", money("monthly_commitment")),
    ("servers", lambda a: a.get("servers")),
    ("server quota", _quota),
    ("suspended", lambda a: a.get("suspended_at") and f"{a['suspended_at']}: {a.get('suspended_reason')}"),
]
LEDGER_COLUMNS: Columns = [
    ("id", lambda e: e["id"]),
    ("when", lambda e: e.get("created_at")),
    ("kind", lambda e: e["kind"]),
    ("amount", money("amount")),
    ("balance after", money("balance_after")),
    ("server", lambda e: e.get("server_id")),
    ("hours", lambda e: e.get("hours")),
    ("reason", lambda e: e["reason"]),
]

account_app = typer.Typer(
    help="Your account: balance, monthly commitment and ledger.", invoke_without_command=True
)


@account_app.callback()
def account(ctx: typer.Context) -> None:
    """Your account: balance, available credit, the month your servers commit, and the
    latest ledger entries (every one: vps account ledger)."""
    if ctx.invoked_subcommand is not None:
        return
    st = state(ctx)
    with api_errors():
        api = st.api()
        show(st, api.account.get(), ACCOUNT_COLUMNS)
        if st.output != Output.TABLE or st.quiet:
            return  # JSON and -q: the account alone, as the API gives it
        recent = list(islice(api.account.ledger(page_size=RECENT), RECENT))
    print()
    if not recent:
        print("No ledger entries yet.")
        return
    print("Latest ledger entries (every one: vps account ledger):")
    show(st, recent, LEDGER_COLUMNS)


@account_app.command("ledger")
def ledger(
    ctx: typer.Context,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many entries (default: all)")] = None,
) -> None:
    """Your ledger, newest first: top-ups, hourly charges, refunds (pages fetched as needed)."""
    page_size = min(limit, 100) if limit else 50
    render(ctx, lambda api: islice(api.account.ledger(page_size=page_size), limit), LEDGER_COLUMNS)
