"""What every `vps` command shares: the token and URL (State, config), errors as one line
(fail, api_errors) and output (show, render: a table, plain columns, JSON or ids)."""

import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vpsorg.client import (
    ActionFailed,
    ActionTimeout,
    APIError,
    Client,
    TransportError,
    VpsError,
)
from vpsorg.client.models import Model

EXIT_API, EXIT_USAGE, EXIT_TIMEOUT = 1, 2, 3

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class Output(StrEnum):
    TABLE = "table"
    JSON = "json"


@dataclass
class State:
    url: str | None = None
    token: str | None = None
    output: Output = Output.TABLE
    quiet: bool = False
    no_header: bool = False
    client: Client | None = None

    def api(self) -> Client:
        if self.client is None:
            url, token = resolve(self.url, self.token)
            self.client = Client(url, token)
        return self.client


def config_path() -> Path:
    if os.environ.get("VPS_CONFIG"):
        return Path(os.environ["VPS_CONFIG"])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "vps" / "config.json"


def read_config() -> dict[str, str]:
    try:
        data = json.loads(config_path().read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        fail(f"cannot read {config_path()}: {exc}", EXIT_USAGE)
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def resolve(url: str | None, token: str | None) -> tuple[str, str]:
    """Flags, then the environment, then the config file."""
    saved = read_config()
    url = url or os.environ.get("VPS_URL") or saved.get("url")
    token = token or os.environ.get("VPS_TOKEN") or saved.get("token")
    if not url or not token:
        missing = " and ".join(n for n, v in (("URL", url), ("token", token)) if not v)
        fail(f"no API {missing}: pass --url/--token, set VPS_URL/VPS_TOKEN, or run `vps login`", EXIT_USAGE)
    return url, token


def fail(message: str, code: int = EXIT_API) -> NoReturn:
    err.print(f"error: {escape(message)}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def api_errors() -> Iterator[None]:
    """One line per error, the API's message and code; never a traceback."""
    try:
        yield
    except ActionTimeout as exc:
        fail(str(exc), EXIT_TIMEOUT)
    except ActionFailed as exc:
        fail(str(exc), EXIT_API)
    except APIError as exc:
        fail(f"{exc.message} ({exc.code})", EXIT_API)
    except TransportError as exc:
        fail(f"cannot reach the API: {exc}", EXIT_API)
    except VpsError as exc:
        fail(str(exc), EXIT_API)


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj


# Rendering ---------------------------------------------------------------------------------

Columns = list[tuple[str, Callable[[dict[str, Any]], Any]]]


def show(st: State, items: Iterable[Model] | Model, columns: Columns, id_of: str = "id") -> None:
    many = not isinstance(items, Model)
    rows: list[Model] = [items] if isinstance(items, Model) else list(items)
    if st.output == Output.JSON:
        raw = [r.raw for r in rows]
        out.print_json(json.dumps(raw if many else raw[0]))
        return
    if st.quiet:
        for r in rows:
            print(r.raw.get(id_of))
        return
    if many:
        header: list[str] | None = None if st.no_header else [title for title, _ in columns]
        cells = [[_cell(get(r.raw)) for _, get in columns] for r in rows]
    else:
        header, cells = None, [[title, _cell(get(rows[0].raw))] for title, get in columns]
    if out.is_terminal:
        table = Table(*(header or [""] * (len(columns) if many else 2)), show_header=header is not None)
        for line in cells:
            table.add_row(*map(escape, line))
        out.print(table)
    else:
        _plain(([header] if header else []) + cells)


def _plain(lines: list[list[str]]) -> None:
    """Columns padded with spaces, no borders and nothing cut: what a pipe or a file gets
    (a terminal's table shortens values to fit its width)."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))] if lines else []
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def render(
    ctx: typer.Context,
    fetch: Callable[[Client], Iterable[Model] | Model],
    columns: Columns,
    id_of: str = "id",
) -> None:
    """Fetch (lists lazily, page by page) and show, API errors as one line."""
    st = state(ctx)
    with api_errors():
        show(st, fetch(st.api()), columns, id_of)
