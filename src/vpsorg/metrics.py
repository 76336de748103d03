"""Prometheus metrics of this process (prometheus_client's default registry).

`GET /metrics` on the API serves them; `vpsorg worker` serves them on
VPSORG_WORKER_METRICS_PORT when that is set. Each process reports its own, as Prometheus
expects of processes it scrapes one by one.
"""

from prometheus_client import Counter, Gauge

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
RATE_LIMIT_STORAGE_ERRORS = Counter(
    "vpsorg_rate_limit_storage_errors_total",
    "Requests let through unlimited because the rate-limit storage (Redis) failed",
)
