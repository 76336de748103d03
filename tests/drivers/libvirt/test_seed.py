"""The NoCloud seed ISO, built in Python and read back with pycdlib."""

import io

import pycdlib
import yaml

from tests.drivers.test_contract import spec
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
