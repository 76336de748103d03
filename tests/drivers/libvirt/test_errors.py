"""libvirt errors become DriverErrors that keep libvirt's code and message."""

import pytest

from vpsorg.drivers.base import DriverError, MachineNotFound
from vpsorg.drivers.libvirt.errors import ERR_NO_DOMAIN, map_error


def test_codes_and_messages_are_kept() -> None:
    e = map_error(38, "Cannot access storage file '/x.qcow2': No such file or directory", "starting vpsorg-7")
    assert type(e) is DriverError and e.code == 38
    assert str(e) == (
        "starting vpsorg-7: Cannot access storage file '/x.qcow2': No such file or directory"
        " (libvirt error 38)"
    )


def test_no_domain_is_machine_not_found() -> None:
    e = map_error(
        ERR_NO_DOMAIN, "Domain not found: no domain with matching name 'vpsorg-7'", "stopping vpsorg-7"
    )
    assert isinstance(e, MachineNotFound) and e.code == ERR_NO_DOMAIN
    assert "does not exist" in str(e)


def test_a_missing_message_still_says_something() -> None:
    assert str(map_error(1, None, "x")) == "x: unknown error (libvirt error 1)"


def test_real_libvirt_errors_from_the_driver(tmp_path: pytest.TempPathFactory) -> None:
    """Through the driver, on test:///: a raw libvirtError never escapes."""
    libvirt = pytest.importorskip("libvirt")
    import anyio

    from vpsorg.config import Settings
    from vpsorg.drivers.libvirt.driver import LibvirtDriver

    node = tmp_path / "node.xml"  # type: ignore[operator]
    node.write_text("<node/>")
    drv = LibvirtDriver(
        Settings(libvirt_uri=f"test://{node}", libvirt_storage_dir=str(tmp_path), libvirt_boot_check="none")  # type: ignore[arg-type]
    )

    async def main() -> None:
        with pytest.raises(MachineNotFound) as missing:
            await drv.stop(9)
        assert missing.value.code == ERR_NO_DOMAIN

        def broken() -> None:
            drv._connection().defineXML("<domain type='test'/>")  # no name: libvirt refuses

        with pytest.raises(DriverError, match=r"^defining: .+ \(libvirt error \d+\)$") as raised:
            await drv._run("defining", broken)
        assert not isinstance(raised.value, libvirt.libvirtError) and raised.value.code
        await drv.close()

    anyio.run(main)
