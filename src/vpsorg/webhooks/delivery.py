"""One HTTP attempt of a delivery: a signed POST to the address the URL's check found (never
resolving the name again: DNS rebinding), 5 s in all, no redirect followed (a 3xx is a
failure), no more than MAX_READ bytes of the answer read."""

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from vpsorg.webhooks import signing
from vpsorg.webhooks.urls import Target

MAX_READ = 4096
USER_AGENT = "vpsorg-webhooks/1"


@dataclass(frozen=True)
class Attempt:
    """How an attempt went: the receiver's status code (None if none came) and, unless it
    was a 2xx, what went wrong."""

    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def backoff(attempts: int, *, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: base * 2^(attempts-1), at most
    `cap`, of which half is fixed and half random ("equal jitter": retries of many
    deliveries that failed together spread out, yet never come sooner than half the step)."""
    step = min(cap, base * 2 ** min(attempts - 1, 62))
    return step / 2 + rand() * step / 2


def headers(
    *, secret: str, event_id: int, event_type: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    """The headers of a delivery (signed at `now`, unix seconds)."""
    t = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.HEADER: signing.header(secret, t, body),
        "VPSORG-Event-Id": str(event_id),
        "VPSORG-Event-Type": event_type,
    }


def pinned(target: Target) -> tuple[httpx.URL, str]:
    """The URL with its host replaced by the checked address, and the Host header's value."""
    url = httpx.URL(target.url)  # no credentials in it (urls.parse): netloc is host[:port]
    return url.copy_with(host=str(target.address)), url.netloc.decode()


async def send(target: Target, body: bytes, sent_headers: dict[str, str], *, timeout: float) -> Attempt:
    """POST the body to the target; a 2xx is success, anything else (a 3xx too) a failure."""
    url, host = pinned(target)
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        async with (
            asyncio.timeout(timeout),
            httpx.AsyncClient(follow_redirects=False, timeout=timeout, trust_env=False) as client,
        ):
            request = client.build_request(
                "POST", url, content=body, headers=sent_headers | {"Host": host}, extensions=extensions
            )
            response = await client.send(request, stream=True)
            try:
                await _read_some(response)
            finally:
                await response.aclose()
    except (TimeoutError, httpx.TimeoutException):
        return Attempt(None, f"timed out after {timeout:g} s")
    except httpx.HTTPError as exc:
        return Attempt(None, f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__)
    code = response.status_code
    if 200 <= code < 300:
        return Attempt(code, None)
    if 300 <= code < 400:
        where = response.headers.get("location", "")[:200]
        return Attempt(code, f"HTTP {code}: redirect to {where!r} not followed")
    return Attempt(code, f"HTTP {code}")


async def _read_some(response: httpx.Response) -> None:
    """Read at most MAX_READ bytes of the answer, then stop (the rest is never read)."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read >= MAX_READ:
            return
