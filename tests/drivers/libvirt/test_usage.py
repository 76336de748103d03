"""Monthly traffic from tap counters that restart with the guest."""

import pytest

pytest.importorskip("libvirt", reason="libvirt-python is not installed")

from vpsorg.drivers.libvirt.driver import count_traffic  # noqa: E402

G = 1024**3


def test_counters_accumulate_across_guest_restarts_and_reset_each_month() -> None:
    s = count_traffic({}, 1 * G, "2026-11")
    assert (s["bytes"], s["last"]) == (1 * G, 1 * G)
    s = count_traffic(s, 3 * G, "2026-11")
    assert s["bytes"] == 3 * G
    s = count_traffic(s, None, "2026-11")  # off: nothing read, nothing lost
    assert s["bytes"] == 3 * G
    s = count_traffic(s, G // 2, "2026-11")  # the guest restarted: its counter began at 0
    assert s["bytes"] == 3 * G + G // 2
    s = count_traffic(s, G, "2026-12")  # a new month counts from the last reading
    assert (s["month"], s["bytes"], s["last"]) == ("2026-12", G // 2, G)
