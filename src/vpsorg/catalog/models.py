from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from vpsorg.db import Base


class Plan(Base):
    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100))
    vcpus: Mapped[int]
    memory: Mapped[int]  # MiB
    storage: Mapped[int]  # GB
    bandwidth: Mapped[int]  # GB per month
    price_monthly: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    price_hourly: Mapped[Decimal] = mapped_column(Numeric(10, 4))
    available: Mapped[bool] = mapped_column(Boolean, default=True)


class OperatingSystem(Base):
    __tablename__ = "operating_systems"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100))
    # A stable, readable key for scripts and `vps --os` (ubuntu-22.04): unique; NULL only in a
    # row no catalog load wrote (every load sets it; migration 8b3f5d2a6c71 filled the rest).
    slug: Mapped[str | None] = mapped_column(String(63), unique=True, index=True, default=None)
    family: Mapped[str] = mapped_column(String(40))
    version: Mapped[str] = mapped_column(String(40))
    # What a hypervisor driver boots: a path or storage reference; the simulator ignores it.
    image: Mapped[str | None] = mapped_column(String(1000), default=None)
    # Direct kernel boot, for images with no boot loader (a bare filesystem): the kernel and
    # initrd on the hypervisor host and the kernel command line. None boots the image's disk.
    kernel: Mapped[str | None] = mapped_column(String(1000), default=None)
    initrd: Mapped[str | None] = mapped_column(String(1000), default=None)
    kernel_args: Mapped[str | None] = mapped_column(String(1000), default=None)
    available: Mapped[bool] = mapped_column(Boolean, default=True)


class Location(Base):
    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2))
    # Pools are networks in CIDR form ("203.0.113.0/24"); every host address but the gateway is assigned.
    ipv4_pool: Mapped[str] = mapped_column(String(100))
    ipv4_gateway: Mapped[str] = mapped_column(String(45))
    ipv6_pool: Mapped[str] = mapped_column(String(100))
    ipv6_gateway: Mapped[str] = mapped_column(String(45))
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    # The allocator's counters (vpsorg.ipam): how many of each pool's host addresses, in
    # order, have ever been handed out; the next never-used host has this index.
    ipv4_next_host: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    ipv6_next_host: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class Price(Base):
    """A catalog price that is not a plan's, by name (e.g. `snapshot_gb_month`, USD per GB
    and month of snapshot storage); a name without a row has its default (vpsorg.catalog.service)."""

    __tablename__ = "catalog_prices"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(10, 4))
