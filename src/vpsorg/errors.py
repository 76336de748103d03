"""The one error tree of the API.

AppError
 +-- ValidationFailed   400 validation_error
 +-- InvalidState       400 invalid_state
 +-- Unauthorized       401 unauthorized
 +-- PaymentRequired    402 insufficient_credit
 +-- Forbidden          403 forbidden
 +-- QuotaExceeded      403 quota_exceeded
 +-- AccountSuspended   403 account_suspended
 +-- NotFound           404 not_found
 +-- Conflict           409 conflict
 +-- PayloadTooLarge    413 payload_too_large
 +-- RateLimited        429 rate_limited
 +-- CapacityExhausted  503 capacity_exhausted
 +-- TooManyConnections 503 too_many_connections (sent by vpsorg.edge, before any route)

Every error is rendered by one handler (vpsorg.app) as
{"error": {"code": ..., "message": ..., "details": {...}}}.
"""

from typing import Any

from vpsorg.schemas import ErrorBody


class AppError(Exception):
    """Base of every error the API reports on purpose."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ValidationFailed(AppError):
    """The request is malformed or refers to something that does not exist."""

    status_code = 400
    code = "validation_error"

    @classmethod
    def field(cls, name: str, message: str) -> "ValidationFailed":
        return cls(f"Invalid {name}: {message}", details={"fields": [{"name": name, "message": message}]})


class InvalidState(AppError):
    """The server's status does not allow what was asked."""

    status_code = 400
    code = "invalid_state"


class Unauthorized(AppError):
    """The API token is missing or invalid."""

    status_code = 401
    code = "unauthorized"


class PaymentRequired(AppError):
    """The account's credit does not cover the order."""

    status_code = 402
    code = "insufficient_credit"


class Forbidden(AppError):
    """The token's scope does not allow this (a read token writing, a non-admin token on /api/v1/admin/)."""

    status_code = 403
    code = "forbidden"


class QuotaExceeded(AppError):
    """The account has as many servers or SSH keys as its quota allows (code quota_exceeded;
    details: resource, limit, used)."""

    status_code = 403
    code = "quota_exceeded"


class AccountSuspended(AppError):
    """The account is suspended by an operator: it may create nothing until it is unsuspended
    (code account_suspended; details: suspended_at, reason)."""

    status_code = 403
    code = "account_suspended"


class NotFound(AppError):
    """No such object in your account."""

    status_code = 404
    code = "not_found"


class Conflict(AppError):
    """The change conflicts with the current state of the data (e.g. a concurrent request made the
    same change first); fetch the current state and retry if still needed."""

    status_code = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    """The request body is larger than the server accepts (VPSORG_MAX_BODY_BYTES)."""

    status_code = 413
    code = "payload_too_large"


class RateLimited(AppError):
    """Too many requests with this token: past the rate limit (code rate_limited); retry after
    Retry-After seconds."""

    status_code = 429
    code = "rate_limited"


class CapacityExhausted(AppError):
    """The location has no free capacity (addresses) left."""

    status_code = 503
    code = "capacity_exhausted"


class TooManyConnections(AppError):
    """The process holds as many connections as VPSORG_MAX_CONNECTIONS allows; retry shortly."""

    status_code = 503
    code = "too_many_connections"


def errors(*classes: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the errors an endpoint can answer with (those of one status in one
    entry, their descriptions one after another)."""
    out: dict[int | str, dict[str, Any]] = {}
    for c in classes:
        said = " ".join((c.__doc__ or c.code).split())
        if c.status_code in out:  # joined as vpsorg.app joins the answers it adds
            said = f"{out[c.status_code]['description'].rstrip('.')}; or: {said}"
        out[c.status_code] = {"model": ErrorBody, "description": said}
    return out


AUTH_RESPONSES = errors(Unauthorized)
