"""Helpers for tests with real guests: a control plane on libvirt, and looks inside guests."""

from pathlib import Path
from typing import Any

from tests.conftest import prepare_database, run_db, test_settings
from tests.drivers.libvirt.conftest import URI, GuestImage, Lab
from vpsorg.catalog import service as catalog
from vpsorg.catalog.schemas import CatalogIn
from vpsorg.config import Settings

PLAN, OS, LOCATION = 900, 900, "lab"
# The plan the walk resizes to: another vCPU, 256 MiB more, a 6 GB disk (the guest sees each).
BIGGER_PLAN = 901
NEWER_OS = 901  # Debian 13, when the lab has it (a rebuild's target)


def lab_settings(db: Path, lab: Lab, **overrides: Any) -> Settings:
    """A control plane whose worker drives real QEMU guests on the lab's network."""
    values: dict[str, Any] = {
        "driver": "libvirt",
        "libvirt_uri": URI,
        "libvirt_network": lab.network,
        "libvirt_storage_dir": str(lab.storage),
        "libvirt_name_prefix": lab.prefix,
        "libvirt_boot_timeout_seconds": 600.0,  # TCG on a busy 2-core machine
        "libvirt_shutdown_grace_seconds": 120.0,
        "worker_lease_seconds": 30.0,
        "metrics_interval_seconds": 2.0,
        "reconcile_interval_seconds": 5.0,
        "log_level": "info",
    }
    values.update(overrides)
    return test_settings(db, **values)


def prepare_lab_database(
    settings: Settings, image: GuestImage, vcpus: int = 1, newer: GuestImage | None = None
) -> None:
    """The default catalog, plus a small plan, the lab image (and the `newer` one, Debian 13,
    as NEWER_OS) and a lab location.

    One vCPU by default: under TCG a guest's vCPU keeps a host core busy while it boots,
    and `make test` runs the rest of the suite beside the real-guest tests."""
    prepare_database(settings)
    newer_os = []
    if newer is not None:
        newer_os.append(
            {"id": NEWER_OS, "name": "Debian 13 (lab image)", "family": "debian", "version": "13",
             "slug": "debian-13-lab",
             "image": newer.disk, "kernel": newer.kernel, "initrd": newer.initrd,
             "kernel_args": newer.kernel_args}
        )  # fmt: skip
    lab = CatalogIn.model_validate(
        {
            "plans": [
                {"id": PLAN, "name": "Lab", "vcpus": vcpus, "memory": 768, "storage": 4,
                 "bandwidth": 100, "price_monthly": "1.00", "price_hourly": "0.0015"},
                {"id": BIGGER_PLAN, "name": "Lab L", "vcpus": vcpus + 1, "memory": 1024, "storage": 6,
                 "bandwidth": 100, "price_monthly": "2.00", "price_hourly": "0.0030"},
            ],
            "operating_systems": [
                {"id": OS, "name": "Debian 12 (lab image)", "family": "debian", "version": "12",
                 "slug": "debian-12-lab",
                 "image": image.disk, "kernel": image.kernel, "initrd": image.initrd,
                 "kernel_args": image.kernel_args},
                *newer_os,
            ],
            "locations": [
                {"code": LOCATION, "name": "Lab", "country": "DE",
                 "ipv4_pool": "192.0.2.16/28", "ipv4_gateway": "192.0.2.17",
                 "ipv6_pool": "2001:db8:99::/64", "ipv6_gateway": "2001:db8:99::1"},
            ],
        }
    )  # fmt: skip
    run_db(settings, lambda s: catalog.load_catalog(s, catalog=lab))


def guest(lab: Lab, server_id: int) -> Any:
    """The libvirt domain of a server (for the guest agent)."""
    import libvirt

    return libvirt.open(URI).lookupByName(f"{lab.prefix}{server_id}")
