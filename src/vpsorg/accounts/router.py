from fastapi import APIRouter

from vpsorg.accounts import service as accounts
from vpsorg.accounts.schemas import AccountOut
from vpsorg.deps import AccountId, Session
from vpsorg.errors import AUTH_RESPONSES

router = APIRouter(prefix="/api/v1/account", tags=["account"], responses=AUTH_RESPONSES)


@router.get("/", summary="Your account")
async def get_account(session: Session, account_id: AccountId) -> AccountOut:
    return AccountOut.model_validate(
        await accounts.get_account(session, account_id=account_id), from_attributes=True
    )
