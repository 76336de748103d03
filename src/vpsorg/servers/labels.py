"""Server labels: Kubernetes' rules for keys and values, and Hetzner's label selectors.

A key is an optional prefix (a DNS subdomain: lowercase letters, digits, '-' and '.', at
most 253 characters) and '/', then a name of 1-63 letters, digits, '-', '_' and '.' that
begins and ends with a letter or digit. A value is empty or follows the name's rule. A
server has at most MAX_LABELS.

A selector is comma-separated terms, all of which must hold: `k=v` or `k==v` (equal),
`k!=v` (not equal, or no such key, as Kubernetes has it), `k` (the key is there), `!k`
(it is not). No whitespace; set-based terms (`k in (a,b)`) are not supported.

The patterns below are the OpenAPI document's (ECMA 262 and Python alike): they say exactly
what the checks here accept, so that a schema-valid request is never refused. The prefix's
length bound is a negative lookahead, which generators skip rather than expand.
"""

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic_core import PydanticCustomError
from sqlalchemy import ColumnElement, or_

from vpsorg.errors import ValidationFailed

MAX_LABELS = 64
MAX_TERMS = 64

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
_KEY = rf"(?:(?![-a-z0-9.]{{254}}){_PREFIX}/)?{_NAME}"
_VALUE = rf"(?:{_NAME})?"
_TERM = rf"(?:!?{_KEY}|{_KEY}(?:==?|!=){_VALUE})"

KEY_PATTERN = rf"^{_KEY}$"
VALUE_PATTERN = rf"^{_VALUE}$"
SELECTOR_PATTERN = rf"^{_TERM}(?:,{_TERM}){{0,{MAX_TERMS - 1}}}$"

_name_re = re.compile(_NAME)
_prefix_re = re.compile(_PREFIX)

NAME_RULE = "1-63 letters, digits, '-', '_' and '.', beginning and ending with a letter or digit"
PREFIX_RULE = "a DNS subdomain of at most 253 lowercase letters, digits, '-' and '.'"


def key_problem(key: str) -> str | None:
    """Why the key is not a label key, in words; None if it is one."""
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix:
            return f"label key {key!r} has an empty prefix before '/'"
        if len(prefix) > 253 or not _prefix_re.fullmatch(prefix):
            return f"label key {key!r}: the prefix before '/' must be {PREFIX_RULE}"
    if not name:
        return f"label key {key!r} has no name (the part after any prefix and '/')"
    if len(name) > 63 or not _name_re.fullmatch(name):
        return f"label key {key!r}: the name must be {NAME_RULE}"
    return None


def value_problem(key: str, value: str) -> str | None:
    """Why the value is not a label value, in words; None if it is one."""
    if value and (len(value) > 63 or not _name_re.fullmatch(value)):
        return f"the value of label {key!r} must be empty or {NAME_RULE}"
    return None


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    """The labels, if every key and value follows the rules; else a validation error in words."""
    if len(labels) > MAX_LABELS:
        raise PydanticCustomError(
            "too_many_labels", f"at most {MAX_LABELS} labels per server, not {len(labels)}"
        )
    for key, value in labels.items():
        problem = key_problem(key) or value_problem(key, value)
        if problem is not None:
            raise PydanticCustomError("label", problem)
    return labels


def labels_schema(schema: dict[str, Any]) -> None:
    """The JSON Schema of a labels map: what check_labels accepts."""
    schema.update(
        maxProperties=MAX_LABELS,
        propertyNames={"pattern": KEY_PATTERN},
        additionalProperties={"type": "string", "maxLength": 63, "pattern": VALUE_PATTERN},
    )


class Op(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    EXISTS = "exists"
    ABSENT = "absent"


@dataclass(frozen=True)
class Term:
    op: Op
    key: str
    value: str = ""


def _term(text: str) -> Term:
    if not text:
        raise ValueError("the selector has an empty term (two commas in a row, or one at an end)")
    if text.startswith("!") and "=" not in text:
        term = Term(Op.ABSENT, text[1:])
    elif "!=" in text:
        key, _, value = text.partition("!=")
        term = Term(Op.NOT_EQUAL, key, value)
    elif "=" in text:
        key, _, value = text.partition("=")
        term = Term(Op.EQUAL, key, value.removeprefix("="))
    else:
        term = Term(Op.EXISTS, text)
    if term.op in (Op.EQUAL, Op.NOT_EQUAL) and "=" in term.value:
        raise ValueError(f"term {text!r} has more than one operator")
    problem = key_problem(term.key) or value_problem(term.key, term.value)
    if problem is not None:
        raise ValueError(f"term {text!r}: {problem}")
    return term


def parse_selector(selector: str) -> tuple[Term, ...]:
    """The terms of a label selector; ValidationFailed (field label_selector) in words if malformed."""
    try:
        if any(c.isspace() for c in selector):
            raise ValueError("the selector must not contain whitespace")
        if "(" in selector or ")" in selector:
            raise ValueError("set-based terms such as 'k in (a,b)' are not supported; use k=v terms")
        terms = tuple(_term(t) for t in selector.split(","))
        if len(terms) > MAX_TERMS:
            raise ValueError(f"the selector has {len(terms)} terms; at most {MAX_TERMS}")
    except ValueError as error:
        raise ValidationFailed.field("label_selector", str(error)) from None
    return terms


def clauses(column: Any, terms: tuple[Term, ...]) -> list[ColumnElement[bool]]:
    """WHERE clauses over a JSON labels column for the terms, with SQLAlchemy's portable JSON
    element access (JSON_EXTRACT on SQLite, ->> on PostgreSQL); every value is a string, so
    NULL means the key is not there."""
    out: list[ColumnElement[bool]] = []
    for term in terms:
        value = column[term.key].as_string()
        if term.op is Op.EQUAL:
            out.append(value == term.value)
        elif term.op is Op.NOT_EQUAL:
            out.append(or_(value.is_(None), value != term.value))
        elif term.op is Op.EXISTS:
            out.append(value.is_not(None))
        else:
            out.append(value.is_(None))
    return out
