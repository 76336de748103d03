"""The control plane's clock: the system's, or a simulated one for tests of billing.

Billing charges by the hour, so its tests must let days pass in seconds, in every process
at once (API, workers). `VPSORG_CLOCK_OFFSET_FILE` names a file holding a number of
seconds; while it is set, every timestamp the control plane takes is the system time plus
that offset. Moving the clock forward is rewriting the file. Never set in production; when
unset, now() costs one environment lookup.
"""

import os
from datetime import UTC, datetime, timedelta

ENV = "VPSORG_CLOCK_OFFSET_FILE"

_cache: tuple[str, tuple[int, int], float] | None = None  # (path, (inode, mtime_ns), offset)


def _offset(path: str) -> float:
    global _cache
    try:
        st = os.stat(path)
        mtime = (st.st_ino, st.st_mtime_ns)
        if _cache is not None and _cache[0] == path and _cache[1] == mtime:
            return _cache[2]
        with open(path) as f:
            value = float(f.read().strip() or 0)
    except (OSError, ValueError):
        return _cache[2] if _cache is not None and _cache[0] == path else 0.0
    _cache = (path, mtime, value)
    return value


def now() -> datetime:
    """The current time in UTC."""
    path = os.environ.get(ENV)
    real = datetime.now(UTC)
    return real if not path else real + timedelta(seconds=_offset(path))


def set_offset(path: str, seconds: float) -> None:
    """Move a simulated clock (tests): write the offset atomically."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(repr(float(seconds)))
    os.replace(tmp, path)
