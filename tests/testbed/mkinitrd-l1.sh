#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Builds the initrd of the L1 test bed guest: static busybox, l1-init.sh as /init, and the kernel
# modules L1 needs, each after its dependencies (read from the modules' .modinfo sections), without
# their signatures (checking them under TCG costs ~0.25 s of every L1 boot).
#
#   mkinitrd-l1.sh OUT.cpio[.gz]     (.gz: gzip-compressed; otherwise a plain cpio archive)
#
# KBHYVE_L1_MODULES: more modules to load in L1 (e.g. "nf_tables veth"), added to the defaults.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ $# -eq 1 ] || die "usage: mkinitrd-l1.sh OUT.cpio[.gz]"
OUT=$1

# Required: virtio-pci + 9p for the shares, overlay for the writable root, kvm-amd for /dev/kvm.
REQUIRED="virtio_pci 9pnet_virtio 9p overlay kvm_amd"
# For network tests (L2 taps, bridges, VLANs, vhost-net) and vm's snapshots (btrfs and an LVM thin
# pool on loop devices; lvcreate -s wants dm_snapshot's target even for thin snapshots, and L1 has
# no modprobe to load it on demand); loaded when the kernel has them.
OPTIONAL="tun vhost_net bridge 8021q dummy veth loop btrfs dm_thin_pool dm_snapshot ${KBHYVE_L1_MODULES:-}"

load_payload
mod_index
for m in $REQUIRED; do
	mod_add "$m" || die "required module $m is not in $KBHYVE_MODULES"
done
for m in $OPTIONAL; do
	mod_add "$m" || note "module $m is not in $KBHYVE_MODULES: left out"
done

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/mkinitrd-l1.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
install_busybox "$STAGE"
mod_install "$STAGE" unsigned
install -m 755 "$TESTBED_DIR/l1-init.sh" "$STAGE/init"

mkdir -p "$(dirname "$OUT")"
case $OUT in
*.gz) pack_cpio "$STAGE" "$OUT" gzip ;;
*) pack_cpio "$STAGE" "$OUT" none ;;
esac
note "$OUT: modules $(tr '\n' ' ' < "$STAGE/etc/modules")"
