from pydantic import BaseModel, Field

from vpsorg.schemas import Timestamp
from vpsorg.servers.states import ActionStatus, ActionType


class ActionRef(BaseModel):
    id: int
    type: ActionType
    status: ActionStatus


class ActionOut(ActionRef):
    server_id: int
    reason: str | None = Field(description="Why the action was taken, when not by the customer")
    error: str | None = Field(description="What went wrong, when status is error")
    attempts: int
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
