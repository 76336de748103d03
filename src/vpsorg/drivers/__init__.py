"""Hypervisor drivers; `load_driver` picks one by name."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vpsorg.config import Settings
from vpsorg.drivers.base import Driver


def load_driver(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Driver:
    if settings.driver == "simulator":
        from vpsorg.drivers.simulator import SimulatorDriver

        return SimulatorDriver(sessions, time_scale=settings.simulator_time_scale)
    if settings.driver == "libvirt":
        try:
            from vpsorg.drivers.libvirt.driver import LibvirtDriver
        except ImportError as e:
            raise ValueError(f"the libvirt driver needs libvirt-python (the `libvirt` extra): {e}") from e
        return LibvirtDriver(settings)
    raise ValueError(f"unknown driver {settings.driver!r}; this version knows: simulator, libvirt")
