"""Snapshots and backups in the panel: on a server's page, its list (statuses live, in the
page's live region), taking one and deleting one; and /snapshots/, every snapshot and backup
of the account.

Each change is the API's (snapshots.service.take, as POST /api/v1/servers/{id}/snapshots/;
delete_snapshot, as DELETE /api/v1/snapshots/{id}/), the name read by the same schema
(SnapshotCreate); a refusal re-renders the page in words with the API's status.
"""

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from vpsorg import inputs
from vpsorg.deps import HotPath, Session
from vpsorg.errors import AppError, NotFound
from vpsorg.pagination import PageParams
from vpsorg.snapshots import service as snapshots
from vpsorg.snapshots.models import Snapshot
from vpsorg.snapshots.schemas import SnapshotCreate
from vpsorg.web import refusals
from vpsorg.web.auth import SignedIn
from vpsorg.web.server_page import back, render_page, server_id_of
from vpsorg.web.templating import render, url

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
PageNumber = Annotated[int, Query(ge=1, le=10_000_000)]


@router.post("/servers/{server_id}/snapshots")
async def take(
    request: Request,
    server_id: str,
    reads: HotPath,
    session: Session,
    viewer: SignedIn,
    name: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Take a snapshot of the server under the name given; the page shows it being taken."""
    found = server_id_of(server_id)
    try:
        data = refusals.parse(SnapshotCreate, {"name": name.strip()})
        await snapshots.take(session, account_id=viewer.account_id, server_id=found, name=data.name)
    except AppError as exc:
        refusal = refusals.refusal(exc)
        shown = {"snapshot_name": name}
        return await render_page(
            request, reads, session, viewer, found, refusal=refusal, form="snapshot", values=shown
        )
    return back(request, found)


@router.post("/servers/{server_id}/snapshots/{snapshot_id}/delete")
async def delete_on_server(
    request: Request, server_id: str, snapshot_id: str, session: Session, viewer: SignedIn
) -> Response:
    """Delete one of the server's snapshots (another server's, or account's: 404)."""
    found = server_id_of(server_id)
    snapshot = await _snapshot(session, viewer.account_id, snapshot_id)
    if snapshot.server_id != found:
        raise NotFound(f"Snapshot {snapshot_id} not found")
    await snapshots.delete_snapshot(session, account_id=viewer.account_id, snapshot_id=snapshot.id)
    return back(request, found)


async def _snapshot(session: Session, account_id: int, raw: str) -> Snapshot:
    """The account's snapshot of the path's id; anything else is a 404, as an unknown id."""
    found = inputs.path_id(raw)
    if found is None:
        raise NotFound(f"Snapshot {raw} not found")
    return await snapshots.get_snapshot(session, account_id=account_id, snapshot_id=found)


@router.get("/snapshots/")
async def list_page(request: Request, session: Session, viewer: SignedIn, page: PageNumber = 1) -> Response:
    """Every snapshot and backup of the account, oldest first (as the API lists them), with
    its server's name."""
    params = PageParams(page=page, page_size=PAGE_SIZE)
    count, rows = await snapshots.list_snapshots(session, account_id=viewer.account_id, page=params)
    ids = {s.server_id for s in rows}
    names = await snapshots.server_names(session, account_id=viewer.account_id, ids=ids)
    return render(
        request,
        "snapshots/list.html",
        viewer,
        section="snapshots",
        snapshots=rows,
        names=names,
        count=count,
        page=page,
        pages=max(1, -(-count // PAGE_SIZE)),
    )


@router.post("/snapshots/{snapshot_id}/delete")
async def delete(request: Request, snapshot_id: str, session: Session, viewer: SignedIn) -> Response:
    """Delete a snapshot from the account's list (another account's: 404)."""
    snapshot = await _snapshot(session, viewer.account_id, snapshot_id)
    await snapshots.delete_snapshot(session, account_id=viewer.account_id, snapshot_id=snapshot.id)
    return RedirectResponse(url(request, "/snapshots/"), status_code=303)
