"""A Redis for the rate-limit tests that share counts between API processes.

`VPSORG_TEST_REDIS_URL` names it (`scripts/start-redis.sh` starts one on loopback and prints
its URL). Unset, those tests are skipped and say why, except under CI (`CI` set, as .ci/run
runs), where a missing or silent Redis is a failure, as `VPSORG_TEST_LIBVIRT=required` makes a
missing libvirt one. Set, a Redis that does not answer fails them.
"""

import os
import socket
from urllib.parse import urlsplit

import pytest


def _answers(url: str) -> str | None:
    """Why the Redis at url does not answer PING, or None."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=5) as s:
            s.sendall(b"PING\r\n")
            reply = s.recv(64)
    except OSError as e:
        return f"no Redis answers at {url}: {e}"
    return None if reply.startswith(b"+PONG") else f"{url} answered {reply!r} to PING"


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("VPSORG_TEST_REDIS_URL", "")
    why = _answers(url) if url else "VPSORG_TEST_REDIS_URL is not set"
    if why and (url or os.environ.get("CI")):
        pytest.fail(f"the Redis tests must run here, but {why}")
    if why:
        pytest.skip(f"{why}: run VPSORG_TEST_REDIS_URL=$(scripts/start-redis.sh) (README: 'Rate limits')")
    return url
