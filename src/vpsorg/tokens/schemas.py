from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field

from vpsorg.accounts.service import Scope
from vpsorg.schemas import RequestModel, Timestamp


class TokenCreate(RequestModel):
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
    # Not strict: FastAPI validates the parsed body, where an enum arrives as its string value.
    scope: Scope = Field(
        default=Scope.WRITE,
        strict=False,
        description="read < write < admin; at most the scope of the token that asks",
    )
    # JSON Schema counts 40.0 as an integer, so it is one here too; "40" and 1.5 are not.
    expires_in_days: (
        Annotated[
            int,
            BeforeValidator(lambda v: int(v) if isinstance(v, float) and v.is_integer() else v),
            Field(ge=1, le=3650),
        ]
        | None
    ) = Field(default=None, description="Days until the token stops working; omitted or null: never")


class TokenOut(BaseModel):
    id: int
    name: str
    scope: Scope
    created_at: Timestamp
    last_used_at: Timestamp | None = Field(description="Recorded at most once a minute")
    expires_at: Timestamp | None = Field(description="null: never expires")


class TokenCreated(TokenOut):
    token: str = Field(description="The secret: shown in this response only, never again")
