"""Types shared by every domain's schemas."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

# RFC 3339 in UTC with a Z suffix and whole seconds, as in the seed's examples: made UTC and
# whole at validation, written by pydantic's own serializer (which writes UTC as Z). A Python
# serializer was called per timestamp when the JSON was written: 40% slower on a list page.
Timestamp = Annotated[
    datetime,
    AfterValidator(lambda d: d.astimezone(UTC).replace(microsecond=0)),
    WithJsonSchema({"type": "string", "format": "date-time", "example": "2025-01-10T14:30:00Z"}),
]

# Ids are 32-bit on every database we support; larger numbers are invalid input, not a 500.
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


# C0 control characters and DEL: no string the API takes may hold one (PostgreSQL cannot store
# NUL in text, and no field needs the others), unless the field's AllowControls says so.
CONTROL_CODES = [*range(0x20), 0x7F]
CONTROLS_MESSAGE = "must not contain control characters (U+0000-U+001F, U+007F)"


@dataclass(frozen=True)
class AllowControls:
    """Annotated metadata: the control characters a string field accepts (e.g. "\\t")."""

    chars: str


def control_class(allow: str = "") -> str:
    """A regex character class body (for Python and ECMA 262) of the control characters not in
    `allow`, as \\xNN ranges."""
    codes = [c for c in CONTROL_CODES if chr(c) not in allow]
    runs: list[list[int]] = []
    for c in codes:
        if runs and runs[-1][1] == c - 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return "".join(f"\\x{a:02x}" if a == b else f"\\x{a:02x}-\\x{b:02x}" for a, b in runs)


def control_pattern(allow: str = "") -> str:
    """The JSON Schema pattern of a string free of those control characters."""
    return f"^[^{control_class(allow)}]*$"


_CONTROLS = re.compile(f"[{control_class()}]")


def has_controls(value: str, allow: str = "") -> bool:
    if not allow:
        return _CONTROLS.search(value) is not None
    return re.search(f"[{control_class(allow)}]", value) is not None


def forbid_controls_in_schema(schema: dict[str, Any], allow: str = "") -> None:
    """Give a string schema (or a string member of its anyOf) that has no pattern, enum or
    const the pattern that says what the validation enforces."""
    for member in [schema, *schema.get("anyOf", [])]:
        if member.get("type") == "string" and not {"pattern", "enum", "const"} & member.keys():
            member["pattern"] = control_pattern(allow)


class RequestModel(BaseModel):
    """A request body: strict JSON types, unknown fields rejected, no control characters in any
    string (the OpenAPI document says so with a pattern on every string that has none)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    @classmethod
    def _allowed_controls(cls, name: str) -> str:
        metadata = cls.model_fields[name].metadata if name in cls.model_fields else []
        return "".join(m.chars for m in metadata if isinstance(m, AllowControls))

    @field_validator("*")
    @classmethod
    def _no_controls(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and has_controls(value, cls._allowed_controls(info.field_name or "")):
            raise ValueError(CONTROLS_MESSAGE)
        return value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        for name, prop in handler.resolve_ref_schema(schema).get("properties", {}).items():
            forbid_controls_in_schema(prop, cls._allowed_controls(name))
        return schema


class PatchModel(RequestModel):
    """A PATCH body: any non-empty subset of its fields; null is not a value.

    Subclasses type their fields without "| None" (a union would report a bad value twice,
    under member-tag names) and default them to None, which is never validated: it only
    marks a field as not given."""

    @staticmethod
    def _json_schema(schema: dict[str, Any]) -> None:
        # As validated: at least one field, and no field nullable.
        schema["minProperties"] = 1
        for prop in schema["properties"].values():
            prop.pop("default", None)

    model_config = ConfigDict(json_schema_extra=_json_schema)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.model_fields_set:
            raise ValueError(f"give at least one of {', '.join(type(self).model_fields)}")
        return self


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
