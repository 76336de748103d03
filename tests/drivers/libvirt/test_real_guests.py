"""A real server, end to end: HTTP API -> worker -> libvirt -> QEMU (TCG) -> Debian guest,
with a worker killed mid-create on the way (each guest boot costs a minute or two here, so
the crash rides along with the end-to-end run instead of booting a guest of its own).

Everything inside the guest is checked through the QEMU guest agent; no packet is sent to
the guest's addresses (its NIC is on an isolated network). Timeouts are generous because
TCG on a busy two-core machine boots a guest in one to two minutes; the times are reported
by bench/libvirt_lifecycle.py, never asserted here.
"""

import ipaddress
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.conftest import (
    Customer,
    Live,
    free_port,
    new_public_key,
    run_db,
    serve_in_thread,
    spawn,
    wait_http,
)
from tests.drivers.libvirt.conftest import GuestImage, Lab, domains
from tests.drivers.libvirt.real import (
    LOCATION,
    OS,
    PLAN,
    guest,
    lab_settings,
    prepare_lab_database,
)
from vpsorg.actions.models import Action

BOOT = 900.0  # seconds: an upper bound, not an expectation


def wait(customer: Customer, server_id: int, status: str) -> dict[str, Any]:
    return customer.wait_status(server_id, status, timeout=BOOT)


def actions_where(settings: Any, condition: Any) -> list[Action]:
    async def query(session: Any) -> list[Action]:
        return list((await session.scalars(select(Action).where(condition))).all())

    return list(run_db(settings, query))


def in_guest(dom: Any, script: str) -> str:
    from vpsorg.drivers.libvirt import agent  # needs libvirt-python: imported only when run

    code, out, err = agent.run(dom, script, timeout=60)
    assert code == 0, f"{script!r} exited {code}: {err}"
    return out


def test_a_real_server_from_create_to_delete(guest_image: GuestImage, lab: Lab, tmp_path: Path) -> None:
    """The API and the worker as separate processes. The first worker is killed (SIGKILL)
    once the domain is defined, while the guest boots; the next one finishes the same
    action on the same machine. Then the server is checked from inside and power-cycled."""
    import libvirt

    from vpsorg.drivers.libvirt import agent

    settings = lab_settings(tmp_path / "e2e.db", lab, worker_lease_seconds=6.0)
    prepare_lab_database(settings, guest_image)
    port = free_port()
    procs = [spawn(["serve", "--no-worker", "--port", str(port)], settings, tmp_path / "api.log")]
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        customer = Live(url=f"http://127.0.0.1:{port}", settings=settings, app=None).account()
        key = new_public_key()
        r = customer.http.post("/api/v1/ssh-keys/", json={"name": "laptop", "public_key": key})
        assert r.status_code == 201, r.text
        created = customer.create_server(
            name="Lab-1", hostname="lab-1.example.net", plan_id=PLAN, os_id=OS,
            location=LOCATION, ssh_key_id=r.json()["id"],
        )  # fmt: skip
        sid = created["id"]
        name = f"{lab.prefix}{sid}"

        # Crash: kill the worker after the domain is defined, before the action is recorded.
        first = spawn(["worker"], settings, tmp_path / "worker1.log")
        procs.append(first)
        deadline = time.monotonic() + 120
        while name not in domains(lab):
            assert time.monotonic() < deadline, "the first worker never defined the domain"
            assert first.popen.poll() is None, (tmp_path / "worker1.log").read_text()
            time.sleep(0.1)
        first.kill()  # no cleanup, no record; QEMU (libvirtd's child) boots on
        [action] = actions_where(settings, Action.server_id == sid)
        assert action.status == "running" and action.attempts == 1
        procs.append(spawn(["worker"], settings, tmp_path / "worker2.log"))

        server = wait(customer, sid, "active")
        action = run_db(settings, lambda s: s.get(Action, action.id))
        assert action.status == "success" and action.attempts == 2  # the second worker's
        assert domains(lab) == [name]  # exactly one machine for the server
        assert sorted(p.name for p in lab.storage.glob(f"{name}*.qcow2")) == [f"{name}.qcow2"]
        dom = guest(lab, sid)

        # Inside the guest: the name asked for, the key, sshd, and the addresses shown.
        assert in_guest(dom, "hostname").strip() == "lab-1.example.net"
        assert key in in_guest(dom, "cat /home/debian/.ssh/authorized_keys")
        assert in_guest(dom, "systemctl is-active ssh").strip() == "active"
        addresses = in_guest(dom, "ip -o addr show dev eth0")
        v4 = ipaddress.ip_address(server["ip_address"])
        v6 = ipaddress.ip_address(server["ipv6_address"])
        assert v4 in ipaddress.ip_network("192.0.2.16/28") and v6 in ipaddress.ip_network("2001:db8:99::/64")
        assert f"inet {v4}/28 " in addresses, addresses
        assert f"inet6 {v6}/64 " in addresses, addresses

        # Live usage, sampled by the worker from libvirt and the guest agent.
        deadline = time.monotonic() + 120
        while True:
            usage = customer.http.get(f"/api/v1/servers/{sid}/").json()["resource_usage"]
            if usage["cpu_percent"] > 0 and usage["memory_used"] > 0:
                break
            assert time.monotonic() < deadline, f"usage never became live: {usage}"
            time.sleep(1)
        assert 0 < usage["memory_used"] <= 768 and 0 < usage["disk_used"] <= 4

        # Power: ACPI shutdown, boot from the existing disk, ACPI reboot.
        assert customer.http.post(f"/api/v1/servers/{sid}/stop/").status_code == 200
        wait(customer, sid, "stopped")
        assert dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
        assert customer.http.post(f"/api/v1/servers/{sid}/start/").status_code == 200
        wait(customer, sid, "active")
        boot_before, _ = agent.boot_state(dom)
        assert customer.http.post(f"/api/v1/servers/{sid}/reboot/").status_code == 200
        wait(customer, sid, "active")
        boot_after, done = agent.boot_state(dom)
        assert boot_after != boot_before and done
        assert in_guest(dom, "hostname").strip() == "lab-1.example.net"  # the disk was kept

        # Delete: domain, disk, seed ISO and console log are gone.
        assert customer.http.delete(f"/api/v1/servers/{sid}/").status_code == 204
        deadline = time.monotonic() + 120
        while domains(lab) or list(lab.storage.glob(f"{name}*")) or list(lab.storage.glob(f".{name}*")):
            assert time.monotonic() < deadline, (domains(lab), list(lab.storage.iterdir()))
            time.sleep(0.5)
        assert actions_where(settings, Action.status != "success") == []
    finally:
        for proc in procs:
            proc.stop()


def test_a_guest_that_never_comes_up_fails_and_leaves_nothing(
    guest_image: GuestImage, lab: Lab, tmp_path: Path
) -> None:
    """A kernel that cannot find its root filesystem: the action fails with the reason and
    the console's last words, and no domain or file is left."""
    settings = lab_settings(tmp_path / "noboot.db", lab, libvirt_boot_timeout_seconds=30.0)
    prepare_lab_database(settings, guest_image)
    broken = GuestImage(
        disk=guest_image.disk, kernel=guest_image.kernel, initrd=guest_image.initrd,
        kernel_args="root=/dev/nonexistent console=ttyS0 rootdelay=1 panic=-1",
    )  # fmt: skip
    from vpsorg.catalog.models import OperatingSystem

    async def breaking(session: Any) -> None:
        os_ = await session.get(OperatingSystem, OS)
        os_.kernel_args = broken.kernel_args

    run_db(settings, breaking)
    with serve_in_thread(settings) as live:
        customer = live.account()
        created = customer.create_server(name="Broken", plan_id=PLAN, os_id=OS, location=LOCATION)
        server = customer.wait_status(created["id"], "error", timeout=300)
        assert (
            "did not come up within 30 s" in server["error"] or "powered off while booting" in server["error"]
        )
        assert domains(lab) == [] or all(not d.endswith(f"-{created['id']}") for d in domains(lab))
        assert list(lab.storage.glob(f"{lab.prefix}{created['id']}*")) == []
