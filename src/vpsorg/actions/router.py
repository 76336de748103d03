from fastapi import APIRouter

from vpsorg import inputs
from vpsorg.actions import service as actions
from vpsorg.actions.schemas import ActionOut
from vpsorg.deps import AccountId, Session
from vpsorg.errors import AUTH_RESPONSES, NotFound, errors

router = APIRouter(
    prefix="/api/v1/actions", tags=["actions"], responses=AUTH_RESPONSES, route_class=inputs.LimitedRoute
)


@router.get("/{action_id}/", summary="Get an action", responses=errors(NotFound))
async def get_action(action_id: inputs.PathId, session: Session, account_id: AccountId) -> ActionOut:
    action = await actions.get_action(session, account_id=account_id, action_id=action_id)
    return ActionOut.model_validate(action, from_attributes=True)
