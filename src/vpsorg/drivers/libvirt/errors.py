"""libvirt's errors as DriverErrors: the libvirt code and message kept, never a traceback."""

from vpsorg.drivers.base import DriverError, MachineNotFound

# libvirt's virErrorNumber values this driver tells apart (stable across libvirt versions).
ERR_NO_SUPPORT = 3
ERR_INVALID_ARG = 8
ERR_OPERATION_INVALID = 55
ERR_NO_DOMAIN = 42
ERR_AGENT_UNRESPONSIVE = 86


def map_error(code: int | None, message: str | None, doing: str) -> DriverError:
    """The DriverError for libvirt error `code` raised while `doing` something."""
    text = (message or "unknown error").strip()
    if code == ERR_NO_DOMAIN:
        return MachineNotFound(f"{doing}: the machine does not exist ({text})", code=code)
    return DriverError(f"{doing}: {text} (libvirt error {code})", code=code)
