"""A refused form in words: each field's message beside it, and one line above the form."""

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from vpsorg.errors import AppError

# Pydantic's messages that name a regular expression or a type say this instead.
_WORDS = {
    "int_parsing": "choose one",
    "int_type": "choose one",
    "missing": "required",
    "string_too_short": "required",
    "bool_parsing": "must be on or off",
}


@dataclass
class Refusal:
    """Why a form was refused: a message for the whole form and one per field, and the HTTP
    status the API would have answered."""

    message: str
    status: int = 400
    fields: dict[str, str] = field(default_factory=dict)


def from_validation(exc: ValidationError, model: type[BaseModel]) -> Refusal:
    """A schema's refusal of the form's values (the same schema the API validates with)."""
    fields: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "form"
        described = model.model_fields[name].description if name in model.model_fields else None
        if error["type"] == "string_pattern_mismatch" and described:
            text = described
        elif error["type"] == "string_too_short" and error.get("input"):
            text = error["msg"]
        else:
            text = _WORDS.get(error["type"], str(error["msg"]).removeprefix("Value error, "))
        fields.setdefault(name, text)
    listed = "; ".join(f"{name.replace('_', ' ')}: {text}" for name, text in fields.items())
    return Refusal(f"Please check the form: {listed}.", 400, fields)


def from_error(exc: AppError) -> Refusal:
    """A service's refusal (quota, credit, capacity, a field it checked) as the API words it."""
    found: Any = exc.details.get("fields") if exc.details else None
    fields = {f["name"]: f["message"] for f in found} if isinstance(found, list) else {}
    return Refusal(exc.message, exc.status_code, fields)
