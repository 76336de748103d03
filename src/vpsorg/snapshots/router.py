from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from vpsorg import inputs
from vpsorg.actions.schemas import ActionRef
from vpsorg.deps import AccountId, Session
from vpsorg.errors import AUTH_RESPONSES, InvalidState, NotFound, ValidationFailed, errors
from vpsorg.http import idempotency
from vpsorg.http.pagination import page_params, paged
from vpsorg.pagination import Page, PageParams
from vpsorg.snapshots import service as snapshots
from vpsorg.snapshots.models import Snapshot, SnapshotKind
from vpsorg.snapshots.schemas import SnapshotCreate, SnapshotOut, SnapshotTaken

router = APIRouter(
    prefix="/api/v1", tags=["snapshots"], responses=AUTH_RESPONSES, route_class=inputs.LimitedRoute
)

Id = inputs.PathId


def _out(snapshot: Snapshot) -> SnapshotOut:
    return SnapshotOut.model_validate(snapshot, from_attributes=True)


@router.post(
    "/servers/{server_id}/snapshots/",
    status_code=202,
    summary="Take a snapshot of a server (active or stopped)",
    responses=errors(ValidationFailed, NotFound, InvalidState) | idempotency.RESPONSES,
)
async def take_snapshot(
    server_id: Id,
    body: SnapshotCreate,
    request: Request,
    response: Response,
    session: Session,
    account_id: AccountId,
    idempotency_key: idempotency.Key = None,
) -> SnapshotTaken:
    async def run() -> SnapshotTaken:
        snapshot, action = await snapshots.take(
            session, account_id=account_id, server_id=server_id, name=body.name
        )
        response.headers["Location"] = str(request.url_for("get_snapshot", snapshot_id=snapshot.id))
        return SnapshotTaken(
            snapshot=_out(snapshot), action=ActionRef.model_validate(action, from_attributes=True)
        )

    return await idempotency.once(
        request, response, session, account_id=account_id, key=idempotency_key, status_code=202, run=run
    )


@router.get("/snapshots/", summary="List your snapshots and backups", responses=errors(ValidationFailed))
async def list_snapshots(
    request: Request,
    session: Session,
    account_id: AccountId,
    page: Annotated[PageParams, Depends(page_params)],
    server_id: Annotated[
        int | None, Query(ge=1, le=inputs.MAX_ID, description="Only those taken of this server")
    ] = None,
    kind: Annotated[SnapshotKind | None, Query(description="Only snapshots, or only backups")] = None,
) -> Page[SnapshotOut]:
    count, rows = await snapshots.list_snapshots(
        session, account_id=account_id, page=page, server_id=server_id, kind=kind
    )
    return paged(request, page, count, [_out(s) for s in rows])


@router.get(
    "/snapshots/{snapshot_id}/", summary="Get a snapshot", responses=errors(ValidationFailed, NotFound)
)
async def get_snapshot(snapshot_id: Id, session: Session, account_id: AccountId) -> SnapshotOut:
    return _out(await snapshots.get_snapshot(session, account_id=account_id, snapshot_id=snapshot_id))


@router.delete(
    "/snapshots/{snapshot_id}/",
    status_code=204,
    summary="Delete a snapshot (its image is removed in the background)",
    responses=errors(ValidationFailed, NotFound),
)
async def delete_snapshot(snapshot_id: Id, session: Session, account_id: AccountId) -> Response:
    await snapshots.delete_snapshot(session, account_id=account_id, snapshot_id=snapshot_id)
    return Response(status_code=204)
