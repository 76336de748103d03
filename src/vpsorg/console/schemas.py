from pydantic import BaseModel, Field

from vpsorg.schemas import Timestamp


class ConsoleTicketOut(BaseModel):
    url: str = Field(
        description="The WebSocket URL of the server's serial console (ws:// or wss://, after the "
        "API's own scheme), with its single-use ticket in the path"
    )
    expires_at: Timestamp = Field(description="When the ticket expires unused (60 s after it was issued)")
