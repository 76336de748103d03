from typing import Annotated, Literal, get_args

from pydantic import BaseModel, Field, WithJsonSchema, field_validator

from vpsorg.schemas import PatchModel, RequestModel, Timestamp
from vpsorg.webhooks.models import DeliveryStatus

# "*" (every type) or an event type: vpsorg.events.types.EventType's values, written out
# (a Literal: a union with the enum reports a bad value twice; tests/webhooks check they agree).
EventType = Literal[
    "*",
    "server.created",
    "server.status_changed",
    "server.deleted",
    "action.queued",
    "action.running",
    "action.finished",
    "snapshot.available",
    "snapshot.failed",
    "account.suspended",
    "account.unsuspended",
    "account.credit_added",
]
TYPES = [t for t in get_args(EventType) if t != "*"]
EventTypes = Annotated[
    list[EventType],
    Field(min_length=1, max_length=len(TYPES)),
    # What the validator below enforces too: ["*"] alone, or event types each at most once.
    WithJsonSchema(
        {
            "description": 'The event types to receive, each once; ["*"] (the default): all of them',
            "anyOf": [
                {"type": "array", "items": {"const": "*"}, "minItems": 1, "maxItems": 1},
                {
                    "type": "array",
                    "items": {"type": "string", "enum": TYPES},
                    "minItems": 1,
                    "maxItems": len(TYPES),
                    "uniqueItems": True,
                },
            ],
        }
    ),
]
Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2048,
        description="Where to POST events: https (http only where the operator allows it), "
        "to a public address",
        examples=["https://example.com/hooks/vpsorg"],
    ),
]
Description = Annotated[str, Field(max_length=200, description="A note for yourself")]


def _types_ok(types: list[str]) -> list[str]:
    if "*" in types and len(types) > 1:
        raise ValueError('"*" means every type: give it alone')
    if len(set(types)) != len(types):
        raise ValueError("a type is given twice")
    return types


class WebhookCreate(RequestModel):
    url: Url
    event_types: EventTypes = Field(default_factory=lambda: list[EventType](["*"]))
    enabled: bool = True
    description: Description = ""

    _types = field_validator("event_types")(_types_ok)


class WebhookPatch(PatchModel):
    """Any of the fields, at least one; none may be null."""

    url: Url = None  # type: ignore[assignment]
    event_types: EventTypes = None  # type: ignore[assignment]
    enabled: bool = None  # type: ignore[assignment]
    description: Description = None  # type: ignore[assignment]

    _types = field_validator("event_types")(_types_ok)


class WebhookOut(BaseModel):
    id: int
    url: str
    event_types: list[str] = Field(description='The event types it receives; ["*"]: all')
    enabled: bool
    description: str
    created_at: Timestamp
    updated_at: Timestamp


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="The key deliveries are signed with (VPSORG-Signature). Shown only here: keep it."
    )


class DeliveryOut(BaseModel):
    id: int
    event_id: int
    event_type: str
    status: DeliveryStatus = Field(
        description="pending (to be sent, or sent again at next_attempt_at), succeeded, or failed (given up)"
    )
    attempts: int
    last_status_code: int | None = Field(description="The receiver's HTTP status at the last attempt")
    last_error: str | None = Field(description="What went wrong at the last attempt")
    redelivery_of: int | None = Field(description="The delivery a manual redeliver sends again")
    created_at: Timestamp
    last_attempt_at: Timestamp | None
    next_attempt_at: Timestamp | None = Field(description="When it is tried next, while pending")
    finished_at: Timestamp | None
