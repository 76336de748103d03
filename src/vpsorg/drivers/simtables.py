"""The simulator's tables: its own metadata, not the product's, created by the simulator itself."""

from datetime import datetime
from typing import Any

from sqlalchemy import MetaData, String, inspect, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from vpsorg.sqltypes import NAMING_CONVENTION, UTCDateTime, utcnow


class SimBase(DeclarativeBase):
    # The product's naming convention, so that tables the simulator creates are named as the
    # ones its old migrations created (databases installed before keep those).
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SimMachine(SimBase):
    __tablename__ = "sim_machines"

    server_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    # The simulated host the machine is on (a SimulatorDriver serves one host, or, with no
    # host, all). NULL: made before hosts existed; the first host to touch it takes it.
    host: Mapped[str | None] = mapped_column(String(63), index=True)
    name: Mapped[str] = mapped_column(String(63))
    vcpus: Mapped[int]
    memory_mib: Mapped[int]
    storage_gb: Mapped[int]
    power_state: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    booted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Seconds the machine ran this month before booted_at, and which month that was.
    run_seconds: Mapped[float] = mapped_column(default=0.0)
    run_month: Mapped[str] = mapped_column(String(7), default="")
    # The SHA-256 of the user data the machine was created with (None: none): tests see that
    # it reached the driver without the simulator keeping the data itself.
    user_data_sha256: Mapped[str | None] = mapped_column(String(64))
    # The disk: the image it was installed from, the SHA-256 of the keys installed (one per
    # line; None: none) and how many times it was replaced by a fresh one (0: create's disk).
    os_image: Mapped[str | None] = mapped_column(String(1000))
    ssh_keys_sha256: Mapped[str | None] = mapped_column(String(64))
    disk_generation: Mapped[int] = mapped_column(default=0)
    # The hostname the guest was installed with (the spec's: its FQDN), which its console's
    # `hostname` prints; None: made before consoles (the console then shows `name`).
    hostname: Mapped[str | None] = mapped_column(String(253))


class SimCall(SimBase):
    """Every operation the simulator was asked to do, so tests can count driver calls."""

    __tablename__ = "sim_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(index=True)
    op: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SimFault(SimBase):
    __tablename__ = "sim_faults"

    id: Mapped[int] = mapped_column(primary_key=True)
    op: Mapped[str] = mapped_column(String(20))
    # No foreign key to servers: a hypervisor knows nothing of the product's tables. A database
    # migrated before keeps the one its initial migration made (ON DELETE CASCADE).
    server_id: Mapped[int | None]
    mode: Mapped[str] = mapped_column(String(10))  # error | crash
    phase: Mapped[str] = mapped_column(String(10), default="before")  # before | after
    remaining: Mapped[int] = mapped_column(default=1)
    message: Mapped[str] = mapped_column(String(200), default="simulated failure")


class SimSnapshot(SimBase):
    """A snapshot image the simulator holds (its size: the machine's disk use when taken)."""

    __tablename__ = "sim_snapshots"

    snapshot_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    server_id: Mapped[int]
    size_gb: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


TABLES = frozenset(SimBase.metadata.tables)
_DISK_COLUMNS = {
    "os_image": "VARCHAR(1000)",
    "ssh_keys_sha256": "VARCHAR(64)",
    "disk_generation": "INTEGER NOT NULL DEFAULT 0",
    "hostname": "VARCHAR(253)",  # a simulator from before consoles
}


async def create_tables(session: AsyncSession) -> None:
    """Create those of the simulator's tables the database lacks, and the columns later
    versions added to them, in the session's transaction."""

    def create(sync: Any) -> None:
        connection = sync.connection()
        SimBase.metadata.create_all(connection, checkfirst=True)
        columns = {c["name"] for c in inspect(connection).get_columns("sim_machines")}
        if "host" not in columns:  # a simulator from before hosts
            connection.execute(text("ALTER TABLE sim_machines ADD COLUMN host VARCHAR(63)"))
        if "user_data_sha256" not in columns:  # a simulator from before user data
            connection.execute(text("ALTER TABLE sim_machines ADD COLUMN user_data_sha256 VARCHAR(64)"))
        for column, type_ in _DISK_COLUMNS.items():  # a simulator from before rebuilds
            if column not in columns:
                connection.execute(text(f"ALTER TABLE sim_machines ADD COLUMN {column} {type_}"))

    await session.run_sync(create)
