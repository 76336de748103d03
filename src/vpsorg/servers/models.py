from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from vpsorg.db import Base, UTCDateTime, utcnow


class Server(Base):
    """A customer's server: what we intend (status) beside what the hypervisor said (power_state).

    A deleted server keeps its row (deleted_at set) until the worker has torn the machine
    down; the unique address columns keep its addresses reserved until then.
    """

    __tablename__ = "servers"
    __table_args__ = (
        Index("ix_servers_account_live", "account_id", "deleted_at", "id"),
        # An account's list in id order, cursor pages and its count (migration 5b1e7d3c9a40).
        Index(
            "ix_servers_live_by_account",
            "account_id",
            "id",
            postgresql_where=text("deleted_at IS NULL"),
            sqlite_where=text("deleted_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(String(63))
    hostname: Mapped[str] = mapped_column(String(253))
    status: Mapped[str] = mapped_column(String(20), index=True)
    power_state: Mapped[str] = mapped_column(String(20), default="unknown")
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    os_id: Mapped[int] = mapped_column(ForeignKey("operating_systems.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    # The host its machine is on (vpsorg.hosts): set when it is placed, at create; NULL once
    # the worker has torn the machine down.
    host_id: Mapped[int | None] = mapped_column(ForeignKey("hosts.id"), index=True)
    # The first of its keys (the create's ssh_key_id, else the first of ssh_key_ids).
    ssh_key_id: Mapped[int | None] = mapped_column(ForeignKey("ssh_keys.id", ondelete="SET NULL"))
    # That key's text as it was at create time: the machine keeps it even if the key is
    # deleted later.
    ssh_public_key: Mapped[str | None] = mapped_column(Text)
    # Every key the machine was last installed with, as the keys were then (a create's with
    # several, or a rebuild's, in the order given; see servers.rebuild.public_keys). NULL: the
    # one key above (a server created with one key or none, never rebuilt); [] none.
    ssh_public_keys: Mapped[list[str] | None] = mapped_column(JSON)
    # How many times it was rebuilt: the driver's cloud-init instance id changes with it, so
    # cloud-init runs again on the fresh disk (and not on a migrated one).
    rebuilds: Mapped[int] = mapped_column(default=0, server_default="0")
    # The snapshot the current disk is (to be) a copy of, set by a create or rebuild from a
    # snapshot (None: the OS image); a plain id, read into the machine's spec (VmSpec.disk_snapshot).
    source_snapshot_id: Mapped[int | None]
    backups_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    ipv4_address: Mapped[str | None] = mapped_column(String(45), unique=True)
    ipv6_address: Mapped[str | None] = mapped_column(String(45), unique=True)
    error: Mapped[str | None] = mapped_column(Text)
    # Set when the create action succeeded; addresses are shown from then on.
    provisioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Billing (vpsorg.billing.prices): the plan's prices when the server was created, and
    # how far it has been charged. billed_until is set when it is provisioned.
    price_hourly: Mapped[Decimal] = mapped_column(Numeric(10, 4))
    price_monthly: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    billed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    billing_month: Mapped[str | None] = mapped_column(String(7))
    month_hours: Mapped[int] = mapped_column(default=0, server_default="0")
    month_backup_hours: Mapped[int] = mapped_column(default=0, server_default="0")
    # What billing_month cost under the plans the server had before its last resize in it.
    month_carried: Mapped[Decimal] = mapped_column(
        Numeric(14, 2), default=Decimal("0.00"), server_default="0"
    )
    # Set while suspended: by whom ("billing" or "admin") and the status to return to.
    suspension: Mapped[str | None] = mapped_column(String(20))
    resume_status: Mapped[str | None] = mapped_column(String(20))
    # Its labels (vpsorg.servers.labels): string keys to string values, selected on with
    # JSON element access; at most 64, so a small document.
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    # The cloud-init user data it was created with, for the driver (a retried create needs it
    # again); write-only: no representation, admin view or log shows it.
    user_data: Mapped[str | None] = mapped_column(Text)


class ServerUsage(Base):
    """The latest resource usage the worker sampled from the hypervisor."""

    __tablename__ = "server_usage"

    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"), primary_key=True)
    cpu_percent: Mapped[float] = mapped_column(Float)
    memory_used: Mapped[int]  # MiB
    disk_used: Mapped[int]  # GB
    bandwidth_used: Mapped[int]  # GB this month
    sampled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
