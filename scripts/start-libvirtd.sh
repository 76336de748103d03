#!/usr/bin/env bash
# Start libvirt's daemons on a host without systemd (containers, CI) and wait until
# qemu:///system answers. With systemd, use `systemctl enable --now libvirtd` instead.
set -euo pipefail

# A /dev/kvm that QEMU cannot open makes libvirt re-probe it on every call (30-56 s per
# defineXML); give it to the kvm group as Debian's udev rule would.
if [ -e /dev/kvm ] && getent group kvm >/dev/null; then
    chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
fi
mkdir -p /var/lib/libvirt/dnsmasq  # libvirtd can crash on restart without it
pgrep -x virtlogd >/dev/null || virtlogd -d   # before libvirtd, or QEMU cannot log
pgrep -x libvirtd >/dev/null || libvirtd -d
for _ in $(seq 1 120); do
    if virsh -c qemu:///system version >/dev/null 2>&1; then
        virsh -c qemu:///system version | grep -i 'running hypervisor'
        exit 0
    fi
    sleep 0.5
done
echo "libvirtd did not answer at qemu:///system within 60 s" >&2
exit 1
