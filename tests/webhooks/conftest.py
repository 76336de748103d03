"""A control plane for webhook tests: the API with its worker in one process, http:// to
loopback allowed (VPSORG_WEBHOOKS_ALLOW_HTTP), deliveries looked for every 0.05 s and
retries backing off from 0.05 s to at most 0.2 s (a short wait, by settings)."""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Live, prepare_database, serve_in_thread, test_settings

FAST: dict[str, Any] = {
    "webhooks_allow_http": True,
    "webhooks_interval_seconds": 0.05,
    "webhooks_retry_base_seconds": 0.05,
    "webhooks_retry_max_seconds": 0.2,
    "webhooks_lease_seconds": 2.0,
}


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    settings = test_settings(tmp_path_factory.mktemp("hooked") / "vpsorg.db", **FAST)
    prepare_database(settings)
    with serve_in_thread(settings) as server:
        yield server
