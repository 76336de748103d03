"""Types shared by every domain's schemas."""

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

# RFC 3339 in UTC with a Z suffix and whole seconds, as in the seed's examples.
Timestamp = Annotated[
    datetime,
    PlainSerializer(lambda d: d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "example": "2025-01-10T14:30:00Z"}),
]

# Ids are 32-bit on every database we support; larger numbers are invalid input, not a 500.
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


class RequestModel(BaseModel):
    """A request body: strict JSON types, unknown fields rejected."""

    model_config = ConfigDict(strict=True, extra="forbid")


class ErrorField(BaseModel):
    name: str
    message: str


class ErrorInfo(BaseModel):
    code: str = Field(examples=["validation_error"])
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(BaseModel):
    """Every error response has this shape."""

    error: ErrorInfo
