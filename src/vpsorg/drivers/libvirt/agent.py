"""The QEMU guest agent over its virtio-serial channel: no network between host and guest.

Blocking calls on a libvirt domain; the driver runs them in threads, the tests call them
directly to look inside a guest.
"""

import base64
import json
import time
from typing import Any

import libvirt
import libvirt_qemu


def command(dom: libvirt.virDomain, execute: str, timeout: int = 5, **arguments: Any) -> Any:
    """Run one agent command and return its `return` value."""
    body: dict[str, Any] = {"execute": execute}
    if arguments:
        body["arguments"] = arguments
    return json.loads(libvirt_qemu.qemuAgentCommand(dom, json.dumps(body), timeout, 0))["return"]


def run(dom: libvirt.virDomain, script: str, timeout: float = 20.0) -> tuple[int, str, str]:
    """Run `script` with /bin/sh in the guest; (exit code, stdout, stderr)."""
    pid = command(dom, "guest-exec", path="/bin/sh", arg=["-c", script], **{"capture-output": True})["pid"]
    deadline = time.monotonic() + timeout
    while True:
        status = command(dom, "guest-exec-status", pid=pid)
        if status.get("exited"):
            out = base64.b64decode(status.get("out-data", "")).decode(errors="replace")
            err = base64.b64decode(status.get("err-data", "")).decode(errors="replace")
            return int(status.get("exitcode", -1)), out, err
        if time.monotonic() > deadline:
            raise TimeoutError(f"guest command did not finish within {timeout:g} s: {script}")
        time.sleep(0.1)


# One exec answers both "which boot is this" and "has cloud-init finished this boot":
# /run is a tmpfs, so cloud-init's result file there belongs to the current boot.
BOOT_PROBE = (
    "cat /proc/sys/kernel/random/boot_id; "
    "if [ -e /run/cloud-init/result.json ]; then echo done; else echo booting; fi"
)


def boot_state(dom: libvirt.virDomain) -> tuple[str, bool]:
    """(boot id, cloud-init finished in this boot)."""
    code, out, _ = run(dom, BOOT_PROBE, timeout=10)
    lines = out.split()
    if code != 0 or len(lines) != 2:
        raise RuntimeError(f"unexpected boot probe output: {out!r}")
    return lines[0], lines[1] == "done"
