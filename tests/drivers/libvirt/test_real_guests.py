"""A real server, end to end: HTTP API -> worker -> libvirt -> QEMU (TCG) -> Debian guest,
with a worker killed mid-create on the way (each guest boot costs a minute or two here, so
the crash rides along with the end-to-end run instead of booting a guest of its own).

Everything inside the guest is checked through the QEMU guest agent; no packet is sent to
the guest's addresses (its NIC is on an isolated network). Timeouts are generous because
TCG on a busy two-core machine boots a guest in one to two minutes; the times are reported
by bench/libvirt_lifecycle.py, never asserted here.
"""

import base64
import ipaddress
import json
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
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
from tests.console.session import Session
from tests.drivers.libvirt.conftest import URI, GuestImage, Lab, domains
from tests.drivers.libvirt.real import (
    BIGGER_PLAN,
    LOCATION,
    NEWER_OS,
    OS,
    PLAN,
    guest,
    lab_settings,
    prepare_lab_database,
)
from vpsorg.actions.models import Action
from vpsorg.hosts import service as hosts

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


def agent_write(dom: Any, path: str, text: str) -> None:
    """Write a file in the guest through the agent's file calls, then flush it to disk."""
    from vpsorg.drivers.libvirt import agent

    handle = agent.command(dom, "guest-file-open", path=path, mode="w")
    try:
        agent.command(
            dom, "guest-file-write", handle=handle, **{"buf-b64": base64.b64encode(text.encode()).decode()}
        )
    finally:
        agent.command(dom, "guest-file-close", handle=handle)
    in_guest(dom, "sync")


def mem_total_kib(dom: Any) -> int:
    """The guest kernel's MemTotal (KiB)."""
    line = in_guest(dom, "grep MemTotal: /proc/meminfo")
    return int(line.split()[1])


def root_fs_bytes(dom: Any, above: int = 0) -> int:
    """The size of the guest's root filesystem (bytes), once above `above` (cloud-init
    grows it early in boot; waited for 50 s at most)."""
    size = "df -B1 --output=size / | tail -1"
    script = f"timeout 50 sh -c 'until [ $({size}) -gt {above} ]; do sleep 1; done'; {size}"
    return int(in_guest(dom, script).strip())


def global_addresses(dom: Any) -> list[str]:
    """The guest's global addresses on eth0 (address/prefix), from `ip -j addr`."""
    shown = json.loads(in_guest(dom, "ip -j addr show dev eth0"))
    return sorted(
        f"{a['local']}/{a['prefixlen']}" for i in shown for a in i["addr_info"] if a.get("scope") == "global"
    )


def disk_of(dom: Any) -> str:
    source = ET.fromstring(dom.XMLDesc(0)).find("./devices/disk/source")
    assert source is not None
    return str(source.get("file"))


async def add_second_host(session: Any, lab: Lab, storage: Path) -> str:
    await hosts.add_host(
        session,
        hosts.NewHost(
            name="lab-b", location=LOCATION, driver="libvirt", uri=URI, storage=str(storage),
            network=lab.network, vcpus=8, memory_mib=8192, disk_gb=100,
        ),
    )  # fmt: skip
    return "lab-b"


def migrate_through_the_api(settings: Any, port: int, customer: Customer, sid: int, host: str) -> None:
    """POST the admin migrate and wait for the customer to see it succeed."""
    admin = Live(url=f"http://127.0.0.1:{port}", settings=settings, app=None)
    operator = admin.account()
    http = admin.client(admin.token(operator.account_id, "admin"))
    r = http.post(f"/api/v1/admin/servers/{sid}/migrate/", json={"host": host})
    assert r.status_code in (200, 201, 202), r.text
    deadline = time.monotonic() + BOOT
    while True:
        listed = customer.http.get(f"/api/v1/servers/{sid}/actions/").json()["results"]
        migrations = [a for a in listed if a["type"] == "migrate"]
        if migrations and migrations[-1]["status"] not in ("queued", "running"):
            break
        assert time.monotonic() < deadline, listed
        time.sleep(1)
    assert migrations[-1]["status"] == "success", migrations[-1]
    wait(customer, sid, "active")


def test_a_real_server_from_create_to_delete(
    guest_image: GuestImage, newer_image: GuestImage, lab: Lab, tmp_path: Path
) -> None:
    """The API and the worker as separate processes. The first worker is killed (SIGKILL)
    once the domain is defined, while the guest boots; the next one finishes the same
    action on the same machine. Then the server is checked from inside, rebooted,
    snapshotted and restored (a file removed after the snapshot back), migrated to a second
    host (a file written in the guest, its name and addresses kept), rebuilt there to
    Debian 13 with another key (the disk fresh), resized there while stopped (more vCPUs,
    memory and disk, seen from inside after its start), and deleted there; then a second
    server is created from the snapshot (the file there too). One guest at a time: each
    boot costs a minute or two."""
    import libvirt

    from vpsorg.drivers.libvirt import agent

    settings = lab_settings(tmp_path / "e2e.db", lab, worker_lease_seconds=6.0)
    prepare_lab_database(settings, guest_image, newer=newer_image)
    port = free_port()
    procs = [spawn(["serve", "--no-worker", "--port", str(port)], settings, tmp_path / "api.log")]
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=120)  # a loaded machine starts slowly
        customer = Live(url=f"http://127.0.0.1:{port}", settings=settings, app=None).account()
        key = new_public_key()
        r = customer.http.post("/api/v1/ssh-keys/", json={"name": "laptop", "public_key": key})
        assert r.status_code == 201, r.text
        # The customer's own cloud-config, run beside ours (the seed's multipart user data).
        user_token = uuid.uuid4().hex
        # ... which also makes the user the serial console test logs in as (the image has no
        # password login of its own), before it writes the file waited for below.
        console_password = uuid.uuid4().hex[:16]
        user_data = (
            "#cloud-config\nruncmd:\n"
            f"  - useradd -m -s /bin/bash console && echo 'console:{console_password}' | chpasswd\n"
            f"  - echo {user_token} > /root/from-user-data\n"
        )
        created = customer.create_server(
            name="Lab-1", hostname="lab-1.example.net", plan_id=PLAN, os_id=OS,
            location=LOCATION, ssh_key_id=r.json()["id"], user_data=user_data,
        )  # fmt: skip
        assert "user_data" not in created
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
        # ... and the customer's user data ran too (runcmd: late in boot, so waited for).
        ran = (
            "timeout 50 sh -c 'until [ -s /root/from-user-data ]; do sleep 1; done'; cat /root/from-user-data"
        )
        assert in_guest(dom, ran).strip() == user_token

        # The serial console through the API's WebSocket (relayed to the worker, which opens
        # the domain's console stream): the getty's prompt, a login, `hostname`.
        r = customer.http.post(f"/api/v1/servers/{sid}/console/")
        assert r.status_code == 201, r.text
        console = Session(r.json()["url"])
        try:
            console.wake(b"login: ")
            console.send("console\r")
            console.until(b"Password: ", timeout=60)
            console.send(console_password + "\r")
            console.until(b"$ ", timeout=60)
            assert "lab-1.example.net" in console.run("hostname").splitlines()
        finally:
            console.close()
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

        # Power: ACPI reboot (the stop and the start come with the resize below).
        boot_before, _ = agent.boot_state(dom)
        assert customer.http.post(f"/api/v1/servers/{sid}/reboot/").status_code == 200
        wait(customer, sid, "active")
        boot_after, done = agent.boot_state(dom)
        assert boot_after != boot_before and done
        assert in_guest(dom, "hostname").strip() == "lab-1.example.net"  # the disk was kept

        # A snapshot of the running guest: frozen through the agent around a flattened copy
        # of its disk, thawed after; the copy is self-contained (no backing file). A file
        # written before it is in it.
        kept = uuid.uuid4().hex
        agent_write(dom, "/root/in-snapshot.txt", kept)
        r = customer.http.post(f"/api/v1/servers/{sid}/snapshots/", json={"name": "running"})
        assert r.status_code == 202, r.text
        snap_id = r.json()["snapshot"]["id"]
        assert customer.wait_action(r.json()["action"]["id"], timeout=300)["status"] == "success"
        snap = customer.http.get(f"/api/v1/snapshots/{snap_id}/").json()
        assert snap["status"] == "available" and snap["size_gb"] > 0, snap
        assert customer.http.get(f"/api/v1/servers/{sid}/").json()["status"] == "active"
        assert agent.command(dom, "guest-fsfreeze-status") == "thawed"
        image = lab.storage / "snapshots" / f"snapshot-{snap_id}.qcow2"
        info = json.loads(subprocess.run(
            ["qemu-img", "info", "-U", "--output=json", str(image)], capture_output=True, text=True, check=True
        ).stdout)  # fmt: skip
        assert "backing-filename" not in info and info["format"] == "qcow2"

        # Restore: the file removed after the snapshot is back, on a disk copied from the
        # snapshot (no backing file); the name, addresses and OS kept.
        in_guest(dom, "rm /root/in-snapshot.txt && sync")
        started = time.monotonic()
        r = customer.http.post(f"/api/v1/servers/{sid}/rebuild/", json={"snapshot_id": snap_id})
        assert r.status_code == 200 and r.json()["server"]["status"] == "rebuilding", r.text
        server = wait(customer, sid, "active")
        print(f"restore of snapshot {snap_id}: {time.monotonic() - started:.1f} s (disk copy, boot)")
        assert server["os"]["id"] == OS
        dom = guest(lab, sid)
        assert domains(lab) == [name]
        assert in_guest(dom, "cat /root/in-snapshot.txt") == kept
        assert in_guest(dom, "hostname").strip() == "lab-1.example.net"
        assert key in in_guest(dom, "cat /home/debian/.ssh/authorized_keys")
        disk_info = json.loads(subprocess.run(
            ["qemu-img", "info", "-U", "--output=json", disk_of(dom)], capture_output=True, text=True, check=True
        ).stdout)  # fmt: skip
        assert "backing-filename" not in disk_info

        # Cold migration to a second host of the location: another storage directory on the
        # same libvirtd (how CI runs a fleet). A file written in the guest comes along.
        token = uuid.uuid4().hex
        agent_write(dom, "/root/migrated.txt", token)
        addresses_before = global_addresses(dom)
        b_storage = lab.storage / "host-b"
        b_host = run_db(settings, lambda s: add_second_host(s, lab, b_storage))
        started = time.monotonic()
        migrate_through_the_api(settings, port, customer, sid, b_host)
        print(f"migration A -> B: {time.monotonic() - started:.1f} s (stop, copy, define, boot)")
        dom = guest(lab, sid)
        assert customer.http.get(f"/api/v1/servers/{sid}/").json()["status"] == "active"
        assert domains(lab) == [name]  # exactly one machine, and it is host B's
        assert disk_of(dom) == str(b_storage / f"{name}.qcow2")
        assert list(lab.storage.glob(f"{name}*")) == []  # host A's disk, seed and log are gone
        assert sorted(p.name for p in b_storage.glob(f"{name}*.qcow2*")) == [f"{name}.qcow2"]
        assert in_guest(dom, "cat /root/migrated.txt") == token
        assert in_guest(dom, "hostname").strip() == "lab-1.example.net"
        assert global_addresses(dom) == addresses_before
        assert f"{v4}/28" in addresses_before and f"{v6}/64" in addresses_before

        # Rebuild to Debian 13 with another key: the disk is a fresh one (the file written
        # before is gone), the new OS and key are in, the name and addresses are kept, and
        # cloud-init ran as a new instance (the server's user data ran again).
        agent_write(dom, "/root/before-rebuild.txt", token)
        other_key = new_public_key()
        r = customer.http.post("/api/v1/ssh-keys/", json={"name": "desktop", "public_key": other_key})
        assert r.status_code == 201, r.text
        started = time.monotonic()
        r = customer.http.post(
            f"/api/v1/servers/{sid}/rebuild/", json={"os_id": NEWER_OS, "ssh_key_ids": [r.json()["id"]]}
        )
        assert r.status_code == 200 and r.json()["server"]["status"] == "rebuilding", r.text
        server = wait(customer, sid, "active")
        print(f"rebuild to Debian 13: {time.monotonic() - started:.1f} s (new disk, boot)")
        assert server["os"] == {"id": NEWER_OS, "name": "Debian 13 (lab image)", "slug": "debian-13-lab"}
        dom = guest(lab, sid)
        assert domains(lab) == [name]
        assert in_guest(dom, "test -e /root/before-rebuild.txt || echo gone").strip() == "gone"
        assert in_guest(dom, "test -e /root/migrated.txt || echo gone").strip() == "gone"
        assert 'VERSION_ID="13"' in in_guest(dom, "cat /etc/os-release")
        keys = in_guest(dom, "cat /home/debian/.ssh/authorized_keys")
        assert other_key in keys and key not in keys
        assert in_guest(dom, "hostname").strip() == "lab-1.example.net"
        assert in_guest(dom, ran).strip() == user_token
        assert global_addresses(dom) == addresses_before

        # Resize, on host B: ACPI shutdown; a bigger plan while stopped (the domain redefined
        # with its vCPUs and memory, the disk grown); a boot from the grown disk, whose room
        # cloud-init gives the root filesystem. Last, so that one boot alone has two vCPUs
        # (under TCG each keeps a host core busy).
        assert in_guest(dom, "nproc").strip() == "1"
        memory_before, root_before = mem_total_kib(dom), root_fs_bytes(dom)
        assert root_before < 4 * 1024**3  # the Lab plan's 4 GB disk
        assert customer.http.post(f"/api/v1/servers/{sid}/stop/").status_code == 200
        wait(customer, sid, "stopped")
        assert dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
        r = customer.http.post(f"/api/v1/servers/{sid}/resize/", json={"plan_id": BIGGER_PLAN})
        assert r.status_code == 200, r.text
        assert customer.wait_action(r.json()["action"]["id"], timeout=BOOT)["status"] == "success"
        plan = wait(customer, sid, "stopped")["plan"]
        assert (plan["id"], plan["vcpus"], plan["memory"], plan["storage"]) == (BIGGER_PLAN, 2, 1024, 6)
        assert dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
        assert customer.http.post(f"/api/v1/servers/{sid}/start/").status_code == 200
        wait(customer, sid, "active")
        assert in_guest(dom, "nproc").strip() == "2"
        memory_after = mem_total_kib(dom)
        assert memory_after - memory_before > 200 * 1024, (memory_before, memory_after)  # 256 MiB more
        root_after = root_fs_bytes(dom, above=5 * 1024**3)
        assert 5 * 1024**3 < root_after <= 6 * 1024**3, root_after
        assert in_guest(dom, ran).strip() == user_token  # the (rebuilt) disk was kept

        # Delete: domain, disk, seed ISO and console log are gone.
        assert customer.http.delete(f"/api/v1/servers/{sid}/").status_code == 204
        deadline = time.monotonic() + 120

        def leftovers() -> list[str]:
            return [p.name for d in (lab.storage, b_storage) for p in d.iterdir() if name in p.name]

        while domains(lab) or leftovers():
            assert time.monotonic() < deadline, (domains(lab), leftovers())
            time.sleep(0.5)
        assert actions_where(settings, Action.status != "success") == []
        assert image.exists()  # the snapshot outlives its server
        assert customer.http.get(f"/api/v1/snapshots/{snap_id}/").json()["status"] == "available"

        # A new server from the snapshot (placed on the host that keeps its image; one guest
        # at a time): the file is there, under the new server's own name.
        r = customer.http.post(
            "/api/v1/servers/",
            json={"name": "Lab-2", "hostname": "lab-2.example.net", "plan_id": PLAN,
                  "snapshot_id": snap_id, "location": LOCATION},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        assert r.json()["os"]["id"] == OS
        second = r.json()["id"]
        started = time.monotonic()
        wait(customer, second, "active")
        print(f"create from snapshot {snap_id}: {time.monotonic() - started:.1f} s (disk copy, boot)")
        dom = guest(lab, second)
        assert in_guest(dom, "cat /root/in-snapshot.txt") == kept
        assert in_guest(dom, "hostname").strip() == "lab-2.example.net"
        assert customer.http.delete(f"/api/v1/servers/{second}/").status_code == 204
        deadline = time.monotonic() + 120
        while domains(lab):
            assert time.monotonic() < deadline, domains(lab)
            time.sleep(0.5)
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
