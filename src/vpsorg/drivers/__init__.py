"""Hypervisor drivers; `load_driver` picks one by name."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vpsorg.config import Settings
from vpsorg.drivers.base import Driver, HostConfig


def load_driver(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], host: HostConfig | None = None
) -> Driver:
    """The driver of `host` (its own driver and connection where the host names them, else
    the settings'), or, without a host, of the one hypervisor the settings describe."""
    kind = (host.driver if host is not None else None) or settings.driver
    if kind == "simulator":
        from vpsorg.drivers.simulator import SimulatorDriver

        return SimulatorDriver(
            sessions, time_scale=settings.simulator_time_scale, host=host.name if host is not None else None
        )
    if kind == "libvirt":
        try:
            from vpsorg.drivers.libvirt.driver import LibvirtDriver
        except ImportError as e:
            raise ValueError(f"the libvirt driver needs libvirt-python (the `libvirt` extra): {e}") from e
        if host is not None:
            own = {
                "libvirt_uri": host.uri,
                "libvirt_storage_dir": host.storage,
                "libvirt_network": host.network,
                "libvirt_bridge": host.bridge,
            }
            if host.network is not None:  # a host on a libvirt network uses no bridge
                own["libvirt_bridge"] = None
                settings = settings.model_copy(update={"libvirt_bridge": None})
            settings = settings.model_copy(update={k: v for k, v in own.items() if v is not None})
        return LibvirtDriver(settings)
    raise ValueError(f"unknown driver {kind!r}; this version knows: simulator, libvirt")
