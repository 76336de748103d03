"""Operator commands: migrate, catalog, accounts, tokens, serve, worker."""

import asyncio
import logging
import os
import re
import signal
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
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

from vpsorg import migrate as migrations
from vpsorg import models  # noqa: F401  (every mapped table, for commands that write)
from vpsorg.accounts import limits
from vpsorg.accounts import service as accounts
from vpsorg.accounts.service import Scope
from vpsorg.billing import service as billing
from vpsorg.billing.models import EntryKind
from vpsorg.catalog import service as catalog
from vpsorg.config import Settings, masked
from vpsorg.db import is_sqlite, make_engine, make_sessionmaker, run_transaction
from vpsorg.errors import AppError
from vpsorg.tokens import service as tokens

app = typer.Typer(help="Operate a vpsorg control plane.", no_args_is_help=True, add_completion=False)
catalog_app = typer.Typer(help="Plans, operating systems and locations.", no_args_is_help=True)
accounts_app = typer.Typer(help="Customer accounts.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(accounts_app, name="accounts")
app.add_typer(tokens_app, name="tokens")

err = Console(stderr=True)
T = TypeVar("T")
DEMO_EMAIL = "demo@vpsorg.local"
DEMO_CREDIT = Decimal("1000.00")
DEMO_TOKEN_FILE = "vpsorg-demo-token"


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
    counts = _in_transaction(
        _settings(), lambda s: catalog.load_catalog(s, catalog=data, default_hosts=default_hosts)
    )
    print(
        f"loaded {counts['plans']} plans, {counts['operating_systems']} operating systems, "
        f"{counts['locations']} locations"
    )


def _parse_credit(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise typer.BadParameter(f"not a number: {value}") from None


@accounts_app.command("create")
def accounts_create(
    email: Annotated[str, typer.Option(help="The customer's email address")],
    credit: Annotated[str, typer.Option(help="Starting credit in USD")] = "0",
) -> None:
    """Create an account; the last line printed is its id."""
    amount = _parse_credit(credit)
    account = _in_transaction(_settings(), lambda s: accounts.create_account(s, email=email, credit=amount))
    err.print(f"created account {account.email} with a balance of {account.balance:.2f} USD")
    print(account.id)


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
        lambda s: billing.credit(s, account_id=account, amount=value, reason=reason, kind=kind),
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
            return await limits.set_limits(session, account_id=account, changes=changes, defaults=defaults)
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
        lambda s: accounts.create_token(
            s, account_id=account, scope=scope, name=name, expires_in_days=expires_in_days
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
    widths = [max(len(cell) for cell in column) for column in zip(*table, strict=True)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument(metavar="ID", help="Token id")]) -> None:
    """Revoke a token (of any account): it stops working at once."""
    _in_transaction(_settings(), lambda s: tokens.revoke_token(s, token_id=token_id))
    err.print(f"revoked token {token_id}")


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


async def _demo(session: AsyncSession, saved: str | None) -> tuple[str, bool]:
    """Catalog and a demo account with credit on an empty database; the saved token while it
    still authenticates for the demo account, else a new one (token, whether it is new)."""
    if not await catalog.list_plans(session):
        await catalog.load_catalog(session, catalog=catalog.read_catalog(None))
    account = await accounts.find_account(session, email=DEMO_EMAIL)
    if account is None:
        account = await accounts.create_account(session, email=DEMO_EMAIL, credit=DEMO_CREDIT)
    if saved is not None:
        use = await accounts.authenticate(session, token=saved)
        if use is not None and use.account_id == account.id:
            return saved, False
    return await accounts.create_token(session, account_id=account.id, name="demo"), True


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
        token, new = _in_transaction(settings, lambda s: _demo(s, _read_secret(path)))
        if new:
            _write_secret(path, token)
        base = f"http://{host}:{port}"
        print(
            f"\nDemo account: {DEMO_EMAIL}\nAPI token:    {token}\n"
            f"Token file:   {path} ({'a new token' if new else 'the saved token, reused'})\n\n"
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
