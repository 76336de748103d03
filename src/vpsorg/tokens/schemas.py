from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field

from vpsorg.accounts.service import Scope
from vpsorg.schemas import RequestModel, Timestamp


def _integral(value: object) -> object:
    """JSON Schema counts 40.0 as an integer, so it is one here too; "40" and 1.5 are not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class TokenCreate(RequestModel):
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
    # Not strict: FastAPI validates the parsed body, where an enum arrives as its string value.
    scope: Scope = Field(
        default=Scope.WRITE,
        strict=False,
        description="read < write < admin; at most the scope of the token that asks",
    )
    expires_in_days: Annotated[int, Field(ge=1, le=3650), BeforeValidator(_integral)] | None = Field(
        default=None, description="Days until the token stops working; omitted or null: never"
    )


class TokenOut(BaseModel):
    id: int
    name: str
    scope: Scope
    created_at: Timestamp
    last_used_at: Timestamp | None = Field(description="Recorded at most once a minute")
    expires_at: Timestamp | None = Field(description="null: never expires")


class TokenCreated(TokenOut):
    token: str = Field(description="The secret: shown in this response only, never again")
