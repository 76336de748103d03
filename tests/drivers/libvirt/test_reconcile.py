"""Reconcile with the libvirt driver: libvirt's domain state is the authority on power state.

The control plane (API and worker, in this process) runs on libvirt's in-memory
`test:///default` hypervisor, which every connection in the process shares, so the test can
change a domain behind the control plane's back as an operator with `virsh` would.
"""

import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import prepare_database, run_db, serve_in_thread, test_settings
from vpsorg.catalog.models import OperatingSystem


def test_libvirt_state_wins(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    libvirt = pytest.importorskip("libvirt", reason="libvirt-python is not installed")
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img is not installed")
    image = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "1G"], check=True)
    prefix = f"rec{uuid.uuid4().hex[:8]}-"
    settings = test_settings(
        tmp_path / "reconcile.db",
        driver="libvirt",
        libvirt_uri="test:///default",
        libvirt_storage_dir=str(tmp_path / "machines"),
        libvirt_name_prefix=prefix,
        libvirt_boot_check="none",
    )
    prepare_database(settings)

    async def give_image(session: Any) -> None:
        (await session.get(OperatingSystem, 5)).image = str(image)

    run_db(settings, give_image)
    conn = libvirt.open("test:///default")
    try:
        with serve_in_thread(settings) as live:
            customer = live.account()
            sid = customer.active_server()["id"]
            dom = conn.lookupByName(f"{prefix}{sid}")

            dom.destroy()  # `virsh destroy` behind our back
            customer.wait_status(sid, "stopped", timeout=20)
            actions = customer.http.get(f"/api/v1/servers/{sid}/actions/").json()["results"]
            [sync] = [a for a in actions if a["type"] == "sync"]
            assert sync["status"] == "success" and "shutoff" in sync["reason"]

            dom.create()  # `virsh start`
            customer.wait_status(sid, "active", timeout=20)

            # A domain with our prefix and no server: reported, never destroyed.
            orphan_xml = dom.XMLDesc(0).replace(f"{prefix}{sid}<", f"{prefix}999999<")
            orphan_xml = orphan_xml.replace(dom.UUIDString(), str(uuid.uuid4()))
            orphan = conn.defineXML(orphan_xml)

            dom.destroy()
            dom.undefine()  # `virsh undefine`: the machine is gone
            body = customer.wait_status(sid, "error", timeout=20)
            assert body["error"]
            time.sleep(3 * settings.reconcile_interval_seconds)
            assert orphan.name() in [d.name() for d in conn.listAllDomains(0)]
        assert "999999" in caplog.text
    finally:
        for d in conn.listAllDomains(0):
            if d.name().startswith(prefix):
                if d.isActive():
                    d.destroy()
                d.undefine()
        conn.close()
