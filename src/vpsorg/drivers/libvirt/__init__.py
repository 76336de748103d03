"""The libvirt/QEMU driver (needs the `libvirt` extra: libvirt-python)."""
