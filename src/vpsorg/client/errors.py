"""One exception tree, mirroring the API's error body {"error": {"code", "message", "details"}}.

VpsError
 +-- APIError(status, code, message, details, request_id)   the API answered with an error
 |    +-- ValidationError   400 validation_error / invalid_json
 |    +-- InvalidState      400 invalid_state
 |    +-- Unauthorized      401
 |    +-- PaymentRequired   402
 |    +-- Forbidden         403
 |    |    +-- QuotaExceeded 403 quota_exceeded (details: resource, limit, used)
 |    +-- NotFound          404
 |    +-- RateLimited       429
 |    +-- ServerError       5xx
 +-- TransportError         the API could not be reached (after retries)
 +-- ActionFailed           an action we waited for ended in error
 +-- ActionTimeout          an action we waited for did not finish in time
"""

from typing import Any

import httpx


class VpsError(Exception):
    """Base of every error the client raises."""


class APIError(VpsError):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.request_id = request_id
        self.retry_after: float | None = None  # the server's Retry-After, in seconds


class ValidationError(APIError):
    """400: the request is malformed (details.fields names each field)."""


class InvalidState(APIError):
    """400 invalid_state: the server's status does not allow the action."""


class Unauthorized(APIError):
    """401: the token is missing or invalid."""


class PaymentRequired(APIError):
    """402: the account's available credit does not cover the order."""


class Forbidden(APIError):
    """403: the token's scope does not allow this."""


class QuotaExceeded(Forbidden):
    """403 quota_exceeded: the account has as many servers or SSH keys as it may
    (details: resource, limit, used)."""


class NotFound(APIError):
    """404: no such object in your account."""


class RateLimited(APIError):
    """429: too many requests (retried for you, after the server's Retry-After)."""


class ServerError(APIError):
    """5xx: the API failed or is unavailable (database_unavailable is retried for you)."""


class TransportError(VpsError):
    """The API could not be reached: connection refused, timed out, or cut. The message
    names the method and URL tried and how many times; `url` is that URL."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class ActionFailed(VpsError):
    def __init__(self, action: Any) -> None:
        super().__init__(f"action {action.id} ({action.type}) failed: {action.error}")
        self.action = action


class ActionTimeout(VpsError):
    def __init__(self, action: Any, timeout: float) -> None:
        super().__init__(f"action {action.id} ({action.type}) is still {action.status} after {timeout:g} s")
        self.action = action
        self.timeout = timeout


_BY_STATUS: dict[int, type[APIError]] = {
    401: Unauthorized,
    402: PaymentRequired,
    403: Forbidden,
    404: NotFound,
    429: RateLimited,
}


def error_from_response(response: httpx.Response) -> APIError:
    """The exception for an error response, from its body when it has our shape."""
    try:
        body = response.json()["error"]
        code, message, details = str(body["code"]), str(body["message"]), dict(body.get("details") or {})
    except (ValueError, KeyError, TypeError):
        code, message, details = "http_error", response.text[:200] or response.reason_phrase, {}
    status = response.status_code
    cls: type[APIError]
    if status == 400:
        cls = InvalidState if code == "invalid_state" else ValidationError
    elif status == 403 and code == "quota_exceeded":
        cls = QuotaExceeded
    elif status >= 500:
        cls = ServerError
    else:
        cls = _BY_STATUS.get(status, APIError)
    error = cls(status, code, message, details, response.headers.get("x-request-id"))
    error.retry_after = _seconds(response.headers.get("retry-after"))
    return error


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
