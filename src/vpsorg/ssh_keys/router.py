from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from vpsorg import inputs
from vpsorg.deps import AccountId, DefaultLimits, Session
from vpsorg.errors import AUTH_RESPONSES, NotFound, QuotaExceeded, ValidationFailed, errors
from vpsorg.http import idempotency
from vpsorg.http.pagination import page_params, paged
from vpsorg.pagination import Page, PageParams
from vpsorg.ssh_keys import service as ssh_keys
from vpsorg.ssh_keys.schemas import SshKeyCreate, SshKeyOut

router = APIRouter(
    prefix="/api/v1/ssh-keys", tags=["ssh-keys"], responses=AUTH_RESPONSES, route_class=inputs.LimitedRoute
)

KeyId = inputs.PathId


def _out(key: object) -> SshKeyOut:
    return SshKeyOut.model_validate(key, from_attributes=True)


@router.get("/", summary="List your SSH keys")
async def list_keys(
    request: Request,
    session: Session,
    account_id: AccountId,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[SshKeyOut]:
    count, rows = await ssh_keys.list_keys(session, account_id=account_id, page=page)
    return paged(request, page, count, [_out(k) for k in rows])


@router.post(
    "/",
    status_code=201,
    summary="Add an SSH key",
    responses=errors(ValidationFailed, QuotaExceeded) | idempotency.RESPONSES,
)
async def create_key(
    body: SshKeyCreate,
    request: Request,
    response: Response,
    session: Session,
    account_id: AccountId,
    defaults: DefaultLimits,
    idempotency_key: idempotency.Key = None,
) -> SshKeyOut:
    async def run() -> SshKeyOut:
        return _out(
            await ssh_keys.create_key(
                session, account_id=account_id, name=body.name, public_key=body.public_key, defaults=defaults
            )
        )

    return await idempotency.once(
        request, response, session, account_id=account_id, key=idempotency_key, status_code=201, run=run
    )


@router.get("/{key_id}/", summary="Get an SSH key", responses=errors(NotFound))
async def get_key(key_id: KeyId, session: Session, account_id: AccountId) -> SshKeyOut:
    return _out(await ssh_keys.get_key(session, account_id=account_id, key_id=key_id))


@router.delete(
    "/{key_id}/",
    status_code=204,
    response_class=Response,
    summary="Delete an SSH key",
    responses=errors(NotFound),
)
async def delete_key(key_id: KeyId, session: Session, account_id: AccountId) -> Response:
    await ssh_keys.delete_key(session, account_id=account_id, key_id=key_id)
    return Response(status_code=204)
