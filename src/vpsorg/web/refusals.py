"""A refused form in words: the API's own request schema reads the fields, and an AppError
(the schema's or a service's) becomes a message and the fields it names, shown beside them,
with the status the API would answer."""

from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from vpsorg.errors import AppError, ValidationFailed

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str
    fields: dict[str, str] = field(default_factory=dict)  # a field's name -> what is wrong with it


def _words(error: ErrorDetails) -> str:
    """A pydantic error as a person reads it (its own messages name types and patterns)."""
    kind, ctx = error["type"], error.get("ctx", {})
    if kind in ("missing", "string_too_short") and ctx.get("min_length", 1) == 1:
        return "must not be empty"
    if kind == "string_too_short":
        return f"must be at least {ctx['min_length']} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters"
    if kind == "string_pattern_mismatch":
        return "must not contain control characters (such as a line break)"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be a whole number"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    if kind == "enum":
        return f"must be one of {ctx['expected']}"
    return str(error["msg"]).removeprefix("Value error, ")


def parse(model: type[M], data: dict[str, Any]) -> M:
    """The form's fields read by the API's schema; refused: ValidationFailed naming each field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = [
            {"name": str(e["loc"][0]) if e["loc"] else "form", "message": _words(e)} for e in exc.errors()
        ]
        shown = "; ".join(f"{f['name']}: {f['message']}" for f in fields)
        raise ValidationFailed(f"Invalid form: {shown}", details={"fields": fields}) from None


def refusal(exc: AppError) -> Refusal:
    named = exc.details.get("fields", [])
    fields = {f["name"]: f["message"] for f in named if isinstance(f, dict) and "name" in f}
    return Refusal(status=exc.status_code, message=exc.message, fields=fields)
