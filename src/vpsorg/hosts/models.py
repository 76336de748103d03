from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from vpsorg.db import Base, UTCDateTime, utcnow


class Host(Base):
    """A hypervisor host of a location: where servers are placed, and what its worker drives.

    `driver` and the connection columns say how to reach its hypervisor; NULL means the
    worker's own configuration (VPSORG_DRIVER, VPSORG_LIBVIRT_URI, ...): the host a location
    gets by default (one per location, named after it) is such a host, so an install with one
    hypervisor needs no host configuration. The `used_*` columns are what the servers placed
    on it have been given (their plans), kept in the transactions that place and free them.
    """

    __tablename__ = "hosts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    driver: Mapped[str | None] = mapped_column(String(20))
    uri: Mapped[str | None] = mapped_column(String(500))
    storage: Mapped[str | None] = mapped_column(String(500))
    network: Mapped[str | None] = mapped_column(String(100))
    bridge: Mapped[str | None] = mapped_column(String(100))
    vcpus: Mapped[int]
    memory_mib: Mapped[int] = mapped_column(BigInteger)
    disk_gb: Mapped[int] = mapped_column(BigInteger)
    cpu_overcommit: Mapped[float] = mapped_column(Float, default=4.0)
    memory_overcommit: Mapped[float] = mapped_column(Float, default=1.0)
    disk_overcommit: Mapped[float] = mapped_column(Float, default=1.0)
    state: Mapped[str] = mapped_column(String(20), default="enabled")
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # host:port where the worker serving this host takes console relays (vpsorg.worker.console),
    # written by that worker; None: no worker has said yet.
    console_address: Mapped[str | None] = mapped_column(String(300))
    used_vcpus: Mapped[int] = mapped_column(default=0, server_default="0")
    used_memory_mib: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    used_disk_gb: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    servers: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
