#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Builds the test bed's Debian cloud image: Debian 12 made with debootstrap (minbase, systemd,
# udev, dbus, cloud-init, openssh-server, sudo), no network needed at boot, cloud-init reading
# only a NoCloud seed (what `vm create -i IMAGE -C -k KEY` attaches), no host keys and no machine
# id of its own (made at first boot, as on a distribution's cloud image). The image is a raw ext4
# file system without a partition table; it boots with loader="kernel": the payload kernel and
# the initrd --initrd makes (mkinitrd-l2.sh --exec with l2-rootfs.sh: the drivers of its disk,
# NIC, seed CD and power button, then the disk's own systemd as process 1).
#
# Cached in ${KBHYVE_CACHE:-/var/cache/kbhyve}/debian-image/ (the .debs too, so a rebuild
# downloads nothing); rebuilt when this script changes. Prints the image's path.
#   debian-image.sh [--initrd OUT.cpio.gz]
#                              KBHYVE_DEBIAN_MIRROR (default: apt's mirror of the suite, else
#                              http://deb.debian.org/debian); apt's HTTP proxy is used too
# Needs root, debootstrap, mkfs.ext4 (e2fsprogs >= 1.43 for -d).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case $# in
0) ;;
2) [ "$1" = --initrd ] || die "usage: debian-image.sh [--initrd OUT.cpio.gz]"
	"$TESTBED_DIR/mkinitrd-l2.sh" "$2" --exec --no-marker --script "$TESTBED_DIR/l2-rootfs.sh" \
		--modules "virtio_pci virtio_blk virtio_net ext4 ahci sr_mod isofs button evdev" ||
		die "debian-image.sh: cannot build the initrd that boots the image" ;;
*) die "usage: debian-image.sh [--initrd OUT.cpio.gz]" ;;
esac

SUITE=bookworm
# the Debian mirror and HTTP proxy apt uses (a CI machine may reach Debian only through them)
apt_mirror() {
	apt-get indextargets --format '$(REPO_URI) $(CODENAME) $(COMPONENT)' 2>/dev/null |
		awk -v s="$SUITE" '$2 == s && $3 == "main" && $1 ~ /^https?:\/\// { print $1; exit }'
}
MIRROR=${KBHYVE_DEBIAN_MIRROR:-$(apt_mirror)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
if [ -z "${http_proxy:-}" ]; then
	eval "$(apt-config shell http_proxy Acquire::http::Proxy 2>/dev/null)"
	[ -z "${http_proxy:-}" ] || export http_proxy
fi
# python3-cffi-backend provides the virtual package python3-cryptography needs, which
# debootstrap's resolver does not follow on its own
PKGS=systemd-sysv,udev,dbus,cloud-init,openssh-server,sudo,iproute2,python3-cffi-backend

DIR=$KBHYVE_CACHE/debian-image
IMG=$DIR/debian-12-cloud.raw
mkdir -p "$DIR/debs"
exec 9> "$DIR/.lock"
flock 9
STAMP=$( (cat "${BASH_SOURCE[0]}"; echo "$SUITE $MIRROR $PKGS") | sha256sum | cut -c1-16)
if [ -f "$IMG" ] && [ "$(cat "$DIR/stamp" 2>/dev/null)" = "$STAMP" ]; then
	echo "$IMG"
	exit 0
fi
[ "$(id -u)" = 0 ] || die "debian-image.sh: debootstrap needs root"
command -v debootstrap > /dev/null || die "debian-image.sh: no debootstrap (apt-get install debootstrap)"

ROOT=$DIR/root
rm -rf "$ROOT" "$IMG" "$DIR/stamp"
note "debootstrap $SUITE ($PKGS)"
if ! debootstrap --variant=minbase --cache-dir="$DIR/debs" --include="$PKGS" \
	"$SUITE" "$ROOT" "$MIRROR" > "$DIR/debootstrap.out" 2>&1; then
	tail -n 5 "$DIR/debootstrap.out" >&2
	tail -n 20 "$ROOT/debootstrap/debootstrap.log" >&2 2>/dev/null || true
	rm -rf "$ROOT"
	die "debian-image.sh: debootstrap failed (above; whole output in $DIR/debootstrap.out)"
fi

# cloud-init: the seed is its only data source; host keys of one kind (ed25519: an RSA key
# takes tens of seconds in the nested test bed); networkd writes the seed's network-config; no
# locale to set (the image has no locales package, whose update-locale that module runs)
mkdir -p "$ROOT/etc/cloud/cloud.cfg.d"
cat > "$ROOT/etc/cloud/cloud.cfg.d/90-kbhyve.cfg" <<'EOF'
datasource_list: [NoCloud, None]
locale: false
ssh_genkeytypes: [ed25519]
system_info:
  network:
    renderers: [networkd]
EOF
chroot "$ROOT" systemctl enable systemd-networkd.service > /dev/null 2>&1 ||
	die "debian-image.sh: cannot enable systemd-networkd in the image"
# what every copy must make for itself at first boot
rm -f "$ROOT"/etc/ssh/ssh_host_*
: > "$ROOT/etc/machine-id"
rm -f "$ROOT/var/lib/dbus/machine-id"
echo debian > "$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$ROOT/etc/hosts"
echo '/dev/vda / ext4 defaults 0 1' > "$ROOT/etc/fstab"
# nothing to fetch at boot, nothing to read: smaller image
rm -rf "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/lib/apt/lists/* "$ROOT"/usr/share/doc/* \
	"$ROOT"/usr/share/man/* "$ROOT"/usr/share/locale/* "$ROOT/debootstrap"

# a raw ext4 file system of the tree, a quarter larger than what it holds
used=$(du -s -B1M "$ROOT" | cut -f1)
size=$(( (used * 5 / 4 + 64) ))
note "making a ${size} MiB ext4 image of ${used} MiB"
truncate -s "${size}M" "$IMG.tmp"
mkfs.ext4 -q -F -L debian -d "$ROOT" "$IMG.tmp" ||
	{ rm -f "$IMG.tmp"; die "debian-image.sh: mkfs.ext4 -d failed"; }
mv "$IMG.tmp" "$IMG"
rm -rf "$ROOT"
echo "$STAMP" > "$DIR/stamp"
echo "$IMG"
