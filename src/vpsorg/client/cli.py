"""`vps`: the customer's command line, built only on vpsorg.client.

Token and URL come from --token/--url, else VPS_TOKEN/VPS_URL, else the file `vps login`
wrote (VPS_CONFIG, default ~/.config/vps/config.json, mode 0600). Output is a table, or the
API's JSON with `-o json` (a list command prints the JSON array of every item on every
page), or ids only with `-q`. Exit codes: 0 ok, 1 the API refused or could not be reached
(or an action failed), 2 usage, 3 an action did not finish within --timeout.
"""

import importlib.metadata
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from vpsorg.client import Action, Client
from vpsorg.client.cli_account import account_app
from vpsorg.client.cli_base import (
    EXIT_API,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    Columns,
    Output,
    State,
    api_errors,
    config_path,
    err,
    fail,
    out,
    read_config,
    render,
    resolve,
    show,
    state,
)
from vpsorg.client.cli_refs import OsId, PlanId, ServerId, ServerOption, SshKeyIds, os_slug

# Names other modules (and tests) have reached through this one.
__all__ = [
    "EXIT_API",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "Columns",
    "Output",
    "State",
    "api_errors",
    "app",
    "config_path",
    "err",
    "fail",
    "main",
    "out",
    "read_config",
    "render",
    "resolve",
    "show",
    "state",
]

ROOT_VALUED = frozenset({"--url", "--token", "-o", "--output"})


def hoist_output_options(args: list[str]) -> list[str]:
    """Move -o/--output VALUE, -q/--quiet and --no-header given after the subcommand to before it.

    They are the root's options (every command shows its result through them), and people
    type `vps servers list -o json`; no subcommand has an option of these names. Nothing after
    `--` moves."""
    start = 0
    while start < len(args) and args[start].startswith("-") and args[start] != "--":
        start += 2 if args[start] in ROOT_VALUED else 1
    moved: list[str] = []
    rest: list[str] = []
    i = start
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        if (
            arg in ("-q", "--quiet", "--no-header")
            or arg.startswith("--output=")
            or (arg.startswith("-o") and len(arg) > 2)
        ):
            moved.append(arg)
        elif arg in ("-o", "--output") and i + 1 < len(args):
            moved += args[i : i + 2]
            i += 1
        else:
            rest.append(arg)
        i += 1
    return args[:start] + moved + rest


class RootGroup(TyperGroup):
    # ctx: typer's vendored click Context (its module is private)
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_output_options(args))


app = typer.Typer(help="Manage your VPS.org servers.", no_args_is_help=True, cls=RootGroup)
servers_app = typer.Typer(help="Servers.", no_args_is_help=True)
plans_app = typer.Typer(help="Plans you can order.", no_args_is_help=True)
os_app = typer.Typer(help="Operating systems you can install.", no_args_is_help=True)
locations_app = typer.Typer(help="Locations.", no_args_is_help=True)
keys_app = typer.Typer(help="SSH keys.", no_args_is_help=True)
actions_app = typer.Typer(help="Actions (what happened to a server, and when).", no_args_is_help=True)
for sub, name in (
    (servers_app, "servers"),
    (plans_app, "plans"),
    (os_app, "os"),
    (locations_app, "locations"),
    (keys_app, "ssh-keys"),
    (actions_app, "actions"),
):
    app.add_typer(sub, name=name)
app.add_typer(account_app, name="account")


def _print_version(value: bool) -> None:
    if value:
        print(f"vps {importlib.metadata.version('vpsorg')}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit"),
    ] = False,
    url: Annotated[str | None, typer.Option(help="API base URL [env: VPS_URL]")] = None,
    token: Annotated[str | None, typer.Option(help="API token [env: VPS_TOKEN]")] = None,
    output: Annotated[
        Output, typer.Option("--output", "-o", help="table, or the API's json (also after the subcommand)")
    ] = Output.TABLE,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print ids only (also after the subcommand)")
    ] = False,
    no_header: Annotated[
        bool, typer.Option("--no-header", help="Tables without their header line (also after the subcommand)")
    ] = False,
) -> None:
    ctx.obj = State(url=url, token=token, output=output, quiet=quiet, no_header=no_header)


SERVER_COLUMNS: Columns = [
    ("id", lambda s: s["id"]),
    ("name", lambda s: s["name"]),
    ("status", lambda s: s["status"]),
    ("ip", lambda s: s.get("ip_address")),
    ("location", lambda s: s["location"]),
    ("plan", lambda s: s["plan"]["name"]),
    ("os", lambda s: s["os"]["name"]),
]
SERVER_DETAIL: Columns = (
    SERVER_COLUMNS[:4]
    + [
        ("ipv6", lambda s: s.get("ipv6_address")),
        ("hostname", lambda s: s["hostname"]),
    ]
    + SERVER_COLUMNS[4:]
    + [
        ("backups", lambda s: s.get("backups_enabled")),
        ("labels", lambda s: ",".join(f"{k}={v}" for k, v in (s.get("labels") or {}).items())),
        ("cpu %", lambda s: (s.get("resource_usage") or {}).get("cpu_percent")),
        ("error", lambda s: s.get("error")),
        ("created", lambda s: s["created_at"]),
    ]
)
DRY_RUN_COLUMNS: Columns = [
    ("would create", lambda q: q["would_create"]),
    ("monthly price", lambda q: q["monthly_price"]),
    ("hourly price", lambda q: q["hourly_price"]),
    ("location", lambda q: q["location"]),
]
ACTION_COLUMNS: Columns = [
    ("id", lambda a: a["id"]),
    ("type", lambda a: a["type"]),
    ("status", lambda a: a["status"]),
    ("server", lambda a: a.get("server_id")),
    ("error", lambda a: a.get("error")),
    ("created", lambda a: a.get("created_at")),
    ("finished", lambda a: a.get("finished_at")),
]


# Waiting ---------------------------------------------------------------------------------


def wait_for(st: State, action: Action, timeout: float) -> Action:
    """Wait with a live progress line (on stderr, only on a terminal-capable console)."""
    started = time.monotonic()
    with err.status(f"action {action.id} ({action.type}): {action.status}") as status:

        def progress(now: Action) -> None:
            status.update(f"action {now.id} ({now.type}): {now.status}, {time.monotonic() - started:.0f} s")

        done = st.api().actions.wait(action.id, timeout=timeout, on_poll=progress)
    if st.output == Output.TABLE and not st.quiet:
        err.print(
            f"action {done.id} ({done.type}) finished: {done.status} in {time.monotonic() - started:.1f} s"
        )
    return done


Wait = Annotated[bool, typer.Option("--wait", help="Wait until the action finishes")]
Timeout = Annotated[float, typer.Option(help="Seconds --wait waits (exit 3 after)")]


# Servers ---------------------------------------------------------------------------------


def parse_labels(given: list[str]) -> dict[str, str]:
    """--label k=v options as a map (the API checks the keys and values)."""
    labels: dict[str, str] = {}
    for item in given:
        key, equals, value = item.partition("=")
        if not equals or not key:
            fail(f"--label {item!r}: give key=value (key= for an empty value)", EXIT_USAGE)
        if key in labels:
            fail(f"--label {key!r} is given twice", EXIT_USAGE)
        labels[key] = value
    return labels


@servers_app.command("list")
def servers_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only servers in this status")] = None,
    location: Annotated[str | None, typer.Option(help="Only servers in this location")] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(help="Only servers with this label: k=v, k!=v, k (has it) or !k (has not); repeatable"),
    ] = None,
) -> None:
    """Every server of your account (all pages)."""
    selector = ",".join(label) if label else None
    render(
        ctx,
        lambda api: api.servers.list(status=status, location=location, label_selector=selector),
        SERVER_COLUMNS,
    )


@servers_app.command("get")
def servers_get(ctx: typer.Context, server_id: ServerId) -> None:
    """One server, with usage."""
    render(ctx, lambda api: api.servers.get(server_id), SERVER_DETAIL)


def read_user_data(path: Path | None) -> str | None:
    """The user data file's text ('-': standard input), refused in words if unreadable."""
    if path is None:
        return None
    try:
        return sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise typer.BadParameter(f"cannot read {path}: {e}", param_hint="--user-data-file") from e


@servers_app.command("create")
def servers_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Server name")],
    plan: PlanId,
    location: Annotated[str, typer.Option(help="Location code (vps locations list)")],
    os_id: OsId = None,
    from_snapshot: Annotated[
        int | None,
        typer.Option(
            "--from-snapshot",
            metavar="SNAPSHOT",
            help="Copy the disk and OS of one of your snapshots (vps snapshots list), instead of --os",
        ),
    ] = None,
    hostname: Annotated[
        str | None, typer.Option(help="A single label (web01) or an FQDN; default: the name")
    ] = None,
    ssh_key: SshKeyIds = None,
    backups: Annotated[bool, typer.Option("--backups", help="Enable backups (+20%)")] = False,
    label: Annotated[
        list[str] | None, typer.Option(help="A label k=v (k= for an empty value); repeatable")
    ] = None,
    user_data_file: Annotated[
        Path | None,
        typer.Option(
            help="Cloud-init user data to run on first boot (#cloud-config, a script, ...); "
            "at most 64 KiB; '-' reads standard input"
        ),
    ] = None,
    wait: Wait = False,
    timeout: Timeout = 900.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the order and show its price; create nothing")
    ] = False,
) -> None:
    """Order a server. With --wait, return when it is active; with --dry-run, show what it
    would cost, or why it would be refused, and create nothing."""
    st = state(ctx)
    if (os_id is None) == (from_snapshot is None):
        fail("give --os IMAGE or --from-snapshot SNAPSHOT (one of the two)", EXIT_USAGE)
    labels = parse_labels(label or [])
    user_data = read_user_data(user_data_file)
    with api_errors():
        api = st.api()
        if dry_run:
            quote = api.servers.create(
                name,
                plan,
                os_id,
                location,
                snapshot_id=from_snapshot,
                hostname=hostname,
                ssh_key_ids=ssh_key,
                backups_enabled=backups,
                labels=labels,
                user_data=user_data,
                dry_run=True,
            )
            show(st, quote, DRY_RUN_COLUMNS, id_of="would_create")
            return
        server = api.servers.create(
            name,
            plan,
            os_id,
            location,
            snapshot_id=from_snapshot,
            hostname=hostname,
            ssh_key_ids=ssh_key,
            backups_enabled=backups,
            labels=labels,
            user_data=user_data,
        )
        if wait:
            assert server.action is not None
            wait_for(st, api.actions.get(server.action.id), timeout)
            server = api.servers.get(server.id)
        show(st, server, SERVER_DETAIL)


@servers_app.command("update")
def servers_update(
    ctx: typer.Context,
    server_id: ServerId,
    name: Annotated[str | None, typer.Option(help="New name")] = None,
    hostname: Annotated[
        str | None, typer.Option(help="New hostname: a single label (web01) or an FQDN")
    ] = None,
    backups: Annotated[bool | None, typer.Option("--backups/--no-backups", help="Backups on or off")] = None,
) -> None:
    """Change a server's name, hostname or backups."""
    st = state(ctx)
    if name is None and hostname is None and backups is None:
        fail("nothing to change: give --name, --hostname or --backups/--no-backups", EXIT_USAGE)
    with api_errors():
        show(
            st,
            st.api().servers.update(server_id, name=name, hostname=hostname, backups_enabled=backups),
            SERVER_DETAIL,
        )


@servers_app.command("delete")
def servers_delete(
    ctx: typer.Context,
    server_id: ServerId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False,
) -> None:
    """Delete a server (and everything on it)."""
    st = state(ctx)
    if not yes and not typer.confirm(f"Delete server {server_id} and all its data?"):
        raise typer.Exit(EXIT_USAGE)
    with api_errors():
        st.api().servers.delete(server_id)
    if not st.quiet and st.output == Output.TABLE:
        err.print(f"server {server_id} deleted")


def _power(ctx: typer.Context, server_id: int, verb: str, wait: bool, timeout: float) -> None:
    st = state(ctx)
    with api_errors():
        action = getattr(st.api().servers, verb)(server_id)
        if wait:
            action = wait_for(st, action, timeout)
        show(st, action, ACTION_COLUMNS)


@servers_app.command("start")
def servers_start(
    ctx: typer.Context, server_id: ServerId, wait: Wait = False, timeout: Timeout = 900.0
) -> None:
    """Start a stopped server."""
    _power(ctx, server_id, "start", wait, timeout)


@servers_app.command("stop")
def servers_stop(
    ctx: typer.Context, server_id: ServerId, wait: Wait = False, timeout: Timeout = 900.0
) -> None:
    """Shut a running server down."""
    _power(ctx, server_id, "stop", wait, timeout)


@servers_app.command("reboot")
def servers_reboot(
    ctx: typer.Context, server_id: ServerId, wait: Wait = False, timeout: Timeout = 900.0
) -> None:
    """Restart a running server."""
    _power(ctx, server_id, "reboot", wait, timeout)


# Catalog, keys, actions -----------------------------------------------------------


@plans_app.command("list")
def plans_list(ctx: typer.Context) -> None:
    columns: Columns = [
        ("id", lambda p: p["id"]),
        ("name", lambda p: p["name"]),
        ("vcpus", lambda p: p["vcpus"]),
        ("memory MiB", lambda p: p["memory"]),
        ("disk GB", lambda p: p["storage"]),
        ("month", lambda p: f"{p['price_monthly']} {p.get('currency', '')}"),
        ("hour", lambda p: p["price_hourly"]),
    ]
    render(ctx, lambda api: api.plans.list(), columns)


@os_app.command("list")
def os_list(ctx: typer.Context) -> None:
    columns: Columns = [("id", lambda o: o["id"]), ("slug", os_slug), ("name", lambda o: o["name"])]
    render(ctx, lambda api: api.os.list(), columns)


@locations_app.command("list")
def locations_list(ctx: typer.Context) -> None:
    columns: Columns = [
        ("code", lambda x: x["code"]),
        ("name", lambda x: x["name"]),
        ("country", lambda x: x["country"]),
    ]
    render(ctx, lambda api: api.locations.list(), columns, id_of="code")


# A private key file's armour (PEM, PKCS#8, OpenSSH's format) or PuTTY's .ppk header: refused
# here so that it is never sent (the API refuses it too).
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|PuTTY-User-Key-File-")
KEY_COLUMNS: Columns = [
    ("id", lambda k: k["id"]),
    ("name", lambda k: k["name"]),
    ("fingerprint", lambda k: k["fingerprint"]),
]


@keys_app.command("list")
def keys_list(ctx: typer.Context) -> None:
    render(ctx, lambda api: api.ssh_keys.list(), KEY_COLUMNS)


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="A name for the key")],
    public_key: Annotated[str | None, typer.Option(help="The OpenSSH public key line")] = None,
    public_key_file: Annotated[
        Path | None, typer.Option(help="...or a file holding it (e.g. ~/.ssh/id_ed25519.pub)")
    ] = None,
) -> None:
    """Upload an SSH public key."""
    st = state(ctx)
    if (public_key is None) == (public_key_file is None):
        fail("give exactly one of --public-key and --public-key-file", EXIT_USAGE)
    if public_key_file is not None:
        try:
            public_key = public_key_file.read_text().strip()
        except OSError as exc:
            fail(f"cannot read {public_key_file}: {exc.strerror}", EXIT_USAGE)
    assert public_key is not None
    if PRIVATE_KEY.search(public_key):
        pub = f" ({public_key_file}.pub)" if public_key_file is not None else ""
        fail(f"this is a private key; give the .pub file{pub}: never upload the private key", EXIT_USAGE)
    with api_errors():
        show(st, st.api().ssh_keys.create(name, public_key), KEY_COLUMNS)


@keys_app.command("delete")
def keys_delete(ctx: typer.Context, key_id: int) -> None:
    st = state(ctx)
    with api_errors():
        st.api().ssh_keys.delete(key_id)
    if not st.quiet and st.output == Output.TABLE:
        err.print(f"SSH key {key_id} deleted")


@actions_app.command("list")
def actions_list(ctx: typer.Context, server: ServerOption) -> None:
    """A server's actions, oldest first."""
    render(ctx, lambda api: api.servers.actions(server), ACTION_COLUMNS)


@actions_app.command("get")
def actions_get(ctx: typer.Context, action_id: int) -> None:
    render(ctx, lambda api: api.actions.get(action_id), ACTION_COLUMNS)


@app.command("login")
def login(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(help="API base URL")] = None,
    token: Annotated[str | None, typer.Option(help="API token (asked for when omitted)")] = None,
) -> None:
    """Check a URL and token against the API and save them (mode 0600) for later commands.

    With stdin not a terminal (`echo $TOKEN | vps login --url URL`), the token is its first
    line and the URL must be given (--url or VPS_URL): nothing is asked."""
    st = state(ctx)
    url = url or st.url or os.environ.get("VPS_URL")
    token = token or st.token
    if sys.stdin.isatty():
        url = url or typer.prompt("API URL")
        token = token or typer.prompt("API token", hide_input=True)
    else:
        if not url:
            fail("no API URL: give --url (or set VPS_URL) when the token comes from stdin", EXIT_USAGE)
        token = token or sys.stdin.readline().strip()
        if not token:
            fail("no token: stdin was empty (pipe the token in, or give --token)", EXIT_USAGE)
    with api_errors():
        who = Client(url, token).account.get()
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"url": url, "token": token}, f)
    os.chmod(path, 0o600)
    err.print(f"logged in as {who.email}; saved to {path}")


# Snapshots: a module of their own (this one is long), registered here, where the app is.
from vpsorg.client.cli_snapshots import snapshots_app  # noqa: E402

app.add_typer(snapshots_app, name="snapshots")
from vpsorg.client.cli_webhooks import webhooks_app  # noqa: E402

app.add_typer(webhooks_app, name="webhooks")
# Commands kept in modules of their own, registered on the apps above when imported.
from vpsorg.client import cli_console, cli_rebuild, cli_resize  # noqa: E402, F401
from vpsorg.client.cli_events import events_app  # noqa: E402

app.add_typer(events_app, name="events")


def main() -> None:
    app(prog_name="vps")


if __name__ == "__main__":
    main()
