"""Creating a server: the form, its price, an SSH key added on the way, and the order.

The order is the API's (servers.order_server with the same defaults and placement as POST
/api/v1/servers/), validated by the same schema (ServerCreate); a refusal (credit, quota,
capacity, a bad field) re-renders the form with the user's choices and the message in words.
As the form changes, htmx asks for its dry run (servers.quote_server, as POST
/api/v1/servers/?dry_run=true): the price and location the order would get, or its refusal.
"""

from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.billing import prices
from vpsorg.catalog import service as catalog
from vpsorg.catalog.models import Plan
from vpsorg.deps import DefaultLimits, Placement, Session, queued_nothing
from vpsorg.errors import AppError
from vpsorg.pagination import MAX_PAGE_SIZE, PageParams
from vpsorg.servers import service as servers
from vpsorg.servers.schemas import USER_DATA_MAX_BYTES, ServerCreate
from vpsorg.snapshots import service as snapshots
from vpsorg.snapshots.models import SnapshotStatus
from vpsorg.ssh_keys import service as ssh_keys
from vpsorg.ssh_keys.schemas import SshKeyCreate
from vpsorg.web import refusals
from vpsorg.web.auth import SignedIn
from vpsorg.web.labels import MAX_TEXT, parse_lines
from vpsorg.web.refusals import Refusal
from vpsorg.web.templating import render, url

router = APIRouter(prefix="/servers", include_in_schema=False)

Text = Annotated[str, Form(max_length=300)]


@dataclass(frozen=True)
class Choices:
    """The form's values as sent (strings: a refused form shows them back as they were)."""

    name: str = ""
    hostname: str = ""
    plan_id: str = ""
    os_id: str = ""  # an image's id, or snapshot:ID (a server made from the account's snapshot)
    location: str = ""
    ssh_key_id: str = ""
    backups_enabled: bool = False
    key_name: str = ""
    public_key: str = ""
    labels: str = ""  # key=value lines (vpsorg.web.labels)
    user_data: str = ""  # cloud-init user data, as typed (never shown again after the create)

    def order(self) -> dict[str, Any]:
        """The body POST /api/v1/servers/ would get (empty optional fields left out); lines
        that are no key=value: ValidationFailed (field labels)."""
        source, _, snapshot_id = self.os_id.partition("snapshot:")
        body: dict[str, Any] = (
            {"snapshot_id": snapshot_id} if not source and snapshot_id else {"os_id": self.os_id}
        )
        body |= {
            "name": self.name,
            "plan_id": self.plan_id,
            "location": self.location,
            "backups_enabled": self.backups_enabled,
            "labels": parse_lines(self.labels),
        }
        if self.hostname:
            body["hostname"] = self.hostname
        if self.ssh_key_id:
            body["ssh_key_id"] = self.ssh_key_id
        if self.user_data.strip():
            body["user_data"] = self.user_data
        return body


def choices_form(
    name: Text = "",
    hostname: Text = "",
    plan_id: Text = "",
    os_id: Text = "",
    location: Text = "",
    ssh_key_id: Text = "",
    backups_enabled: Text = "",
    key_name: Text = "",
    public_key: Annotated[str, Form(max_length=20_000)] = "",
    labels: Annotated[str, Form(max_length=MAX_TEXT)] = "",
    # well over the API's 64 KiB so that the API's own check refuses it, in words
    user_data: Annotated[str, Form(max_length=4 * USER_DATA_MAX_BYTES)] = "",
) -> Choices:
    return Choices(
        name=name.strip(),
        hostname=hostname.strip(),
        plan_id=plan_id,
        os_id=os_id,
        location=location,
        ssh_key_id=ssh_key_id,
        backups_enabled=bool(backups_enabled),
        key_name=key_name.strip(),
        public_key=public_key.strip(),
        labels=labels.strip(),
        # browsers send textarea lines as CRLF; cloud-init's YAML wants them as typed
        user_data=user_data.replace("\r\n", "\n"),
    )


SentChoices = Annotated[Choices, Depends(choices_form)]


def price(plans: list[Plan], plan_id: str, backups: bool) -> dict[str, Any] | None:
    """What the chosen plan costs, with the backups surcharge if chosen (billing.prices)."""
    plan = next((p for p in plans if str(p.id) == plan_id), None)
    if plan is None:
        return None
    return {
        "plan": plan,
        "monthly": prices.monthly_price(plan.price_monthly, backups=backups),
        "hourly": prices.hourly_price(plan.price_hourly, backups=backups),
        "backups": backups,
        "surcharge": prices.backup_cap(plan.price_monthly),
    }


async def form_context(session: AsyncSession, account_id: int, choices: Choices) -> dict[str, Any]:
    """The catalog and the account's keys, what is chosen (the first of each by default) and its price."""
    plans = await catalog.list_plans(session)
    oses = await catalog.list_operating_systems(session)
    locations = await catalog.list_locations(session)
    _, keys = await ssh_keys.list_keys(
        session, account_id=account_id, page=PageParams(page=1, page_size=MAX_PAGE_SIZE)
    )
    # the account's available snapshots (the first 200, as the API pages them): a disk source
    _, taken = await snapshots.list_snapshots(
        session, account_id=account_id, page=PageParams(page=1, page_size=MAX_PAGE_SIZE)
    )
    if not choices.plan_id and plans:
        choices = replace(choices, plan_id=str(plans[0].id))
    if not choices.os_id and oses:
        choices = replace(choices, os_id=str(oses[0].id))
    if not choices.location and locations:
        choices = replace(choices, location=locations[0].code)
    surcharge = int(prices.BACKUP_SURCHARGE * 100)
    return {
        "plans": plans,
        "oses": oses,
        "locations": locations,
        "keys": keys,
        "snapshots": [s for s in taken if s.status == SnapshotStatus.AVAILABLE],
        "choices": choices,
        "price": price(plans, choices.plan_id, choices.backups_enabled),
        "surcharge_percent": surcharge,
    }


async def _form(
    request: Request,
    session: AsyncSession,
    viewer: SignedIn,
    choices: Choices,
    *,
    refusal: Refusal | None = None,
    template: str = "servers/new.html",
    key_refusal: Refusal | None = None,
    status_code: int | None = None,
) -> Response:
    if refusal is not None or key_refusal is not None:
        await session.rollback()  # nothing of the refused order is kept
    context = await form_context(session, viewer.account_id, choices)
    shown = refusal or key_refusal
    return render(
        request,
        template,
        viewer,
        status_code=status_code or (shown.status if shown else 200),
        section="servers",
        refusal=refusal,
        key_refusal=key_refusal,
        **context,
    )


@router.get("/new")
async def new_server(
    request: Request, session: Session, viewer: SignedIn, snapshot: Annotated[int | None, Query()] = None
) -> Response:
    """The form; `?snapshot=ID` (a snapshot's "New server from it") chooses that snapshot."""
    return await _form(request, session, viewer, Choices(os_id=f"snapshot:{snapshot}" if snapshot else ""))


@router.post("/new/quote")
async def quote(
    request: Request,
    session: Session,
    viewer: SignedIn,
    defaults: DefaultLimits,
    placement: Placement,
    choices: SentChoices,
) -> Response:
    """The order's dry run, for htmx as the form changes: the price and location the create
    would give, or the refusal it would give in words (200 either way: htmx swaps a 200 only).
    Until the server has a name, the plan's price alone (not a refusal of the empty name)."""
    queued_nothing(request)
    if not choices.name:
        plans = await catalog.list_plans(session)
        found_price = price(plans, choices.plan_id, choices.backups_enabled)
        surcharge = int(prices.BACKUP_SURCHARGE * 100)
        return render(
            request,
            "servers/_quote.html",
            viewer,
            quote=None,
            refusal=None,
            price=found_price,
            surcharge_percent=surcharge,
        )
    try:
        data = refusals.parse(ServerCreate, choices.order(), lax=True)
        found = await servers.quote_server(
            session, account_id=viewer.account_id, data=data, defaults=defaults, policy=placement
        )
    except AppError as exc:
        return render(request, "servers/_quote.html", viewer, quote=None, refusal=refusals.refusal(exc))
    return render(request, "servers/_quote.html", viewer, quote=found, refusal=None)


@router.post("/new/ssh-keys")
async def add_key(
    request: Request, session: Session, viewer: SignedIn, defaults: DefaultLimits, choices: SentChoices
) -> Response:
    """Save a key (as POST /api/v1/ssh-keys/) and show the form again with it chosen. htmx
    swaps only the keys' fieldset (a refusal shown in it); without JS the whole form comes
    back, every choice kept."""
    fragment = request.headers.get("HX-Request") == "true"
    template = "servers/_keys.html" if fragment else "servers/new.html"
    try:
        body = refusals.parse(SshKeyCreate, {"name": choices.key_name, "public_key": choices.public_key})
        key = await ssh_keys.create_key(
            session,
            account_id=viewer.account_id,
            name=body.name,
            public_key=body.public_key,
            defaults=defaults,
        )
    except AppError as exc:
        refused = refusals.refusal(exc)
        # htmx swaps a 200 only: the refusal is in the fragment
        status = 200 if fragment else refused.status
        return await _form(
            request, session, viewer, choices, key_refusal=refused, template=template, status_code=status
        )
    added = replace(choices, ssh_key_id=str(key.id), key_name="", public_key="")
    return await _form(request, session, viewer, added, template=template)


@router.post("/new")
async def create(
    request: Request,
    session: Session,
    viewer: SignedIn,
    defaults: DefaultLimits,
    placement: Placement,
    choices: SentChoices,
) -> Response:
    """Order the server (as POST /api/v1/servers/) and go to its page, where it provisions."""
    try:
        data = refusals.parse(ServerCreate, choices.order(), lax=True)
        order = await servers.order_server(
            session, account_id=viewer.account_id, data=data, defaults=defaults, policy=placement
        )
    except AppError as exc:
        return await _form(request, session, viewer, choices, refusal=refusals.refusal(exc))
    return RedirectResponse(url(request, f"/servers/{order.server_id}/"), status_code=303)
