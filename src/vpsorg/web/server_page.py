"""A server's page: what it is, its power buttons, its settings, its labels, its action log,
its deletion.

Every change calls the service function its API route calls (request_power, update_server,
delete_server), and every refusal re-renders the page with the API's message in words. The
status, the buttons and the action log are one live region (see vpsorg.web.servers).
"""

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg import inputs
from vpsorg.actions import service as actions
from vpsorg.billing import prices
from vpsorg.db import utcnow
from vpsorg.deps import HotPath, Session
from vpsorg.errors import AppError, NotFound
from vpsorg.hotreads import Reads
from vpsorg.pagination import PageParams
from vpsorg.servers import service as servers
from vpsorg.servers.schemas import ServerPatch
from vpsorg.servers.states import TRANSITIONAL, ActionType, ServerStatus, can_request
from vpsorg.usage import service as usage
from vpsorg.usage.tiers import FIVE_MINUTES, HOURLY, Metric
from vpsorg.web import charts, live, refusals, server_forms
from vpsorg.web.auth import SignedIn
from vpsorg.web.labels import MAX_TEXT, as_lines, parse_lines
from vpsorg.web.refusals import Refusal
from vpsorg.web.servers import digest
from vpsorg.web.templating import render, url

router = APIRouter(prefix="/servers", include_in_schema=False)

ACTION_LOG = 20  # the newest actions the page shows
POWER = (ActionType.START, ActionType.STOP, ActionType.REBOOT)
CHART_METRICS = (
    (Metric.CPU, "CPU"),
    (Metric.MEMORY, "Memory"),
    (Metric.DISK, "Disk"),
    (Metric.BANDWIDTH, "Bandwidth"),
)
# Each chart's range and its points: 5-minute means for a day (288), hourly for a week (168).
CHART_RANGES = (
    ("24h", "Last 24 hours", timedelta(hours=24), FIVE_MINUTES),
    ("7d", "Last 7 days", timedelta(days=7), HOURLY),
)
Text = Annotated[str, Form(max_length=300)]


def server_id_of(raw: str) -> int:
    """The path's id; anything but an id is no server of yours (404, as an unknown id)."""
    found = inputs.path_id(raw)
    if found is None:
        raise NotFound(f"Server {raw} not found")
    return found


async def server_context(
    request: Request, reads: Reads, session: Session, account_id: int, server_id: int
) -> dict[str, Any]:
    """What the page and its live region show: the server as GET /api/v1/servers/{id}/ reads
    it (with its prices), its newest actions, which power actions its status allows, and its
    snapshots (their statuses change as the worker takes them)."""
    server = await servers.get_detail(reads, account_id=account_id, server_id=server_id, with_prices=True)
    count, log = await actions.list_for_server(
        session, server_id=server_id, page=PageParams(page=1, page_size=ACTION_LOG), newest_first=True
    )
    snapshots = await server_forms.server_snapshots(session, account_id=account_id, server_id=server_id)
    status = ServerStatus(server["status"])
    busy = status in TRANSITIONAL or any(a.status in actions.OPEN for a in log) or snapshots["snapshots_busy"]
    shown = {k: v for k, v in server.items() if k != "resource_usage"}
    taken = [(s.id, s.status, s.size_gb, s.error) for s in snapshots["snapshots"]]
    version = digest(shown, [(a.id, a.status, a.error, a.finished_at) for a in log], taken)
    return snapshots | {
        "server": server,
        "log": log,
        "log_count": count,
        "power": {t.value: can_request(t, status) for t in POWER},
        "busy": busy,
        "live_url": url(request, f"/servers/{server_id}/live?v={version}"),
        "backups_price": prices.backup_cap(server["price_monthly"]),
        "labels_text": as_lines(server["labels"]),
    }


async def usage_charts(session: AsyncSession, account_id: int, server_id: int) -> list[dict[str, Any]]:
    """Each metric over the last 24 hours and the last 7 days, as GET
    /api/v1/servers/{id}/metrics/ reads them, drawn as SVG on the server (web.charts)."""
    now = utcnow()
    spans = {}
    for key, _, span, tier in CHART_RANGES:
        spans[key] = await usage.series_all(
            session, account_id=account_id, server_id=server_id, start=now - span, now=now, coarse=tier
        )
    shown = []
    for metric, label in CHART_METRICS:
        row = []
        for key, span_name, _, _ in CHART_RANGES:
            found = spans[key][metric]
            svg = charts.line_chart(
                found.points,
                title=f"{label}, {span_name.lower()}",
                unit=found.unit,
                start=found.start,
                end=found.end,
                width=540,
                height=170,
                chart_id=f"chart-{metric.value}-{key}",
            )
            row.append({"span": span_name, "svg": svg})
        shown.append({"label": label, "charts": row})
    return shown


async def render_page(
    request: Request,
    reads: Reads,
    session: Session,
    viewer: SignedIn,
    server_id: int,
    *,
    refusal: Refusal | None = None,
    form: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """The page; after a refusal, with its message at the form (`form`) and the values sent."""
    if refusal is not None:
        await session.rollback()  # nothing of the refused change is kept
    events_url = await live.events_url(request, session, viewer.account_id, server_id)  # before the rest
    context = await server_context(request, reads, session, viewer.account_id, server_id)
    context["events_url"] = events_url
    context["usage_charts"] = await usage_charts(session, viewer.account_id, server_id)
    for part in server_forms.PARTS:  # what the operation forms show (rebuild, resize, ...)
        context |= await part(session, account_id=viewer.account_id, server=context["server"])
    return render(
        request,
        "servers/server.html",
        viewer,
        status_code=refusal.status if refusal else 200,
        section="servers",
        refusal=refusal,
        refused_form=form,
        values=values or {},
        **context,
    )


def back(request: Request, server_id: int) -> Response:
    return RedirectResponse(url(request, f"/servers/{server_id}/"), status_code=303)


@router.get("/{server_id}/")
async def server_page(
    request: Request, server_id: str, reads: HotPath, session: Session, viewer: SignedIn
) -> Response:
    return await render_page(request, reads, session, viewer, server_id_of(server_id))


@router.get("/{server_id}/live")
async def server_live(
    request: Request, server_id: str, reads: HotPath, session: Session, viewer: SignedIn, v: str = ""
) -> Response:
    """The live region (status, addresses, buttons, action log, and the forms whose use
    depends on the status: resize), fetched again after an event about the server: 204
    while it is what the page shows (`v`)."""
    found = server_id_of(server_id)
    context = await server_context(request, reads, session, viewer.account_id, found)
    if context["live_url"].endswith(f"?v={v}"):
        return Response(status_code=204)
    for part in server_forms.LIVE_PARTS:
        context |= await part(session, account_id=viewer.account_id, server=context["server"])
    return render(request, "servers/_live.html", viewer, oob=True, **context)


@router.post("/{server_id}/power")
async def power(
    request: Request, server_id: str, reads: HotPath, session: Session, viewer: SignedIn, action: Text = ""
) -> Response:
    """Start, stop or reboot (as POST /api/v1/servers/{id}/start/ etc.)."""
    found = server_id_of(server_id)
    try:
        kind = ActionType(action)
        if kind not in POWER:
            raise ValueError(action)
    except ValueError:
        refusal = Refusal(400, f"There is no power action {action!r}.")
        return await render_page(request, reads, session, viewer, found, refusal=refusal, form="power")
    try:
        await servers.request_power(session, account_id=viewer.account_id, server_id=found, type=kind)
    except AppError as exc:
        refusal = refusals.refusal(exc)
        return await render_page(request, reads, session, viewer, found, refusal=refusal, form="power")
    return back(request, found)


async def _patch(
    request: Request,
    reads: Reads,
    session: Session,
    viewer: SignedIn,
    server_id: int,
    values: dict[str, Any],
    form: str,
) -> Response:
    """A change of some of the server's fields, as PATCH /api/v1/servers/{id}/ makes it."""
    try:
        data = refusals.parse(ServerPatch, values, lax=True)
        await servers.update_server(session, account_id=viewer.account_id, server_id=server_id, data=data)
    except AppError as exc:
        shown = {k: str(v) for k, v in values.items()}
        page = render_page(
            request, reads, session, viewer, server_id, refusal=refusals.refusal(exc), form=form, values=shown
        )
        return await page
    return back(request, server_id)


@router.post("/{server_id}/settings")
async def settings(
    request: Request,
    server_id: str,
    reads: HotPath,
    session: Session,
    viewer: SignedIn,
    name: Text = "",
    hostname: Text = "",
) -> Response:
    """Rename the server and set its hostname; only what changed is sent (a rename alone does
    not send the hostname again)."""
    found = server_id_of(server_id)
    server = await servers.get_detail(reads, account_id=viewer.account_id, server_id=found)
    sent = {"name": name.strip(), "hostname": hostname.strip()}
    changed = {k: v for k, v in sent.items() if v != server[k]}
    if not changed:
        return back(request, found)
    return await _patch(request, reads, session, viewer, found, changed, "settings")


@router.post("/{server_id}/backups")
async def backups(
    request: Request, server_id: str, reads: HotPath, session: Session, viewer: SignedIn, enabled: Text = ""
) -> Response:
    """Turn backups on or off (`enabled` is "on" or "off")."""
    values = {"backups_enabled": enabled}
    return await _patch(request, reads, session, viewer, server_id_of(server_id), values, "backups")


@router.post("/{server_id}/labels")
async def edit_labels(
    request: Request,
    server_id: str,
    reads: HotPath,
    session: Session,
    viewer: SignedIn,
    labels: Annotated[str, Form(max_length=MAX_TEXT)] = "",
) -> Response:
    """Replace the server's labels with the lines sent (the whole map, as PATCH
    /api/v1/servers/{id}/ with labels; no lines: no labels); a refusal keeps the lines."""
    found = server_id_of(server_id)
    try:
        data = refusals.parse(ServerPatch, {"labels": parse_lines(labels)})
        await servers.update_server(session, account_id=viewer.account_id, server_id=found, data=data)
    except AppError as exc:
        refusal = refusals.refusal(exc)
        shown = {"labels": labels}
        return await render_page(
            request, reads, session, viewer, found, refusal=refusal, form="labels", values=shown
        )
    return back(request, found)


@router.post("/{server_id}/delete")
async def delete(
    request: Request,
    server_id: str,
    reads: HotPath,
    session: Session,
    viewer: SignedIn,
    confirm_name: Text = "",
) -> Response:
    """Delete the server, once its name is typed (the script checks it too, for the button)."""
    found = server_id_of(server_id)
    server = await servers.get_detail(reads, account_id=viewer.account_id, server_id=found)
    if confirm_name.strip() != server["name"]:
        refusal = Refusal(400, f"Type the server's name, {server['name']}, to delete it.")
        shown = {"confirm_name": confirm_name}
        page = render_page(
            request, reads, session, viewer, found, refusal=refusal, form="delete", values=shown
        )
        return await page
    await servers.delete_server(session, account_id=viewer.account_id, server_id=found)
    gone = url(request, "/servers/?" + urlencode({"deleted": server["name"]}))
    return RedirectResponse(gone, status_code=303)
