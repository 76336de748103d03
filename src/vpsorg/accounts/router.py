from typing import Annotated

from fastapi import APIRouter, Depends, Request

from vpsorg import inputs
from vpsorg.accounts import limits
from vpsorg.accounts.schemas import AccountOut, LedgerEntryOut
from vpsorg.billing import service as billing
from vpsorg.deps import AccountId, DefaultLimits, Session
from vpsorg.errors import AUTH_RESPONSES, ValidationFailed, errors
from vpsorg.http.pagination import page_params, paged
from vpsorg.pagination import Page, PageParams

router = APIRouter(
    prefix="/api/v1/account", tags=["account"], responses=AUTH_RESPONSES, route_class=inputs.LimitedRoute
)


@router.get("/", summary="Your account: balance, available credit and quotas")
async def get_account(session: Session, account_id: AccountId, defaults: DefaultLimits) -> AccountOut:
    return AccountOut.model_validate(await limits.summary(session, account_id=account_id, defaults=defaults))


@router.get("/ledger/", summary="Your account's ledger, newest first", responses=errors(ValidationFailed))
async def list_ledger(
    request: Request,
    session: Session,
    account_id: AccountId,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[LedgerEntryOut]:
    count, rows = await billing.list_ledger(session, account_id=account_id, page=page)
    return paged(request, page, count, [LedgerEntryOut.model_validate(e, from_attributes=True) for e in rows])
