from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from vpsorg import inputs
from vpsorg.deps import Caller, Session
from vpsorg.errors import AUTH_RESPONSES, NotFound, errors
from vpsorg.http.pagination import page_params, paged
from vpsorg.pagination import Page, PageParams
from vpsorg.tokens import service as tokens
from vpsorg.tokens.schemas import TokenCreate, TokenCreated, TokenOut

router = APIRouter(
    prefix="/api/v1/tokens", tags=["tokens"], responses=AUTH_RESPONSES, route_class=inputs.LimitedRoute
)

TokenId = inputs.PathId


@router.get("/", summary="List your account's API tokens (never their secrets)")
async def list_tokens(
    request: Request,
    session: Session,
    caller: Caller,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[TokenOut]:
    count, rows = await tokens.list_tokens(session, account_id=caller[0], page=page)
    return paged(request, page, count, [TokenOut.model_validate(t, from_attributes=True) for t in rows])


@router.post(
    "/",
    status_code=201,
    summary="Create an API token; its secret is in this response only",
    description="The scope is at most the calling token's own (read < write < admin): more is 403. "
    "Idempotency-Key is not honoured here: a stored response would keep the secret.",
)
async def create_token(body: TokenCreate, session: Session, caller: Caller) -> TokenCreated:
    row, secret = await tokens.create_token(
        session,
        account_id=caller[0],
        caller_scope=caller[1],
        name=body.name,
        scope=body.scope,
        expires_in_days=body.expires_in_days,
    )
    return TokenCreated(
        id=row.id,
        name=row.name,
        scope=row.scope,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        token=secret,
    )


@router.delete(
    "/{token_id}/",
    status_code=204,
    response_class=Response,
    summary="Revoke an API token (it stops working at once)",
    responses=errors(NotFound),
)
async def revoke_token(token_id: TokenId, session: Session, caller: Caller) -> Response:
    await tokens.revoke_token(session, account_id=caller[0], token_id=token_id)
    return Response(status_code=204)
