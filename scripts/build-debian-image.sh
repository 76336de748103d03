#!/usr/bin/env bash
# Build a small Debian guest image for the libvirt driver from Debian's packages:
# kernel, cloud-init (NoCloud), openssh-server and qemu-guest-agent, on one ext4 filesystem
# with no partition table, booted directly from the kernel and initrd written beside it.
#
#   scripts/build-debian-image.sh [--suite SUITE] OUTDIR
#   scripts/build-debian-image.sh [--suite SUITE] --cache CACHEDIR
#
# SUITE is bookworm (the default) or trixie. Writes OUTDIR/debian-12.qcow2 (trixie:
# debian-13.qcow2), OUTDIR/vmlinuz and OUTDIR/initrd.img (about 450 MB, about 2 minutes).
# The real-guest tests rebuild a Debian 12 server to Debian 13. Boot it with the kernel
# command line `root=/dev/vda console=ttyS0 net.ifnames=0 quiet`. Needs root, debootstrap,
# e2fsprogs and qemu-utils. DEBIAN_MIRROR overrides the mirror (default: the first one apt
# is configured with, else deb.debian.org).
set -euo pipefail

suite=bookworm
if [ "${1:-}" = "--suite" ]; then suite=${2:?usage: --suite bookworm|trixie}; shift 2; fi
case $suite in
    bookworm) version=12 ;;
    trixie) version=13 ;;
    *) echo "unknown suite $suite (bookworm or trixie)" >&2; exit 2 ;;
esac

# --cache: build once per version of this script into CACHEDIR/debian-<version>-<hash>, one
# build at a time (a lock), and print that directory; the tests and CI use this.
if [ "${1:-}" = "--cache" ]; then
    cache=${2:?usage: build-debian-image.sh --cache CACHEDIR}
    out="$cache/debian-$version-$(sha256sum "$0" | cut -c1-16)"
    mkdir -p "$cache" && chmod 0755 "$cache"  # QEMU (libvirt-qemu) must reach the files
    exec 9>"$cache/.lock"
    flock 9
    if [ ! -e "$out/debian-$version.qcow2" ]; then "$0" --suite "$suite" "$out" >&2; fi
    echo "$out"
    exit 0
fi
out=${1:?usage: build-debian-image.sh OUTDIR | --cache CACHEDIR}
mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\([^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
mirror=${mirror:-http://deb.debian.org/debian}

work=$(mktemp -d "${TMPDIR:-/tmp}/vpsorg-image.XXXXXX")
trap 'umount -R "$work/root/proc" "$work/root/sys" "$work/root/dev" 2>/dev/null || true; rm -rf "$work"' EXIT
root=$work/root

debootstrap --variant=minbase \
    --include=systemd-sysv,dbus,udev,kmod,linux-image-cloud-amd64,initramfs-tools,cloud-init,python3-cffi-backend,openssh-server,qemu-guest-agent,ifupdown,iproute2,sudo,procps,e2fsprogs \
    "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || { tail -40 "$work/debootstrap.log"; exit 1; }

cat >"$root/etc/fstab" <<'FSTAB'
/dev/vda / ext4 defaults,discard 0 1
FSTAB
cat >"$root/etc/cloud/cloud.cfg.d/90-vpsorg.cfg" <<'CFG'
# Only the NoCloud seed ISO the driver attaches; never probe a metadata service.
datasource_list: [ NoCloud, None ]
locale: C.UTF-8
# Boot time matters (under TCG each second counts thrice): no RSA host key (modern clients
# use ed25519), no boot loader to configure, no host keys printed to the console.
ssh_genkeytypes: [ ed25519, ecdsa ]
grub_dpkg: { enabled: false }
ssh: { emit_keys_to_console: false }
CFG
for unit in e2scrub_reap.service e2scrub_all.timer; do ln -sf /dev/null "$root/etc/systemd/system/$unit"; done
echo "source-directory /etc/network/interfaces.d" >"$root/etc/network/interfaces"
: >"$root/etc/hostname"
rm -f "$root"/etc/ssh/ssh_host_*  # each guest makes its own (cloud-init ssh module)
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*

mkdir -p "$out"
cp "$root"/boot/vmlinuz-* "$out/vmlinuz.tmp"
cp "$root"/boot/initrd.img-* "$out/initrd.img.tmp"
mkfs.ext4 -q -L root -d "$root" "$work/root.img" 2G
qemu-img convert -O qcow2 "$work/root.img" "$out/debian-$version.qcow2.tmp"
chmod 0644 "$out"/*.tmp
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$out/initrd.img.tmp" "$out/initrd.img"
mv "$out/debian-$version.qcow2.tmp" "$out/debian-$version.qcow2"
echo "built $out/debian-$version.qcow2 ($(du -h "$out/debian-$version.qcow2" | cut -f1))"
