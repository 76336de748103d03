"""The NoCloud seed ISO, built in Python and read back with pycdlib."""

import dataclasses
import email
import io

import pycdlib
import yaml

from tests.drivers.test_contract import spec
from vpsorg.drivers.base import VmSpec
from vpsorg.drivers.libvirt.seed import build_iso, read_iso, seed_files

KEY = spec().ssh_public_keys[0]
MAC = "52:54:00:ab:cd:ef"


def test_the_iso_carries_hostname_keys_and_addresses() -> None:
    iso = build_iso(seed_files(spec(), instance_id="vpsorg-4242", mac=MAC, nameservers=["192.0.2.53"]))
    files = read_iso(iso)
    assert set(files) == {"meta-data", "user-data", "network-config"}

    meta = yaml.safe_load(files["meta-data"])
    assert meta == {"instance-id": "vpsorg-4242", "local-hostname": "contract.example.com"}

    assert files["user-data"].startswith(b"#cloud-config\n")
    user = yaml.safe_load(files["user-data"])
    assert user["hostname"] == user["fqdn"] == "contract.example.com"
    assert user["ssh_authorized_keys"] == [KEY]
    assert user["ssh_pwauth"] is False
    # a resized disk's room reaches the root filesystem at the next boot
    assert user["growpart"] == {"mode": "auto", "devices": ["/"]}
    assert user["resize_rootfs"] is True

    net = yaml.safe_load(files["network-config"])
    assert net["version"] == 1
    nic, dns = net["config"]
    assert nic["type"] == "physical" and nic["mac_address"] == MAC
    assert nic["subnets"] == [
        {"type": "static", "address": "203.0.113.50/24", "gateway": "203.0.113.1"},
        {"type": "static6", "address": "2001:db8:1::50/64", "gateway": "2001:db8:1::1"},
    ]
    assert dns == {"type": "nameserver", "address": ["192.0.2.53"]}


def test_volume_label_is_cidata_with_joliet_names() -> None:
    """cloud-init's NoCloud finds the seed by the label `cidata`; Windows guests
    (cloudbase-init) read Joliet names."""
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(build_iso(seed_files(spec(), instance_id="i", mac=MAC, nameservers=[]))))
    try:
        assert iso.pvd.volume_identifier.decode().strip() == "cidata"
        joliet = sorted(
            c.file_identifier().decode("utf-16-be") for c in iso.list_children(joliet_path="/") if c.is_file()
        )
        assert joliet == ["meta-data", "network-config", "user-data"]
    finally:
        iso.close()


def test_no_keys_and_no_nameservers() -> None:
    bare = spec()
    bare = type(bare)(**{**bare.__dict__, "ssh_public_keys": ()})
    files = read_iso(build_iso(seed_files(bare, instance_id="i", mac=MAC, nameservers=[])))
    assert yaml.safe_load(files["user-data"])["ssh_authorized_keys"] == []
    assert [c["type"] for c in yaml.safe_load(files["network-config"])["config"]] == ["physical"]


def _parts(user_data: bytes) -> list[tuple[str, dict[str, str], str]]:
    """The parts of a multipart user-data as cloud-init reads them: type, headers, text."""
    message = email.message_from_bytes(user_data)
    assert message.get_content_type() == "multipart/mixed"
    return [
        (part.get_content_type(), dict(part.items()), part.get_payload(decode=True).decode())
        for part in message.get_payload()
    ]


def test_customer_user_data_goes_beside_ours_in_a_multipart_archive() -> None:
    theirs = "#cloud-config\nruncmd:\n  - echo héllo > /root/hello\n"
    files = read_iso(build_iso(seed_files(with_user_data(theirs), instance_id="i", mac=MAC, nameservers=[])))
    (ours_type, _, ours), (their_type, headers, got) = _parts(files["user-data"])
    assert b"MIME-Version: 1.0" in files["user-data"][:4096]  # how cloud-init tells a MIME archive
    assert ours_type == "text/cloud-config"
    config = yaml.safe_load(ours)
    assert config["hostname"] == "contract.example.com" and config["ssh_authorized_keys"] == [KEY]
    # Theirs verbatim, its kind left to cloud-init (by its first line), merged without
    # replacing what we set.
    assert their_type == "text/x-not-multipart"
    assert got == theirs
    assert headers["Merge-Type"] == "list(append)+dict(no_replace,recurse_list)+str()"


def test_a_script_is_carried_as_is() -> None:
    script = "#!/bin/sh\necho hi > /root/hi\n"
    files = seed_files(with_user_data(script), instance_id="i", mac=MAC, nameservers=[])
    assert [(kind, text) for kind, _, text in _parts(files["user-data"])][1] == (
        "text/x-not-multipart",
        script,
    )


def test_without_user_data_the_seed_is_our_cloud_config_alone() -> None:
    files = seed_files(spec(), instance_id="i", mac=MAC, nameservers=[])
    assert spec().user_data is None
    assert files["user-data"].startswith(b"#cloud-config\n") and b"MIME-Version" not in files["user-data"]


def with_user_data(user_data: str) -> VmSpec:
    return dataclasses.replace(spec(), user_data=user_data)
