"""`vps events`: your account's events, listed or watched live (registered on `vps` by
vpsorg.client.cli).

`vps events watch` prints one line per event as it happens (`-o json`: one JSON object
per line, for scripts; `-q`: ids only) until Ctrl-C, or until `--count N` events have
come. A dropped connection is resumed where it stopped (the SDK's events.stream)."""

import itertools
import json
from collections.abc import Callable
from typing import Annotated, Any

import typer

from vpsorg.client import Event
from vpsorg.client.cli_base import Columns, Output, State, api_errors, render, state
from vpsorg.client.cli_refs import ServerFilter

events_app = typer.Typer(help="What happened in your account: listed, or watched live.", no_args_is_help=True)

Types = Annotated[
    list[str] | None,
    typer.Option(
        "--type", metavar="TYPE", help="Only events of this type (e.g. server.status_changed); repeatable"
    ),
]


def _name(data: dict[str, Any]) -> str:
    return str(data.get("name") or "")


def _action(data: dict[str, Any]) -> str:
    said = f"{data.get('type')} {data.get('status')}"
    return f"{said}: {data['error']}" if data.get("error") else said


def _snapshot(data: dict[str, Any]) -> str:
    if data.get("error"):
        return f"{_name(data)}: {data['error']}"
    return f"{_name(data)} ({data.get('kind')}, {data.get('size_gb')} GB)"


SUMMARIES: dict[str, Callable[[dict[str, Any]], str]] = {
    "server.created": lambda d: f"{_name(d)} ({d.get('status')})",
    "server.status_changed": lambda d: f"{_name(d)}: {d.get('from')} -> {d.get('to')}",
    "server.deleted": _name,
    "action.queued": _action,
    "action.running": _action,
    "action.finished": _action,
    "snapshot.available": _snapshot,
    "snapshot.failed": _snapshot,
    "account.suspended": lambda d: str(d.get("reason") or ""),
    "account.unsuspended": lambda d: "",
    "account.credit_added": lambda d: f"+{d.get('amount')} ({d.get('kind')}), balance {d.get('balance')}",
}


def summary(raw: dict[str, Any]) -> str:
    """A few words from the event's data (a type this `vps` does not know: the data as JSON)."""
    data = raw.get("data") or {}
    said = SUMMARIES.get(str(raw.get("type")))
    return said(data) if said else json.dumps(data, separators=(",", ":"), sort_keys=True)


def _object(raw: dict[str, Any]) -> str:
    obj = raw.get("object") or {}
    return f"{obj.get('type')} {obj.get('id')}"


EVENT_COLUMNS: Columns = [
    ("id", lambda e: e.get("id")),
    ("time", lambda e: e.get("created_at")),
    ("type", lambda e: e.get("type")),
    ("object", _object),
    ("server", lambda e: e.get("server_id")),
    ("summary", summary),
]


def line(st: State, event: Event) -> str:
    """How `watch` prints one event."""
    if st.output == Output.JSON:
        return json.dumps(event.raw, separators=(",", ":"))
    if st.quiet:
        return str(event.id)
    return "  ".join(
        [event.raw.get("created_at", ""), event.type, _object(event.raw), summary(event.raw)]
    ).rstrip()


@events_app.command("list")
def events_list(
    ctx: typer.Context,
    type: Annotated[
        str | None, typer.Option("--type", metavar="TYPE", help="Only events of this type")
    ] = None,
    server: ServerFilter = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first")] = 100,
) -> None:
    """List your events, newest first (kept 30 days)."""

    def fetch(api: Any) -> list[Event]:
        return list(
            itertools.islice(api.events.list(type=type, server_id=server, page_size=min(limit, 100)), limit)
        )

    render(ctx, fetch, EVENT_COLUMNS)


@events_app.command("watch")
def events_watch(
    ctx: typer.Context,
    type: Types = None,
    server: ServerFilter = None,
    count: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many events (else run until Ctrl-C)")
    ] = None,
    after: Annotated[
        int | None,
        typer.Option("--after", metavar="ID", help="Start after this event id (the events since, then live)"),
    ] = None,
) -> None:
    """Print your events as they happen, one line each, until Ctrl-C (or --count)."""
    st = state(ctx)
    with api_errors():
        stream = st.api().events.stream(types=type or None, server_id=server, last_event_id=after)
        try:
            for event in itertools.islice(stream, count):
                print(line(st, event), flush=True)
        except KeyboardInterrupt:
            pass  # Ctrl-C is how a watch ends: no traceback, exit 0
        finally:
            stream.close()  # hang up now, not when the generator is collected
