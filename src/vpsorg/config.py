"""Settings, read from the environment with the prefix VPSORG_."""

import re
from typing import Literal

from limits import parse
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

# The drivers a URL without one gets: `sqlite:///x.db`, `postgresql://...`, `postgres://...`.
DEFAULT_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
}
BACKENDS = ("sqlite", "postgresql")


def masked(url: str) -> str:
    """The URL with its password replaced by ***, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def normalize_database_url(url: str) -> str:
    """A database URL as people write it, with the async driver vpsorg uses; one with an
    explicit driver is kept as it is. ValueError (naming the masked URL) for anything else."""
    try:
        parsed: URL = make_url(url.strip())
    except ArgumentError:
        raise ValueError(
            f"{masked(url)} is not a database URL (sqlite:///PATH or postgresql://...)"
        ) from None
    drivername = DEFAULT_DRIVERS.get(parsed.drivername, parsed.drivername)
    if drivername.split("+")[0] not in BACKENDS:
        raise ValueError(
            f"{masked(url)}: unsupported database {parsed.get_backend_name()!r} (sqlite or postgresql)"
        )
    return parsed.set(drivername=drivername).render_as_string(hide_password=False)


class Settings(BaseSettings):
    """Everything an operator can configure; see the README's Configuration section."""

    model_config = SettingsConfigDict(env_prefix="VPSORG_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./vpsorg.db"
    driver: str = "simulator"
    simulator_time_scale: float = Field(default=1.0, ge=0)
    # Worker: how long a claimed action is ours without a heartbeat, how often we look
    # for work, how many actions run at once, how often usage is sampled and the
    # hypervisor's view reconciled.
    worker_lease_seconds: float = Field(default=30.0, gt=0)
    worker_poll_seconds: float = Field(default=0.5, gt=0)
    worker_concurrency: int = Field(default=16, ge=1)
    worker_max_attempts: int = Field(default=5, ge=1)
    metrics_interval_seconds: float = Field(default=10.0, gt=0)
    reconcile_interval_seconds: float = Field(default=30.0, gt=0)
    # How often the worker rolls usage history up into 5-minute and hourly means (vpsorg.usage).
    usage_rollup_interval_seconds: float = Field(default=60.0, gt=0)
    # How often the worker charges the hours that have started (vpsorg.billing).
    billing_interval_seconds: float = Field(default=60.0, gt=0)
    # Snapshots (vpsorg.snapshots.jobs): how often the worker queues due daily backups, prunes
    # them to the newest backup_retention of each server, and removes deleted images.
    snapshot_jobs_interval_seconds: float = Field(default=60.0, gt=0)
    backup_retention: int = Field(default=7, ge=1, le=1000)
    # Webhooks (vpsorg.webhooks; README "Webhooks"): http:// URLs (and loopback receivers)
    # for development and tests; private addresses (and loopback) for receivers on the
    # operator's own network; one attempt's time limit; how often the worker fans new events
    # out and sends what is due; a claimed delivery's lease; retries back off exponentially
    # from retry_base to retry_max (with jitter) and stop retry_window after the first attempt.
    webhooks_allow_http: bool = False
    webhooks_allow_private: bool = False
    webhooks_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    webhooks_interval_seconds: float = Field(default=1.0, gt=0)
    webhooks_lease_seconds: float = Field(default=60.0, gt=0)
    webhooks_retry_base_seconds: float = Field(default=10.0, gt=0)
    webhooks_retry_max_seconds: float = Field(default=3600.0, gt=0)
    webhooks_retry_window_seconds: float = Field(default=86400.0, gt=0)
    webhooks_concurrency: int = Field(default=8, ge=1, le=256)
    # Events (vpsorg.events): how long they are kept (the worker purges hourly); how often an
    # API process reads new ones on SQLite (PostgreSQL wakes it with NOTIFY); the streams'
    # heartbeat comment.
    event_retention_days: int = Field(default=30, ge=1, le=3650)
    event_poll_seconds: float = Field(default=0.2, gt=0, le=60)
    event_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    # Fleet (vpsorg.hosts): where a create is placed among its location's enabled hosts with
    # room (spread: the most memory free; pack: the least that fits), and how long a host's
    # worker may be silent before the host shows `down` (it heartbeats every quarter of it).
    placement: Literal["spread", "pack"] = "spread"
    host_down_seconds: float = Field(default=60.0, gt=0)
    sqlite_busy_timeout_ms: int = 30000
    # PostgreSQL connections one process keeps open (and up to half as many more at a peak):
    # a request holds one from its first query to its end, so a busy process needs about as
    # many as it has requests in flight; past the pool a connection is opened per request.
    database_pool_size: int = Field(default=32, ge=1)
    # Quotas (vpsorg.accounts.limits): what an account may have unless an operator set its own.
    default_server_limit: int = Field(default=25, ge=0, le=1_000_000)
    default_ssh_key_limit: int = Field(default=100, ge=0, le=1_000_000)
    # Prometheus metrics: `vpsorg serve` on metrics_port (process k of --workers N on
    # metrics_port + k), `vpsorg worker` on worker_metrics_port; both on metrics_host.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # The URL clients reach the API at (scheme, host, optional path prefix): Location headers,
    # page links and redirects use it instead of the request's Host. Unset: the request's own.
    public_url: str | None = Field(default=None, pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$")
    # The serial console (vpsorg.console): how long a ticket lives; where a worker listens for
    # the API's console relays (host:port; port 0: any free one) and the address it writes on
    # its hosts' rows for the API to connect to (unset: the listening address itself).
    console_ticket_seconds: float = Field(default=60.0, gt=0, le=3600)
    console_listen: str = Field(default="127.0.0.1:0", pattern=r"^\[?[0-9A-Za-z.:-]+\]?:[0-9]{1,5}$")
    console_advertise: str | None = Field(default=None, pattern=r"^\[?[0-9A-Za-z.:-]+\]?:[0-9]{1,5}$")
    # The libvirt driver (VPSORG_DRIVER=libvirt); see the README's "Real servers" section.
    libvirt_uri: str = "qemu:///system"
    libvirt_storage_dir: str = "/var/lib/vpsorg/machines"
    libvirt_network: str = "default"  # a libvirt network the guests' NICs join...
    libvirt_bridge: str | None = None  # ...or, when set, a host bridge (a public network)
    libvirt_virt_type: Literal["auto", "kvm", "qemu"] = "auto"
    libvirt_boot_check: Literal["cloud-init", "agent", "none"] = "cloud-init"
    libvirt_boot_timeout_seconds: float = Field(default=300.0, gt=0)
    libvirt_shutdown_grace_seconds: float = Field(default=60.0, ge=0)
    libvirt_name_prefix: str = Field(default="vpsorg-", pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    libvirt_nameservers: str = "1.1.1.1,2606:4700:4700::1111"
    # Rate limit per API token (vpsorg.ratelimit), in the `limits` library's notation
    # ("600/minute", "10/second", "1000/hour"), counted in memory (one process) or in Redis
    # ("redis://host:6379/0": shared by every API process).
    rate_limit: str = "600/minute"
    rate_limit_storage: str = Field(default="memory://", pattern=r"^(async\+)?(memory|redis|rediss)://")
    # The web panel's login attempts, per email and per client address, in the same storage.
    login_rate_limit: str = "10/minute"
    # Connections (vpsorg.edge): open connections per process, then 503; seconds a connection
    # may sit idle between requests, and may take to send a request head; how often
    # connection-level events (refusals, timeouts) are logged, as one summary line.
    max_connections: int = Field(default=1000, ge=1)
    keepalive_timeout_seconds: float = Field(default=5.0, gt=0)
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    connection_log_interval_seconds: float = Field(default=10.0, gt=0)
    log_level: str = "info"
    # A request body larger than this is refused (413) before it is read (vpsorg.inputs).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)

    @field_validator("rate_limit", "login_rate_limit")
    @classmethod
    def _parsable_rate_limit(cls, value: str) -> str:
        parse(value)  # ValueError for what the limits library cannot read
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalize_database_url(value)
