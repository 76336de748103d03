"""Prometheus metrics of this process (prometheus_client's default registry).

They are served on a port of their own, never on the API's: `vpsorg serve` on
VPSORG_METRICS_PORT (process k of `--workers N` on the first free port of PORT..PORT+N-1),
`vpsorg worker` on VPSORG_WORKER_METRICS_PORT, both on VPSORG_METRICS_HOST (loopback by
default). Each process reports its own, as Prometheus expects of processes it scrapes one by one.
"""

import threading
from collections.abc import Callable, Sequence
from wsgiref.simple_server import WSGIServer

from prometheus_client import Counter, Gauge, start_http_server

ACTIONS = Counter(
    "vpsorg_actions_total", "Actions this worker finished, by type and outcome", ["type", "outcome"]
)
ORPHAN_MACHINES = Gauge(
    "vpsorg_reconcile_orphan_machines",
    "Machines on the hypervisor that no live server owns, at the last reconcile (never destroyed)",
)
CORRECTIONS = Counter(
    "vpsorg_reconcile_corrections_total",
    "Servers whose status reconcile corrected to the hypervisor's power state",
)
HOSTS = Gauge(
    "vpsorg_hosts",
    "Hypervisor hosts by state (enabled, disabled, draining; down: no heartbeat from its worker"
    " within VPSORG_HOST_DOWN_SECONDS), as this worker last counted them",
    ["state"],
)
WEBHOOK_ATTEMPTS = Counter(
    "vpsorg_webhook_attempts_total",
    "Webhook delivery attempts this worker made, by outcome (succeeded; retry: failed, to be"
    " tried again; failed: given up; stale: the outcome came after its lease was lost)",
    ["outcome"],
)
RATE_LIMIT_STORAGE_ERRORS = Counter(
    "vpsorg_rate_limit_storage_errors_total",
    "Requests let through unlimited because the rate-limit storage (Redis) failed",
)


def _start(host: str, ports: Sequence[int]) -> tuple[WSGIServer, threading.Thread]:
    last: OSError | None = None
    for port in ports:
        try:
            return start_http_server(port, addr=host)
        except OSError as exc:
            last = exc
    raise OSError(f"no free metrics port in {host}:{ports[0]}-{ports[-1]}: {last}")


def serve(host: str, ports: Sequence[int]) -> Callable[[], None]:
    """Serve GET /metrics on the first free one of ports (in a thread); returns a stop function.

    OSError when every one is taken."""
    server, thread = _start(host, ports)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

    return stop
