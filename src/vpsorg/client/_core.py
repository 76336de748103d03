"""What the sync and async clients share: retry and backoff policy, request bodies, parsing."""

import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from tenacity import RetryCallState

from vpsorg.client.errors import APIError, RateLimited, ServerError, TransportError, error_from_response
from vpsorg.client.models import Model

M = TypeVar("M", bound=Model)

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Failures before the request reached the server: safe to retry whatever the method.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
USER_AGENT = "vpsorg-client"
DEFAULT_TIMEOUT = 30.0
DEFAULT_WAIT_TIMEOUT = 900.0  # seconds an action may take before ActionTimeout
MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class Backoff:
    """Delays between retries and between polls of an action: `initial` seconds, times
    `multiplier` each time, at most `maximum`, with +-`jitter` (a fraction) of randomness."""

    initial: float = 0.5
    maximum: float = 10.0
    multiplier: float = 2.0
    jitter: float = 0.1

    def delay(self, attempt: int) -> float:
        """The delay before retry or poll number `attempt` (1-based)."""
        base = min(self.maximum, self.initial * self.multiplier ** max(0, attempt - 1))
        return max(0.0, base * (1 + random.uniform(-self.jitter, self.jitter)))


class SentError(TransportError):
    """The connection failed after the request may have reached the server."""


class NotSentError(TransportError):
    """The connection failed before the request reached the server."""


def transport_error(exc: httpx.TransportError, method: str, url: str, attempt: int) -> TransportError:
    """The error of attempt number `attempt`; the last one raised says what was tried, where
    and how often (a `vps` user with the server down sees it and nothing else)."""
    cls = NotSentError if isinstance(exc, NOT_SENT) else SentError
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    times = "once" if attempt == 1 else f"{attempt} times"
    return cls(f"{method} {url}: {what} (tried {times})", url=url)


def should_retry(method: str, exc: BaseException, *, keyed: bool) -> bool:
    """Retry what cannot act twice: anything not sent, or rate-limited (429: not processed);
    after a cut connection or a 5xx, an idempotent method, or a POST sent with an
    Idempotency-Key (the API then answers a repeat with the first response); a POST whose
    key is still being processed (409 idempotency_key_in_use)."""
    if isinstance(exc, NotSentError | RateLimited):
        return True
    if isinstance(exc, SentError | ServerError):
        return method in IDEMPOTENT or keyed
    return isinstance(exc, APIError) and exc.code == "idempotency_key_in_use" and keyed


def retry_wait(backoff: Backoff):  # type: ignore[no-untyped-def]
    """A tenacity wait: the server's Retry-After when it gave one, else the backoff."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hint = getattr(exc, "retry_after", None)
        if isinstance(hint, int | float) and hint >= 0:
            return min(float(hint), MAX_RETRY_AFTER)
        return backoff.delay(state.attempt_number)

    return wait


def check(response: httpx.Response, method: str, attempt: int) -> Any:
    """The response's JSON, or the APIError it stands for. A DELETE that was retried and
    finds nothing succeeded the first time."""
    if response.status_code == 404 and method == "DELETE" and attempt > 1:
        return None
    if response.status_code >= 400:
        raise error_from_response(response)
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


def bind(client: Any, cls: type[M], data: dict[str, Any]) -> M:
    """A model read from `data`; an Action or Server gets the client that read it."""
    obj = cls.from_api(data)
    if hasattr(obj, "_client"):
        object.__setattr__(obj, "_client", client)
    return obj


def server_body(
    *,
    name: str,
    plan_id: int,
    os_id: int | None,
    location: str,
    hostname: str | None,
    ssh_key_id: int | None,
    backups_enabled: bool,
    labels: dict[str, str] | None = None,
    user_data: str | None = None,
    ssh_key_ids: Sequence[int] | None = None,
    snapshot_id: int | None = None,
) -> dict[str, Any]:
    """A create's JSON body. One SSH key goes as `ssh_key_id` (what every API version
    takes), several as `ssh_key_ids`; a key given twice is sent once. The disk's source:
    `os_id`, or `snapshot_id` (only what is given is sent; the API wants exactly one)."""
    body: dict[str, Any] = {"name": name, "plan_id": plan_id}
    if os_id is not None:
        body["os_id"] = os_id
    if snapshot_id is not None:
        body["snapshot_id"] = snapshot_id
    body["location"] = location
    if user_data is not None:
        body["user_data"] = user_data
    if labels:
        body["labels"] = dict(labels)
    if hostname is not None:
        body["hostname"] = hostname
    keys = list(dict.fromkeys(([ssh_key_id] if ssh_key_id is not None else []) + list(ssh_key_ids or [])))
    if len(keys) == 1:
        body["ssh_key_id"] = keys[0]
    elif keys:
        body["ssh_key_ids"] = keys
    if backups_enabled:
        body["backups_enabled"] = True
    return body


def rebuild_body(
    os_id: int | None, ssh_key_ids: Sequence[int] | None, snapshot_id: int | None = None
) -> dict[str, Any]:
    """A rebuild's body: the OS or the snapshot to restore (what is given), and the keys
    when given ([] installs none)."""
    body: dict[str, Any] = {}
    if os_id is not None:
        body["os_id"] = os_id
    if snapshot_id is not None:
        body["snapshot_id"] = snapshot_id
    if ssh_key_ids is not None:
        body["ssh_key_ids"] = list(ssh_key_ids)
    return body


def update_body(**fields: Any) -> dict[str, Any]:
    """A PATCH or PUT body: the fields given (None: not given; an empty labels map is given)."""
    return {k: v for k, v in fields.items() if v is not None}


def credit_body(amount: Decimal | str, reason: str, kind: str | None) -> dict[str, Any]:
    value = Decimal(str(amount))
    body: dict[str, Any] = {
        "amount": f"{value:.2f}" if value == value.quantize(Decimal("0.01")) else str(value)
    }
    body["reason"] = reason
    if kind is not None:
        body["kind"] = kind
    return body


def limits_body(servers: int | str | None, ssh_keys: int | str | None) -> dict[str, Any]:
    """The admin limits PATCH: None leaves a limit as it is, "default" sets it back to the default."""
    given = {"servers": servers, "ssh_keys": ssh_keys}
    return {k: None if v == "default" else v for k, v in given.items() if v is not None}


def reason_body(reason: str | None) -> dict[str, Any] | None:
    return {"reason": reason} if reason else None


def list_params(page: int, page_size: int, **filters: Any) -> dict[str, Any]:
    return {"page": page, "page_size": page_size} | {k: v for k, v in filters.items() if v is not None}


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT, "Accept": "application/json"}


def idempotency_header(method: str) -> dict[str, str]:
    """A fresh key for each POST call, sent with every attempt of it."""
    return {"Idempotency-Key": str(uuid.uuid4())} if method == "POST" else {}


# The API sends a heartbeat comment every 15 s on an idle stream: three missed, the
# connection is taken for dead and resumed.
STREAM_READ_TIMEOUT = 45.0
EVENTS_PATH = "/api/v1/events/"
STREAM_PATH = "/api/v1/events/stream/"


def stream_params(types: Sequence[str] | str | None, server_id: int | None) -> dict[str, Any]:
    """The stream's filters as the API takes them (`types=a,b&server_id=N`)."""
    params: dict[str, Any] = {}
    if types:
        params["types"] = types if isinstance(types, str) else ",".join(types)
    if server_id is not None:
        params["server_id"] = server_id
    return params


def stream_headers(base: dict[str, str], last_event_id: int | None) -> dict[str, str]:
    """The stream request's headers: `Last-Event-ID` resumes after that event."""
    extra = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
    if last_event_id is not None:
        extra["Last-Event-ID"] = str(last_event_id)
    return base | extra


def stream_timeout(timeout: float, read: float | None = None) -> httpx.Timeout:
    """Connecting as any call; reading waits past the heartbeats (or until `read`)."""
    return httpx.Timeout(timeout, read=STREAM_READ_TIMEOUT if read is None else max(0.05, read))


# Transports that run the app in-process and hand over a response only once it is whole: an
# event stream never is, so on them waits poll (Starlette's TestClient's is matched by name,
# the client imports no server package).
BUFFERING = (httpx.ASGITransport, httpx.WSGITransport)


def streams_events(http: httpx.Client | httpx.AsyncClient) -> bool:
    """Whether an event stream can be read through `http` as it comes."""
    transport = getattr(http, "_transport", None)
    return not (isinstance(transport, BUFFERING) or type(transport).__module__.startswith("starlette."))


def newest_id(body: Any) -> int:
    """The first event's id in a page of the events list (newest first); 0 for an empty one.
    Anything else is not this API's list: an APIError, as a refusal would be."""
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise APIError(200, "unexpected_answer", "the API did not answer a list of events")
    return int(results[0]["id"]) if results else 0


class SSELines:
    """Server-Sent Events read line by line (the part of the format the API uses: `data:`
    lines, ended by a blank line; `id:` repeats the event's own id; comments are heartbeats)."""

    def __init__(self) -> None:
        self.data: list[str] = []

    def feed(self, line: str) -> dict[str, Any] | None:
        """The event (its JSON) this line ends, if it ends one."""
        if line.startswith("data:"):
            self.data.append(line[5:].removeprefix(" "))
        elif not line and self.data:
            text, self.data = "\n".join(self.data), []
            return dict(json.loads(text))
        return None


def check_event_stream(response: httpx.Response) -> None:
    """An answer that is not an event stream (a proxy's page, say) is an error, not events."""
    kind = response.headers.get("content-type", "").partition(";")[0].strip()
    if kind != "text/event-stream":
        raise APIError(response.status_code, "not_an_event_stream", f"the API answered {kind or 'nothing'}")
