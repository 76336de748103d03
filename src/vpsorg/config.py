"""Settings, read from the environment with the prefix VPSORG_."""

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    worker_concurrency: int = Field(default=4, ge=1)
    worker_max_attempts: int = Field(default=5, ge=1)
    metrics_interval_seconds: float = Field(default=10.0, gt=0)
    reconcile_interval_seconds: float = Field(default=30.0, gt=0)
    # How often the worker charges the hours that have started (vpsorg.billing).
    billing_interval_seconds: float = Field(default=60.0, gt=0)
    sqlite_busy_timeout_ms: int = 30000
    # `vpsorg worker` serves Prometheus metrics on this loopback port when set.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
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
    # Connections (vpsorg.edge): open connections per process, then 503; seconds a connection
    # may sit idle between requests, and may take to send a request head; how often
    # connection-level events (refusals, timeouts) are logged, as one summary line.
    max_connections: int = Field(default=1000, ge=1)
    keepalive_timeout_seconds: float = Field(default=5.0, gt=0)
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    connection_log_interval_seconds: float = Field(default=10.0, gt=0)
    log_level: str = "info"
