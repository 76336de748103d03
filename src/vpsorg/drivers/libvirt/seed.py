"""The NoCloud seed ISO that cloud-init reads on first boot: hostname, SSH keys, addresses,
and the customer's own user data, if any."""

import io
from collections.abc import Sequence
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any

import pycdlib
import yaml

from vpsorg.drivers.base import VmSpec


def meta_data(spec: VmSpec, instance_id: str) -> dict[str, Any]:
    return {"instance-id": instance_id, "local-hostname": spec.hostname}


# How the customer's part merges into ours when both are cloud-config: lists (runcmd, packages,
# ssh_authorized_keys, ...) are appended to ours, and a key we set keeps our value (their
# ssh_pwauth: true does not open password logins; their hostname does not rename the server).
CUSTOMER_MERGE_TYPE = "list(append)+dict(no_replace,recurse_list)+str()"


def user_data(spec: VmSpec) -> str:
    """Our cloud-config alone, or, with the customer's user data, a MIME multipart archive
    (cloud-init's documented format) of ours and theirs, so both run. Theirs goes as
    text/x-not-multipart: cloud-init tells its kind by its first line (#cloud-config, #!, ...)."""
    ours = cloud_config(spec)
    if spec.user_data is None:
        return ours
    archive = MIMEMultipart()
    archive.attach(MIMEText(ours, "cloud-config", "utf-8"))
    theirs = MIMEText(spec.user_data, "x-not-multipart", "utf-8")
    theirs["Merge-Type"] = CUSTOMER_MERGE_TYPE
    archive.attach(theirs)
    return archive.as_string()


def cloud_config(spec: VmSpec) -> str:
    config: dict[str, Any] = {
        # The name the customer asked for, in full: `hostname` in the guest prints it (as on
        # DigitalOcean). Given as both, or cloud-init's first pass at boot keeps the short form.
        "hostname": spec.hostname,
        "fqdn": spec.hostname,
        "prefer_fqdn_over_hostname": True,
        "manage_etc_hosts": True,
        # Keys go to the image's default user (debian, ubuntu, ...); no passwords over SSH.
        "ssh_authorized_keys": list(spec.ssh_public_keys),
        "ssh_pwauth": False,
        # A resized disk's room reaches the root filesystem at the next boot (cloud-init's
        # defaults too, on the images we know; said here so that no image's config drops it).
        "growpart": {"mode": "auto", "devices": ["/"]},
        "resize_rootfs": True,
    }
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False)


def network_config(spec: VmSpec, mac: str, nameservers: Sequence[str]) -> dict[str, Any]:
    """Version 1 network configuration: static IPv4 and IPv6 on the NIC with this MAC."""
    config: list[dict[str, Any]] = [
        {
            "type": "physical",
            "name": "eth0",
            "mac_address": mac,
            "subnets": [
                {
                    "type": "static",
                    "address": f"{spec.ipv4_address}/{spec.ipv4_prefix}",
                    "gateway": spec.ipv4_gateway,
                },
                {
                    "type": "static6",
                    "address": f"{spec.ipv6_address}/{spec.ipv6_prefix}",
                    "gateway": spec.ipv6_gateway,
                },
            ],
        }
    ]
    if nameservers:
        config.append({"type": "nameserver", "address": list(nameservers)})
    return {"version": 1, "config": config}


def seed_files(spec: VmSpec, *, instance_id: str, mac: str, nameservers: Sequence[str]) -> dict[str, bytes]:
    dump = lambda doc: yaml.safe_dump(doc, sort_keys=False).encode()  # noqa: E731
    return {
        "meta-data": dump(meta_data(spec, instance_id)),
        "user-data": user_data(spec).encode(),
        "network-config": dump(network_config(spec, mac, nameservers)),
    }


def build_iso(files: dict[str, bytes]) -> bytes:
    """An ISO 9660 image labelled `cidata` with Joliet and Rock Ridge names, as NoCloud reads it."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident="cidata")
    for name, data in files.items():
        iso_name = "/" + name.upper().replace("-", "_") + ".;1"
        iso.add_fp(io.BytesIO(data), len(data), iso_name, rr_name=name, joliet_path="/" + name)
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def read_iso(data: bytes) -> dict[str, bytes]:
    """The files of a seed ISO by their Rock Ridge names (for tests and debugging)."""
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    try:
        files = {}
        for child in iso.list_children(rr_path="/"):
            if child.is_file():
                name = child.rock_ridge.name().decode()
                buf = io.BytesIO()
                iso.get_file_from_iso_fp(buf, rr_path="/" + name)
                files[name] = buf.getvalue()
        return files
    finally:
        iso.close()
