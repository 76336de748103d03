"""Operators' hosts: capacity, state and heartbeat; enable, disable and drain."""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from vpsorg import inputs
from vpsorg.accounts.logins import Viewer
from vpsorg.admin import service as admin
from vpsorg.db import utcnow
from vpsorg.deps import HostDownSeconds, Placement, Session
from vpsorg.errors import AppError
from vpsorg.hosts.service import HostState
from vpsorg.web.admin import common
from vpsorg.web.auth import Operator
from vpsorg.web.templating import render

router = APIRouter(prefix="/hosts")

Back = Annotated[str, Form(max_length=2000)]


def age(then: datetime | None, now: datetime) -> str:
    """A heartbeat's age as `vpsorg hosts list` shows it: 42s, 3m, 5h or 2d ago; never."""
    if then is None:
        return "never"
    s = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit} ago"
    return f"{s}s ago"


def bars(host: dict[str, Any]) -> list[dict[str, Any]]:
    """Each resource's use against its room (capacity times overcommit, as placement counts it)."""
    return [
        {"name": name, "unit": unit, "used": host[f"used_{key}"], "room": int(host[key] * host[ratio])}
        for name, key, ratio, unit in (
            ("vCPU", "vcpus", "cpu_overcommit", "vCPUs"),
            ("Memory", "memory_mib", "memory_overcommit", "MiB"),
            ("Disk", "disk_gb", "disk_overcommit", "GB"),
        )
    ]


def _drained(request: Request) -> dict[str, int] | None:
    """The counts a drain's redirect carries (?queued=&failed=), to say what it did."""
    q = request.query_params
    if q.get("done") != "drained":
        return None
    counts = {k: q.get(k, "") for k in ("queued", "failed")}
    return {k: int(v) for k, v in counts.items() if v.isdigit() and len(v) < 10}


async def _hosts_page(
    request: Request,
    session: Session,
    viewer: Viewer,
    down_after: float,
    *,
    location: str,
    page: int,
    refused: AppError | None = None,
) -> Response:
    params = common.page_of(page)
    count, rows = 0, list[dict[str, Any]]()
    try:
        count, rows = await admin.list_hosts(
            session, page=params, down_after=down_after, location=location.strip() or None
        )
    except AppError as exc:
        refused = refused or exc
    now = utcnow()
    for host in rows:
        host |= {"shown": "down" if host["down"] else host["state"], "age": age(host["heartbeat_at"], now)}
        host["bars"] = bars(host)
    return render(
        request,
        "admin/hosts.html",
        viewer,
        status_code=refused.status_code if refused else 200,
        section="admin",
        count=count,
        hosts=rows,
        location=location,
        back=common.here(request),
        pager=common.pager(request, params, count),
        notice=common.notice(request.query_params.get("done")),
        drained=_drained(request),
        error=refused.message if refused else None,
    )


@router.get("/")
async def list_page(
    request: Request,
    session: Session,
    viewer: Operator,
    down_after: HostDownSeconds,
    location: Annotated[str, Query(max_length=40)] = "",
    page: Annotated[int, Query(ge=1, le=10_000_000)] = 1,
) -> Response:
    return await _hosts_page(request, session, viewer, down_after, location=location, page=page)


async def _change(
    request: Request,
    session: Session,
    viewer: Viewer,
    down_after: float,
    back: str,
    change: Callable[[], Awaitable[dict[str, Any]]],
) -> Response:
    """Run a host's change; back to the hosts page with its notice, or with the refusal."""
    done: dict[str, Any] = {}

    async def run() -> None:
        done.update(await change())

    refused = await common.attempt(session, run)
    if refused is not None:
        return await _hosts_page(request, session, viewer, down_after, location="", page=1, refused=refused)
    return common.redirect(request, common.back_to(back, "/admin/hosts/"), **done)


@router.post("/{host_id}/drain")
async def drain(
    host_id: inputs.PathId,
    request: Request,
    session: Session,
    viewer: Operator,
    down_after: HostDownSeconds,
    placement: Placement,
    back: Back = "",
) -> Response:
    """POST /api/v1/admin/hosts/{id}/drain/'s service, from a form."""

    async def change() -> dict[str, Any]:
        _, drained = await admin.drain_host(
            session, host_id=host_id, policy=placement, down_after=down_after, actor_id=viewer.account_id
        )
        return {"done": "drained", "queued": len(drained.queued), "failed": len(drained.failed)}

    return await _change(request, session, viewer, down_after, back, change)


# POST /api/v1/admin/hosts/{id}/enable/ and disable/'s service, from a form (after drain: the
# path's verb takes what no route above did).
STATES = {"enable": HostState.ENABLED, "disable": HostState.DISABLED}


@router.post("/{host_id}/{verb}")
async def set_state(
    host_id: inputs.PathId,
    verb: Literal["enable", "disable"],
    request: Request,
    session: Session,
    viewer: Operator,
    down_after: HostDownSeconds,
    back: Back = "",
) -> Response:
    """Enable a host (it takes new servers) or disable it (it keeps what it holds)."""

    async def change() -> dict[str, Any]:
        await admin.set_host_state(
            session, host_id=host_id, state=STATES[verb], down_after=down_after, actor_id=viewer.account_id
        )
        return {"done": f"{verb}d"}

    return await _change(request, session, viewer, down_after, back, change)
