"""Operator commands: migrate, catalog, accounts, tokens, hosts, servers, audit, serve, worker.

The changes made here to accounts, tokens, hosts and servers are recorded in the audit log
(vpsorg.admin.audit) with no actor: the operator CLI runs on the control plane's machine,
with its database settings, and has no account."""

import asyncio
import json
import logging
import os
import re
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg import (
    __version__,
    models,  # noqa: F401  (every mapped table, for commands that write)
)
from vpsorg import migrate as migrations
from vpsorg.accounts import limits, logins
from vpsorg.accounts import service as accounts
from vpsorg.accounts.service import Scope
from vpsorg.admin import accounts as operators
from vpsorg.admin import audit
from vpsorg.admin import service as admin
from vpsorg.billing.models import EntryKind
from vpsorg.catalog import service as catalog
from vpsorg.config import Settings, masked
from vpsorg.db import is_sqlite, make_engine, make_sessionmaker, run_transaction
from vpsorg.errors import AppError
from vpsorg.hosts import service as hosts
from vpsorg.pagination import PageParams
from vpsorg.servers.states import ServerStatus
from vpsorg.tokens import service as tokens

app = typer.Typer(help="Operate a vpsorg control plane.", no_args_is_help=True, add_completion=False)
catalog_app = typer.Typer(help="Plans, operating systems and locations.", no_args_is_help=True)
accounts_app = typer.Typer(help="Customer accounts.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(accounts_app, name="accounts")
app.add_typer(tokens_app, name="tokens")
hosts_app = typer.Typer(help="Hypervisor hosts: capacity, state, drains.", no_args_is_help=True)
servers_app = typer.Typer(help="Every account's servers: where they are, migrations.", no_args_is_help=True)
app.add_typer(hosts_app, name="hosts")
app.add_typer(servers_app, name="servers")
audit_app = typer.Typer(help="The audit log: what operators did.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


def _print_version(value: bool) -> None:
    if value:
        print(f"vpsorg {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit"),
    ] = False,
) -> None:
    """Operate a vpsorg control plane."""


err = Console(stderr=True)
T = TypeVar("T")
DEMO_EMAIL = "demo@vpsorg.local"
DEMO_CREDIT = Decimal("1000.00")
DEMO_TOKEN_FILE = "vpsorg-demo-token"
# The demo's operator: the same password, and the panel's /admin/ pages.
DEMO_OPERATOR_EMAIL = "operator@vpsorg.local"
DEMO_PASSWORD_FILE = "vpsorg-demo-password"


def _fail(message: str) -> NoReturn:
    """One line on stderr, exit status 1."""
    err.print(f"[red]error:[/red] {escape(' '.join(message.split()))}", soft_wrap=True)
    raise typer.Exit(1)


def _settings() -> Settings:
    """Settings from the environment; a bad value is one line naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:  # the messages, never the input (it may hold a password)
        problems = [
            (f"VPSORG_{'_'.join(str(p) for p in e['loc']).upper()}", e["msg"].removeprefix("Value error, "))
            for e in exc.errors()
        ]
        _fail("; ".join(f"{name}: {message}" for name, message in problems))


# What a wrong, unreachable or refusing database raises: SQLAlchemy's errors (the driver's
# inside), OSError from the network, ImportError for a driver that is not installed.
DATABASE_ERRORS = (SQLAlchemyError, OSError, ImportError)


def _missing_directory(settings: Settings) -> Path | None:
    """The directory a SQLite database file would be in, when it does not exist."""
    if is_sqlite(settings.database_url):
        path = make_url(settings.database_url).database
        if path and path != ":memory:" and not path.startswith("file:") and not Path(path).parent.is_dir():
            return Path(path).parent
    return None


def _cause(settings: Settings, exc: BaseException) -> str:
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = re.sub(r"\(Background on this error at: \S+\)", "", str(cause)) or type(cause).__name__
    return text.replace(settings.database_url, masked(settings.database_url))


@contextmanager
def _database(settings: Settings) -> Iterator[None]:
    """Database failures as one line naming the (masked) URL and the cause; exit 1."""
    missing = _missing_directory(settings)
    if missing is not None:  # checked first: aiosqlite's failed connect is noisy
        where = masked(settings.database_url)
        _fail(f"cannot use the database {where}: the directory {missing} does not exist")
    try:
        yield
    except migrations.SchemaOutOfDate as exc:
        _fail(str(exc))
    except DATABASE_ERRORS as exc:
        _fail(f"cannot use the database {masked(settings.database_url)}: {_cause(settings, exc)}")


def _check_schema(settings: Settings) -> None:
    """Exit 1 with one line unless the database answers and is at the code's schema."""
    with _database(settings):
        migrations.check(settings)


def _prepare_schema(settings: Settings, *, migrate: bool) -> None:
    """serve and worker: with --migrate upgrade the schema, then refuse a database not at it."""
    if migrate:
        with _database(settings):
            migrations.upgrade(settings)
        err.print(f"migrated {masked(settings.database_url)}: the schema is up to date", soft_wrap=True)
    _check_schema(settings)


def _in_transaction(settings: Settings, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run fn in one committed transaction; AppErrors and database failures become a
    one-line message and exit 1."""
    _check_schema(settings)
    try:
        with _database(settings):
            return run_transaction(settings, fn)
    except AppError as exc:
        _fail(exc.message)


def _setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (idempotent)."""
    settings = _settings()
    with _database(settings):
        migrations.upgrade(settings)
    err.print(f"migrated {masked(settings.database_url)}: the schema is up to date", soft_wrap=True)


@catalog_app.command("load")
def catalog_load(
    file: Annotated[
        Path | None, typer.Argument(help="YAML or JSON catalog; the default catalog if omitted")
    ] = None,
    default_hosts: Annotated[
        bool,
        typer.Option(
            help="Give each location without a host its default one (named after it, driven by VPSORG_DRIVER)"
        ),
    ] = True,
) -> None:
    """Load plans, operating systems and locations (insert or update)."""
    try:
        data = catalog.read_catalog(file)
    except Exception as exc:  # a bad file is the operator's error: say what, not a traceback
        # One line: parser and pydantic messages span several; escape() keeps their [...] visible.
        message = " ".join(f"cannot read catalog {file}: {exc}".split())
        err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
        raise typer.Exit(1) from None
    try:
        counts = _in_transaction(
            _settings(), lambda s: catalog.load_catalog(s, catalog=data, default_hosts=default_hosts)
        )
    except catalog.CatalogError as exc:  # the file contradicts the database: nothing loaded
        err.print(f"[red]error:[/red] {escape(f'cannot load catalog {file}: {exc}')}", soft_wrap=True)
        raise typer.Exit(1) from None
    print(
        f"loaded {counts['plans']} plans, {counts['operating_systems']} operating systems, "
        f"{counts['locations']} locations"
    )


def _parse_credit(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise typer.BadParameter(f"not a number: {value}") from None


def _password_from_stdin() -> str:
    """The password on standard input's first line (never an argument: argv is public)."""
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        logins.check_password(password)
    except AppError as exc:
        _fail(f"password: {exc.message}")
    return password


@accounts_app.command("create")
def accounts_create(
    email: Annotated[str, typer.Option(help="The customer's email address")],
    credit: Annotated[str, typer.Option(help="Starting credit in USD")] = "0",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read a web panel password from standard input")
    ] = False,
    admin: Annotated[
        bool, typer.Option("--admin", help="An operator: may use the panel's /admin/ pages")
    ] = False,
) -> None:
    """Create an account; the last line printed is its id."""
    amount = _parse_credit(credit)
    password = _password_from_stdin() if password_stdin else None

    async def create(session: AsyncSession) -> Any:
        account = await operators.create_account(session, email=email, credit=amount, actor_id=None)
        if password is not None:
            await operators.set_password(session, account_id=account.id, password=password, actor_id=None)
        if admin:
            await operators.set_operator(session, account_id=account.id, admin=True, actor_id=None)
        return account

    account = _in_transaction(_settings(), create)
    err.print(f"created account {account.email} with a balance of {account.balance:.2f} USD")
    print(account.id)


@accounts_app.command("set-password")
def accounts_set_password(account: Annotated[int, typer.Option(help="Account id")]) -> None:
    """Set an account's web panel password from standard input; its open sessions end."""
    password = _password_from_stdin()
    _in_transaction(
        _settings(), lambda s: operators.set_password(s, account_id=account, password=password, actor_id=None)
    )
    err.print(f"password set for account {account}; its panel sessions have ended")


@accounts_app.command("set-admin")
def accounts_set_admin(
    account: Annotated[int, typer.Option(help="Account id")],
    revoke: Annotated[bool, typer.Option("--revoke", help="Take the operator role away")] = False,
) -> None:
    """Make an account an operator of the web panel (or, with --revoke, no longer one)."""
    _in_transaction(
        _settings(), lambda s: operators.set_operator(s, account_id=account, admin=not revoke, actor_id=None)
    )
    err.print(f"account {account} {'is no longer' if revoke else 'is now'} an operator")


@accounts_app.command("credit")
def accounts_credit(
    account: Annotated[int, typer.Option(help="Account id")],
    amount: Annotated[str, typer.Option(help="USD, at most two decimals; negative to debit")],
    reason: Annotated[str, typer.Option(help="Why; shown to the customer in the ledger")],
    kind: Annotated[
        EntryKind | None,
        typer.Option(help="Ledger entry kind (default: top_up if positive, adjustment if negative)"),
    ] = None,
) -> None:
    """Add or take away credit (a ledger entry); the last line printed is the new balance.

    Crossing zero suspends or unsuspends the account's servers, as billing does."""
    value = _parse_credit(amount)
    entry = _in_transaction(
        _settings(),
        lambda s: operators.credit(
            s, account_id=account, amount=value, reason=reason, kind=kind, actor_id=None
        ),
    )
    err.print(f"{entry.kind} of {entry.amount:.2f} USD recorded (ledger entry {entry.id})")
    print(f"{entry.balance_after:.2f}")


def _parse_limit(option: str, value: str | None) -> tuple[bool, int | None]:
    """(given, limit) of a --servers/--ssh-keys value: a number, or `default` (None)."""
    if value is None:
        return False, None
    if value.strip().lower() == "default":
        return True, None
    try:
        return True, int(value)
    except ValueError:
        raise typer.BadParameter(f"not a number or 'default': {value}", param_hint=option) from None


@accounts_app.command("limits")
def accounts_limits(
    account: Annotated[int, typer.Option(help="Account id")],
    servers: Annotated[
        str | None, typer.Option(help="Servers the account may have: a number, or 'default'")
    ] = None,
    ssh_keys: Annotated[
        str | None, typer.Option(help="SSH keys the account may have: a number, or 'default'")
    ] = None,
) -> None:
    """Show an account's quotas, or set them (`default`: the VPSORG_DEFAULT_*_LIMIT setting).

    Prints one line per resource: its name, used, limit, and whether the limit is the default."""
    settings = _settings()
    defaults = limits.Defaults.from_settings(settings)
    changes = {}
    for resource, option, value in (
        (limits.Resource.SERVERS, "--servers", servers),
        (limits.Resource.SSH_KEYS, "--ssh-keys", ssh_keys),
    ):
        given, limit = _parse_limit(option, value)
        if given:
            changes[resource] = limit

    async def run(session: AsyncSession) -> dict[str, Any]:
        if changes:
            return await operators.set_limits(
                session, account_id=account, changes=changes, defaults=defaults, actor_id=None
            )
        return await limits.usage(session, account_id=account, defaults=defaults)

    for name, row in _in_transaction(settings, run).items():
        origin = "default" if row["override"] is None else "this account's"
        print(f"{name} used {row['used']} limit {row['limit']} ({origin})")


@tokens_app.command("create")
def tokens_create(
    account: Annotated[int, typer.Option(help="Account id")],
    scope: Annotated[
        Scope, typer.Option(help="read: GET only; write: the customer API; admin: also /api/v1/admin/")
    ] = Scope.WRITE,
    name: Annotated[str, typer.Option(help="What the token is for (shown in lists)")] = "cli",
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, max=3650, help="Days until it stops working (default: never)")
    ] = None,
) -> None:
    """Create an API token; the last line printed is the token (shown only this once)."""
    token = _in_transaction(
        _settings(),
        lambda s: operators.create_token(
            s, account_id=account, scope=scope, name=name, expires_in_days=expires_in_days, actor_id=None
        ),
    )
    err.print("store this token now; it cannot be shown again")
    print(token)


def _when(value: datetime | None, default: str) -> str:
    return default if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


@tokens_app.command("list")
def tokens_list(account: Annotated[int, typer.Option(help="Account id")]) -> None:
    """The account's tokens (never their secrets), as a table."""
    rows = _in_transaction(_settings(), lambda s: tokens.all_tokens(s, account_id=account))
    table = [("ID", "NAME", "SCOPE", "CREATED", "LAST USED", "EXPIRES")]
    table += [
        (
            str(t.id),
            t.name,
            t.scope,
            _when(t.created_at, ""),
            _when(t.last_used_at, "never"),
            _when(t.expires_at, "never"),
        )
        for t in rows
    ]
    _print_table(table)


def _print_table(table: Sequence[Sequence[str]]) -> None:
    """Columns padded to their widest cell, two spaces apart; the first row is the header."""
    widths = [max(len(cell) for cell in column) for column in zip(*table, strict=True)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument(metavar="ID", help="Token id")]) -> None:
    """Revoke a token (of any account): it stops working at once."""
    _in_transaction(_settings(), lambda s: operators.revoke_token(s, token_id=token_id, actor_id=None))
    err.print(f"revoked token {token_id}")


@accounts_app.command("list")
def accounts_list(
    email: Annotated[str | None, typer.Option(help="Only those whose email contains this (any case)")] = None,
    suspended: Annotated[
        bool | None,
        typer.Option("--suspended/--not-suspended", help="Only suspended accounts, or the others"),
    ] = None,
) -> None:
    """Every account, as a table: id, email, balance, live servers, created, suspended (when)."""
    settings = _settings()
    filters = limits.AccountFilter(email=email, suspended=suspended)
    defaults = limits.Defaults.from_settings(settings)
    _, rows = _in_transaction(
        settings, lambda s: limits.list_accounts(s, filters=filters, page=None, defaults=defaults)
    )
    table = [("ID", "EMAIL", "BALANCE", "SERVERS", "CREATED", "SUSPENDED")]
    table += [
        (
            str(a["id"]),
            a["email"],
            f"{a['balance']:.2f}",
            str(a["servers"]),
            _when(a["created_at"], ""),
            _when(a["suspended_at"], "-"),
        )
        for a in rows
    ]
    _print_table(table)


def _suspension(verb: str, account: int, reason: str) -> None:
    settings = _settings()
    defaults = limits.Defaults.from_settings(settings)
    change = operators.suspend if verb == "suspend" else operators.unsuspend
    done = _in_transaction(
        settings,
        lambda s: change(s, account_id=account, reason=reason, defaults=defaults, actor_id=None),
    )
    for action in done.actions:
        print(f"server {action.server_id}: {action.type} queued (action {action.id})")
    state = "suspended" if done.account["suspended_at"] is not None else "not suspended"
    print(f"account {account} is {state}: {len(done.actions)} actions queued")


@accounts_app.command("suspend")
def accounts_suspend(
    account: Annotated[int, typer.Option(help="Account id")],
    reason: Annotated[str, typer.Option(help="Why; shown to the customer")],
) -> None:
    """Suspend an account: every server of it is suspended and its creates are refused until
    it is unsuspended. Prints a line per action queued; suspending again changes nothing."""
    _suspension("suspend", account, reason)


@accounts_app.command("unsuspend")
def accounts_unsuspend(
    account: Annotated[int, typer.Option(help="Account id")],
    reason: Annotated[str, typer.Option(help="Why")] = "by an operator",
) -> None:
    """Lift an account's suspension: its servers go back to their power state while its balance
    is above zero (else billing keeps them suspended until a credit). An operator's suspension
    of a single server stays."""
    _suspension("unsuspend", account, reason)


# -- hosts ----------------------------------------------------------------------------------


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    s = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit} ago"
    return f"{s}s ago"


@hosts_app.command("add")
def hosts_add(
    name: Annotated[str, typer.Argument(help="The host's name (unique)")],
    location: Annotated[str, typer.Option(help="The code of its location")],
    driver: Annotated[str, typer.Option(help="simulator or libvirt")],
    vcpus: Annotated[int, typer.Option(help="Its CPUs")],
    memory_mib: Annotated[int, typer.Option(help="Its memory, MiB")],
    disk_gb: Annotated[int, typer.Option(help="Its disk for machines, GB")],
    uri: Annotated[
        str | None, typer.Option(help="libvirt connection URI (default: VPSORG_LIBVIRT_URI)")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(help="Directory of the machines' disks (default: VPSORG_LIBVIRT_STORAGE_DIR)"),
    ] = None,
    network: Annotated[str | None, typer.Option(help="libvirt network of the guests")] = None,
    bridge: Annotated[
        str | None, typer.Option(help="Host bridge of the guests (instead of a network)")
    ] = None,
    cpu_overcommit: Annotated[float, typer.Option(help="vCPUs placed per CPU")] = 4.0,
    memory_overcommit: Annotated[float, typer.Option(help="Memory placed per MiB")] = 1.0,
    disk_overcommit: Annotated[float, typer.Option(help="Disk placed per GB")] = 1.0,
) -> None:
    """Add a hypervisor host to a location (enabled: it takes new servers at once); the last
    line printed is its id."""
    new = hosts.NewHost(
        name=name,
        location=location,
        driver=driver,
        vcpus=vcpus,
        memory_mib=memory_mib,
        disk_gb=disk_gb,
        uri=uri,
        storage=storage,
        network=network,
        bridge=bridge,
        cpu_overcommit=cpu_overcommit,
        memory_overcommit=memory_overcommit,
        disk_overcommit=disk_overcommit,
    )
    host = _in_transaction(_settings(), lambda s: admin.add_host(s, new, actor_id=None))
    err.print(f"added host {host.name} in {location} ({driver}), enabled")
    print(host.id)


@hosts_app.command("update")
def hosts_update(
    name: Annotated[str, typer.Argument(help="The host's name")],
    vcpus: Annotated[int | None, typer.Option(help="Its CPUs")] = None,
    memory_mib: Annotated[int | None, typer.Option(help="Its memory, MiB")] = None,
    disk_gb: Annotated[int | None, typer.Option(help="Its disk for machines, GB")] = None,
    cpu_overcommit: Annotated[float | None, typer.Option(help="vCPUs placed per CPU")] = None,
    memory_overcommit: Annotated[float | None, typer.Option(help="Memory placed per MiB")] = None,
    disk_overcommit: Annotated[float | None, typer.Option(help="Disk placed per GB")] = None,
) -> None:
    """Set a host's capacity and overcommit ratios (e.g. a default host's real size)."""
    given = {
        "vcpus": vcpus,
        "memory_mib": memory_mib,
        "disk_gb": disk_gb,
        "cpu_overcommit": cpu_overcommit,
        "memory_overcommit": memory_overcommit,
        "disk_overcommit": disk_overcommit,
    }
    changes = {k: v for k, v in given.items() if v is not None}
    if not changes:
        _fail(
            "give at least one of --vcpus, --memory-mib, --disk-gb, "
            "--cpu-overcommit, --memory-overcommit, --disk-overcommit"
        )

    async def run(session: AsyncSession) -> Any:
        host = await hosts.get_host(session, name=name)
        return await admin.update_host(session, host_id=host.id, changes=changes, actor_id=None)

    host = _in_transaction(_settings(), run)
    err.print(
        f"host {host.name}: {host.vcpus} vCPUs (x{host.cpu_overcommit:g}), {host.memory_mib} MiB "
        f"(x{host.memory_overcommit:g}), {host.disk_gb} GB (x{host.disk_overcommit:g})"
    )


def _used(used: int, total: int, ratio: float) -> str:
    return f"{used}/{int(total * ratio)}"


@hosts_app.command("list")
def hosts_list() -> None:
    """The hosts, as a table: state (`down` when its worker has not been heard from within
    VPSORG_HOST_DOWN_SECONDS), heartbeat age, used/room of vCPUs, memory (MiB) and disk (GB),
    where room is the capacity times the overcommit ratio, and the servers on it."""
    settings = _settings()
    _, rows = _in_transaction(
        settings, lambda s: admin.list_hosts(s, page=None, down_after=settings.host_down_seconds)
    )
    now = datetime.now(UTC)
    table = [("NAME", "LOCATION", "STATE", "HEARTBEAT", "VCPU USED/ROOM", "MEMORY MIB", "DISK GB", "SERVERS")]
    for h in rows:
        beat = h["heartbeat_at"]
        table.append(
            (
                h["name"],
                h["location"],
                "down" if h["down"] else h["state"],
                _age(None if beat is None else (now - beat).total_seconds()),
                _used(h["used_vcpus"], h["vcpus"], h["cpu_overcommit"]),
                _used(h["used_memory_mib"], h["memory_mib"], h["memory_overcommit"]),
                _used(h["used_disk_gb"], h["disk_gb"], h["disk_overcommit"]),
                str(h["servers"]),
            )
        )
    _print_table(table)
    err.print("room = capacity x overcommit ratio (vpsorg hosts update)")


def _set_host_state(name: str, state: hosts.HostState) -> None:
    settings = _settings()

    async def run(session: AsyncSession) -> Any:
        host = await hosts.get_host(session, name=name)
        return await admin.set_host_state(
            session, host_id=host.id, state=state, down_after=settings.host_down_seconds, actor_id=None
        )

    _in_transaction(settings, run)
    err.print(f"host {name} is {state}")


@hosts_app.command("enable")
def hosts_enable(name: Annotated[str, typer.Argument(help="The host's name")]) -> None:
    """Enable a host: it takes new servers."""
    _set_host_state(name, hosts.HostState.ENABLED)


@hosts_app.command("disable")
def hosts_disable(name: Annotated[str, typer.Argument(help="The host's name")]) -> None:
    """Disable a host: it takes no new servers (its servers stay)."""
    _set_host_state(name, hosts.HostState.DISABLED)


@hosts_app.command("drain")
def hosts_drain(name: Annotated[str, typer.Argument(help="The host's name")]) -> None:
    """Disable a host and migrate every server away, one at a time (placement chooses where);
    it becomes disabled once none is left. Prints a line per server: its migration queued,
    or why it stays."""
    settings = _settings()
    policy = hosts.Policy(settings.placement)

    async def run(session: AsyncSession) -> Any:
        host = await hosts.get_host(session, name=name)
        return await admin.drain_host(
            session, host_id=host.id, policy=policy, down_after=settings.host_down_seconds, actor_id=None
        )

    host, drained = _in_transaction(settings, run)
    for server, action in drained.queued:
        print(f"server {server.id}: migration queued (action {action.id})")
    for server, error in drained.failed:
        print(f"server {server.id}: stays: {error}")
    print(
        f"host {name} is {host['state']}: {len(drained.queued)} migrations queued, "
        f"{len(drained.failed)} servers stay"
    )


@hosts_app.command("remove")
def hosts_remove(name: Annotated[str, typer.Argument(help="The host's name")]) -> None:
    """Remove a host; refused while it holds servers (drain it first)."""

    async def run(session: AsyncSession) -> None:
        host = await hosts.get_host(session, name=name)
        await admin.remove_host(session, host_id=host.id, actor_id=None)

    _in_transaction(_settings(), run)
    err.print(f"removed host {name}")


# -- servers --------------------------------------------------------------------------------


@servers_app.command("list")
def servers_list(
    account: Annotated[int | None, typer.Option(help="Only this account's")] = None,
    host: Annotated[str | None, typer.Option(help="Only those on this host")] = None,
    status: Annotated[ServerStatus | None, typer.Option(help="Only those in this status")] = None,
    location: Annotated[str | None, typer.Option(help="Only those in this location (its code)")] = None,
) -> None:
    """Every account's servers (not deleted), as a table."""
    filters = admin.ServerFilter(account_id=account, host=host, status=status, location=location)
    _, rows = _in_transaction(_settings(), lambda s: admin.list_servers(s, filters=filters, page=None))
    table = [("ID", "ACCOUNT", "NAME", "STATUS", "HOST", "LOCATION", "IPV4", "PLAN")]
    table += [
        (
            str(r["id"]),
            str(r["account_id"]),
            r["name"],
            r["status"],
            r["host"] or "-",
            r["location"],
            r["ip_address"] or "-",
            r["plan"]["name"],
        )
        for r in rows
    ]
    _print_table(table)


@servers_app.command("show")
def servers_show(server_id: Annotated[int, typer.Argument(metavar="ID", help="Server id")]) -> None:
    """A server: its account, host, status, addresses, and its latest actions with their errors."""
    r = _in_transaction(_settings(), lambda s: admin.server_detail(s, server_id=server_id))
    for label, value in (
        ("id", r["id"]),
        ("name", r["name"]),
        ("hostname", r["hostname"]),
        ("account", r["account_id"]),
        ("status", r["status"]),
        ("power", r["power_state"]),
        ("host", r["host"] or "-"),
        ("location", r["location"]),
        ("plan", r["plan"]["name"]),
        ("ipv4", r["ip_address"] or "-"),
        ("ipv6", r["ipv6_address"] or "-"),
        ("error", r["error"] or "-"),
    ):
        print(f"{label + ':':<10}{value}")
    print("actions (newest first):")
    table = [("ID", "TYPE", "STATUS", "CREATED", "FINISHED", "ERROR")]
    table += [
        (
            str(a.id),
            a.type,
            a.status,
            _when(a.created_at, ""),
            _when(a.finished_at, "-"),
            " ".join((a.error or "-").split()),
        )
        for a in r["actions"]
    ]
    _print_table(table)


@servers_app.command("migrate")
def servers_migrate(
    server_id: Annotated[int, typer.Argument(metavar="ID", help="Server id")],
    to: Annotated[
        str | None, typer.Option("--to", help="The host to move to; default: placement chooses")
    ] = None,
) -> None:
    """Move a server to another host of its location (a cold migration: stopped, moved, started
    again if it was running); the last line printed is the action's id."""
    settings = _settings()
    policy = hosts.Policy(settings.placement)
    server, action, target = _in_transaction(
        settings,
        lambda s: admin.migrate_server(s, server_id=server_id, to=to, policy=policy, actor_id=None),
    )
    err.print(f"server {server.id} is migrating to host {target.name}")
    print(action.id)


# -- audit ----------------------------------------------------------------------------------


@audit_app.command("list")
def audit_list(
    action: Annotated[audit.AuditAction | None, typer.Option(help="Only this action")] = None,
    target_type: Annotated[audit.TargetType | None, typer.Option(help="Only actions on this kind")] = None,
    target_id: Annotated[int | None, typer.Option(help="Only actions on the object with this id")] = None,
    actor: Annotated[int | None, typer.Option(help="Only this operator's (account id)")] = None,
    limit: Annotated[int, typer.Option(min=1, help="The newest N entries")] = 50,
) -> None:
    """The audit log, newest first: when, who (an operator's email, or `cli`), what, on what,
    and the details as JSON."""
    filters = audit.AuditFilter(action=action, actor_id=actor, target_type=target_type, target_id=target_id)
    page = PageParams(page=1, page_size=limit)
    _, rows = _in_transaction(_settings(), lambda s: audit.list_entries(s, filters=filters, page=page))
    table = [("ID", "WHEN", "ACTOR", "ACTION", "TARGET", "DETAILS")]
    table += [
        (
            str(e["id"]),
            _when(e["created_at"], ""),
            e["actor_email"] or (f"#{e['actor_id']}" if e["actor_id"] is not None else "cli"),
            e["action"],
            f"{e['target_type']}:{e['target_id']}",
            json.dumps(e["details"], separators=(",", ":"), sort_keys=True),
        )
        for e in rows
    ]
    _print_table(table)


def demo_token_path(database_url: str) -> Path:
    """Where `serve --demo` keeps its token: beside the SQLite file, else in the current directory."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).parent / DEMO_TOKEN_FILE
    return Path(DEMO_TOKEN_FILE)


def _read_secret(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _write_secret(path: Path, secret: str) -> None:
    """Replace the file atomically with one readable by its owner only (0600)."""
    tmp = path.with_name(f"{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    os.chmod(tmp, 0o600)  # an old tmp file keeps its mode through O_CREAT
    os.replace(tmp, path)


async def _demo(
    session: AsyncSession, saved: str | None, saved_password: str | None
) -> tuple[str, bool, str]:
    """Catalog, a demo account with credit and a demo operator on an empty database; the saved
    token while it still authenticates for the demo account, else a new one; the saved panel
    password while it still logs the demo account in, else a new one for both accounts
    (token, whether it is new, password)."""
    if not await catalog.list_plans(session):
        await catalog.load_catalog(session, catalog=catalog.read_catalog(None))
    account = await accounts.find_account(session, email=DEMO_EMAIL)
    if account is None:
        account = await accounts.create_account(session, email=DEMO_EMAIL, credit=DEMO_CREDIT)
    operator = await accounts.find_account(session, email=DEMO_OPERATOR_EMAIL)
    if operator is None:
        operator = await accounts.create_account(session, email=DEMO_OPERATOR_EMAIL, credit=Decimal(0))
        await logins.set_admin(session, account_id=operator.id, admin=True)
    password = saved_password
    if password is None or await logins.verify_login(session, email=DEMO_EMAIL, password=password) is None:
        password = secrets.token_urlsafe(12)
        for who in (account.id, operator.id):
            await logins.set_password(session, account_id=who, password=password)
    if saved is not None:
        use = await accounts.authenticate(session, token=saved)
        if use is not None and use.account_id == account.id:
            return saved, False, password
    return await accounts.create_token(session, account_id=account.id, name="demo"), True, password


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not run the worker in this process")
    ] = False,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Migrate, load the catalog, create a demo account and print a token (implies --migrate)",
        ),
    ] = False,
    migrate: Annotated[
        bool, typer.Option("--migrate", help="Create or upgrade the database schema first")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="API processes to run (each with its worker unless --no-worker)",
        ),
    ] = 1,
) -> None:
    """Serve the API (and, unless --no-worker, the worker) in one process, or in N.

    Refuses (exit 1) a database that is not at this version's schema, unless --migrate."""
    import uvicorn

    from vpsorg import edge
    from vpsorg.app import SERVE_PROCESSES_ENV, SERVE_WORKER_ENV, create_app

    settings = _settings()
    _prepare_schema(settings, migrate=migrate or demo)
    _setup_logging(settings)
    if demo:
        path = demo_token_path(settings.database_url)
        password_path = path.with_name(DEMO_PASSWORD_FILE)
        saved_password = _read_secret(password_path)
        token, new, password = _in_transaction(
            settings, lambda s: _demo(s, _read_secret(path), saved_password)
        )
        if new:
            _write_secret(path, token)
        if password != saved_password:
            _write_secret(password_path, password)
        base = f"http://{host}:{port}"
        print(
            f"\nDemo account: {DEMO_EMAIL}\nAPI token:    {token}\n"
            f"Token file:   {path} ({'a new token' if new else 'the saved token, reused'})\n\n"
            f"Web panel:    {base}/login\n"
            f"  customer:   {DEMO_EMAIL}\n  operator:   {DEMO_OPERATOR_EMAIL}\n"
            f"  password:   {password}  (both; saved in {password_path})\n\n"
            f'Try:  curl -H "Authorization: Bearer {token}" {base}/api/v1/servers/\n'
            f"Docs: {base}/docs\n",
            flush=True,
        )
    options = edge.uvicorn_options(settings)  # connection limits and timeouts, both paths
    if workers == 1:
        uvicorn.run(create_app(settings, run_worker=not no_worker), host=host, port=port, **options)
        return
    # Several processes share the listening socket; each builds its app from the
    # environment (uvicorn needs an import string to start them).
    os.environ[SERVE_WORKER_ENV] = "0" if no_worker else "1"
    os.environ[SERVE_PROCESSES_ENV] = str(workers)
    uvicorn.run(
        "vpsorg.app:app_from_environment",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        **options,
    )


@app.command()
def worker(
    migrate: Annotated[
        bool, typer.Option("--migrate", help="Create or upgrade the database schema first")
    ] = False,
    host: Annotated[
        list[str] | None,
        typer.Option(
            "--host",
            help="Serve only this host (repeatable): its actions, its heartbeat; default: every host",
        ),
    ] = None,
) -> None:
    """Run the worker alone: claim actions, drive the hypervisors, reconcile.

    Refuses (exit 1) a database that is not at this version's schema, unless --migrate, and
    a --host that names no host."""
    from vpsorg import metrics
    from vpsorg.worker.service import UnknownHost, Worker

    settings = _settings()
    _prepare_schema(settings, migrate=migrate)
    _setup_logging(settings)
    if settings.worker_metrics_port is not None:
        metrics.serve(settings.metrics_host, [settings.worker_metrics_port])

    async def main() -> None:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await Worker(settings, sessions, host_names=host or None).run(stop)
        finally:
            await engine.dispose()

    try:
        asyncio.run(main())
    except UnknownHost as exc:
        _fail(str(exc))


def main() -> None:
    app()
