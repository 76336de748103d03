from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class EventObject(BaseModel):
    type: str = Field(description="server, action, snapshot, account or ledger_entry")
    id: int


class EventOut(BaseModel):
    id: int = Field(description="Monotonic: the order the changes were committed in")
    type: str = Field(examples=["server.status_changed"])
    object: EventObject
    server_id: int | None = Field(description="The server it concerns, if any")
    data: dict[str, Any]
    created_at: datetime
