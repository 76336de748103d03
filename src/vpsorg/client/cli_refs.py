"""Things named as people name them: a server by id or by its name (`vps servers get web-1`),
a plan by id or name (`--plan "Standard VPS"`), an image by id, slug or name
(`--os ubuntu-22.04`), an SSH key by id or name.

A number is always an id (no request is made for it; the API answers 404 if it is not
yours). Anything else is looked up: an exact name for servers (names are not unique in an
account, so two matches are refused listing their ids), case-insensitively for the
catalog. Each annotated type below (ServerId, PlanId, OsId, SshKeyIds) resolves while the
command line is parsed, so a command receives ids."""

from collections.abc import Callable, Iterable
from typing import Annotated, Any

import typer

from vpsorg.client import Client
from vpsorg.client.cli_base import EXIT_API, EXIT_USAGE, api_errors, fail, state
from vpsorg.client.models import Model


def is_id(value: str) -> bool:
    return value.isascii() and value.isdigit()


def server_id(api: Client, ref: str) -> int:
    """The id of the one server of the account named exactly `ref` (or `ref` if a number)."""
    if is_id(ref):
        return int(ref)
    # The API has no name filter: the account's servers, page by page, matched here.
    ids = [s.id for s in api.servers.list(page_size=100) if s.name == ref]
    if not ids:
        fail(f"no server named {ref!r} in your account (vps servers list shows them)", EXIT_API)
    if len(ids) > 1:
        listed = ", ".join(map(str, ids))
        fail(f"{len(ids)} servers are named {ref!r} (ids {listed}): give the id", EXIT_USAGE)
    return ids[0]


def os_slug(raw: dict[str, Any]) -> str | None:
    """An image's slug: the API's where it has one, else its family-version (ubuntu-22.04)."""
    if raw.get("slug"):
        return str(raw["slug"])
    if raw.get("family") and raw.get("version"):
        return f"{raw['family']}-{raw['version']}"
    return None


def catalog_id(
    what: str, items: Iterable[Model], ref: str, keys: list[Callable[[dict[str, Any]], str | None]]
) -> int:
    """The id of the item whose first key matching anything equals `ref` (case-insensitive).

    Keys are tried in order over every item (a slug before a name), so a name never shadows
    another item's slug."""
    if is_id(ref):
        return int(ref)
    rows = [item.raw for item in items]
    for key in keys:
        found = [row["id"] for row in rows if (key(row) or "").casefold() == ref.casefold()]
        if len(found) == 1:
            return int(found[0])
        if len(found) > 1:
            listed = ", ".join(map(str, found))
            fail(f"{len(found)} {what}s match {ref!r} (ids {listed}): give the id", EXIT_USAGE)
    fail(f"no {what} {ref!r}: give an id or a name from `vps {what}s list`", EXIT_USAGE)


def _by_name(row: dict[str, Any]) -> str | None:
    return row.get("name")


def plan_id(api: Client, ref: str) -> int:
    return catalog_id("plan", api.plans.list(), ref, [lambda row: row.get("slug"), _by_name])


def image_id(api: Client, ref: str) -> int:
    return catalog_id("image", api.os.list(), ref, [os_slug, _by_name])


def ssh_key_id(api: Client, ref: str) -> int:
    return catalog_id("SSH key", api.ssh_keys.list(page_size=100), ref, [_by_name])


def _resolver(find: Callable[[Client, str], int]) -> Callable[[typer.Context, str | None], int | None]:
    """A Typer callback: the id `find` gives for the text typed (numbers without a request;
    an option not given stays None)."""

    def callback(ctx: typer.Context, value: str | None) -> int | None:
        if value is None:
            return None
        if is_id(value) or ctx.resilient_parsing:  # shell completion: no requests
            return int(value) if is_id(value) else 0
        with api_errors():
            return find(state(ctx).api(), value)

    return callback


def _resolve_keys(ctx: typer.Context, values: list[str] | None) -> list[int]:
    if not values or ctx.resilient_parsing:
        return []
    if all(map(is_id, values)):
        return [int(v) for v in values]
    with api_errors():
        api = state(ctx).api()
        return [ssh_key_id(api, v) for v in values]


SERVER_HELP = "Server id, or its name (unique in your account)"
ServerId = Annotated[
    int, typer.Argument(parser=str, callback=_resolver(server_id), metavar="SERVER", help=SERVER_HELP)
]
ServerOption = Annotated[
    int,
    typer.Option("--server", parser=str, callback=_resolver(server_id), metavar="SERVER", help=SERVER_HELP),
]
# The same, optional: a filter (`vps events watch --server web-1`).
ServerFilter = Annotated[
    int | None,
    typer.Option("--server", parser=str, callback=_resolver(server_id), metavar="SERVER", help=SERVER_HELP),
]
PlanId = Annotated[
    int,
    typer.Option(
        "--plan",
        parser=str,
        callback=_resolver(plan_id),
        metavar="PLAN",
        help="Plan id or name (vps plans list)",
    ),
]
OsId = Annotated[
    int | None,
    typer.Option(
        "--os",
        parser=str,
        callback=_resolver(image_id),
        metavar="IMAGE",
        help="Operating system id, slug (ubuntu-22.04) or name (vps os list); or a snapshot instead",
    ),
]
SshKeyIds = Annotated[
    list[int] | None,
    typer.Option(
        "--ssh-key",
        parser=str,
        callback=_resolve_keys,
        metavar="KEY",
        help="SSH key id or name (vps ssh-keys list); repeatable",
    ),
]
