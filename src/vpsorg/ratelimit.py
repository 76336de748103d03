"""Rate limits per token: a fixed window counted by the `limits` library.

`deps.get_caller` calls `check` right after a token is authenticated: the request is counted
under `key_for(...)` (the token's hash, never the secret), and the RateLimit header values are
left in the request's state, where `RateLimitHeaders` (an ASGI middleware) adds them to the
response, whatever it is: a success, an error raised later (404, 400, 403), or the 429 that
`check` raises past the limit (which also carries Retry-After). Only an unexpected 500, which
Starlette answers outside every middleware, goes without them.

The header fields follow draft-ietf-httpapi-ratelimit-headers-11 (May 2026; the same syntax as
-10), Structured Fields Lists of Items with parameters:

    RateLimit-Policy: "default";q=600;w=60      quota q per window w (seconds)
    RateLimit: "default";r=598;t=41             r left, for the next t seconds

The counts live in the storage `VPSORG_RATE_LIMIT_STORAGE` names: `memory://` (one process)
or `redis://...` (shared by every API process). If the storage fails (Redis unreachable), the
request is let through without RateLimit headers, and that is logged at most once a minute per
process and counted in `vpsorg_rate_limit_storage_errors_total`: an outage of the limiter does
not become an outage of the API.
"""

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vpsorg.config import Settings
from vpsorg.errors import RateLimited
from vpsorg.metrics import RATE_LIMIT_STORAGE_ERRORS

log = logging.getLogger("vpsorg.ratelimit")

POLICY = "default"  # the policy's name in the header fields
KEY_PREFIX = "vpsorg-ratelimit"  # of every key in a shared storage (Redis)
STATE_KEY = "vpsorg_rate_limit_headers"  # where check() leaves the headers in the request's state
FAILURE_LOG_INTERVAL = 60.0  # seconds between two log lines about a failing storage
REDIS_TIMEOUT = 2.0  # seconds: a Redis that does not answer in time counts as failing


def key_for(*, token_hash: str, account_id: int) -> str:
    """What a limit is counted per: the token (its SHA-256 hash; the secret never leaves the
    request). To limit per account instead, return f"account:{account_id}"."""
    return f"token:{token_hash}"


def storage_uri(uri: str) -> str:
    """`memory://` or `redis://...` as the settings take them, as limits' async storages want them."""
    return uri if uri.startswith("async+") else f"async+{uri}"


def make_storage(uri: str) -> Storage:
    options: dict[str, Any] = {"wrap_exceptions": True}
    if "redis" in uri.split("://", 1)[0]:
        timeouts = {"connect_timeout": REDIS_TIMEOUT, "stream_timeout": REDIS_TIMEOUT}
        options |= {"key_prefix": KEY_PREFIX, **timeouts}
    storage = storage_from_string(storage_uri(uri), **options)
    assert isinstance(storage, Storage)
    return storage


@dataclass
class Limiter:
    """One limit (`VPSORG_RATE_LIMIT`) over one storage, for one process."""

    item: RateLimitItem
    storage: Storage
    strategy: FixedWindowRateLimiter = field(init=False)
    last_failure_log: float = field(default=-math.inf, init=False)

    def __post_init__(self) -> None:
        self.strategy = FixedWindowRateLimiter(self.storage)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Limiter":
        return cls(parse(settings.rate_limit), make_storage(settings.rate_limit_storage))

    @property
    def policy(self) -> str:
        return f'"{POLICY}";q={self.item.amount};w={self.item.get_expiry()}'

    async def hit(self, key: str) -> tuple[bool, int, int] | None:
        """Count one request: (allowed, remaining, seconds until the window resets);
        None when the storage failed (the request is then let through)."""
        try:
            allowed = await self.strategy.hit(self.item, key)
            reset_at, remaining = await self.strategy.get_window_stats(self.item, key)
        except (StorageError, OSError, TimeoutError) as exc:
            self._storage_failed(exc)
            return None
        return allowed, remaining, max(0, math.ceil(reset_at - time.time()))

    def _storage_failed(self, exc: Exception) -> None:
        RATE_LIMIT_STORAGE_ERRORS.inc()
        now = time.monotonic()
        if now - self.last_failure_log >= FAILURE_LOG_INTERVAL:
            self.last_failure_log = now
            log.error(
                "rate-limit storage failed, requests are not limited (logged once a minute): %s: %s",
                type(exc).__name__,
                exc,
            )


async def check(request: Request, limiter: Limiter, key: str) -> None:
    """Count the request; leave the RateLimit headers for the response; past the limit,
    raise RateLimited (429, with Retry-After)."""
    counted = await limiter.hit(key)
    if counted is None:
        return
    allowed, remaining, reset = counted
    headers = {"RateLimit-Policy": limiter.policy, "RateLimit": f'"{POLICY}";r={remaining};t={reset}'}
    setattr(request.state, STATE_KEY, headers)
    if not allowed:
        retry_after = max(1, reset)
        headers["Retry-After"] = str(retry_after)
        item = limiter.item
        raise RateLimited(
            f"Rate limit exceeded: {item.amount} requests per {item.get_expiry()} seconds "
            f"per token; retry in {retry_after} seconds",
            details={"limit": item.amount, "window_seconds": item.get_expiry(), "retry_after": retry_after},
        )


class RateLimitHeaders:
    """Adds the headers `check` left in the request's state to the response, whatever answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # One dict for the request's state, whatever copies of the scope the layers inside make.
        scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = scope.get("state", {}).get(STATE_KEY)
                if extra:
                    headers = MutableHeaders(scope=message)
                    for name, value in extra.items():
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
