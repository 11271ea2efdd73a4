#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Test-bed guest tests: builds the L2 initrd, then boots L1 once and runs in-l1-tests.sh there.
#   tests/testbed/guest-tests.sh [BUILD_DIR]     (BUILD_DIR relative to the repository, default build)
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:-build}
cd "$REPO_ROOT" || exit 1
[ -x "$BUILD/bhyve" ] || die "$BUILD/bhyve is not built"
load_payload
# the Debian cloud image (in-l1-cloud.sh) and the initrd that boots it: debootstrap, cached;
# built while the other initrds are made
mkdir -p "$REPO_ROOT/build/testbed"
CLOUD_OUT=$REPO_ROOT/build/testbed/debian-image.out
ROOTFS_INITRD=$REPO_ROOT/build/testbed/l2-rootfs.cpio.gz
"$TESTBED_DIR/debian-image.sh" --initrd "$ROOTFS_INITRD" > "$CLOUD_OUT" 2> "$CLOUD_OUT.err" &
cloud_pid=$!
INITRD=$REPO_ROOT/build/testbed/l2-bootcheck.cpio.gz
ACPID=$TESTBED_DIR/l2-acpid.sh:/bin/kb-acpid
"$TESTBED_DIR/mkinitrd-l2.sh" "$INITRD" --script "$TESTBED_DIR/l2-bootcheck.sh" --add "$ACPID" \
	--modules "qemu_fw_cfg button evdev" ||
	die "cannot build the L2 initrd"
VIRTIO_INITRD=$REPO_ROOT/build/testbed/l2-virtio.cpio.gz
EVIL=$REPO_ROOT/build/testbed/evil-virtio
gcc -static -O2 -Wall -Wextra -Werror -o "$EVIL" "$TESTBED_DIR/evil-virtio.c" || die "cannot build evil-virtio"
DURABLE=$REPO_ROOT/build/testbed/durable-writer
gcc -static -O2 -Wall -Wextra -Werror -o "$DURABLE" "$TESTBED_DIR/durable-writer.c" ||
	die "cannot build durable-writer"
"$TESTBED_DIR/mkinitrd-l2.sh" "$VIRTIO_INITRD" --script "$TESTBED_DIR/l2-virtio.sh" --add "$EVIL:/bin/evil-virtio" \
	--add "$DURABLE:/bin/durable-writer" --add "$ACPID" \
	--modules "virtio_pci virtio_blk virtio_net virtio_rng virtio_console ext4 button evdev ahci sd_mod nvme" ||
	die "cannot build the virtio L2 initrd"
# the vm manager's guest (in-l1-vm.sh): NIC, disk, power button
VM_INITRD=$REPO_ROOT/build/testbed/l2-vm.cpio.gz
[ -x "$BUILD/vm" ] || die "$BUILD/vm is not built"
"$TESTBED_DIR/mkinitrd-l2.sh" "$VM_INITRD" --script "$TESTBED_DIR/l2-vm.sh" --add "$ACPID" \
	--modules "virtio_pci virtio_net virtio_blk button evdev" || die "cannot build the vm L2 initrd"
# the AHCI guest (in-l1-ahci.sh): Linux's own SATA drivers, the ISO 9660 reader
AHCI_INITRD=$REPO_ROOT/build/testbed/l2-ahci.cpio.gz
"$TESTBED_DIR/mkinitrd-l2.sh" "$AHCI_INITRD" --script "$TESTBED_DIR/l2-ahci.sh" \
	--modules "ahci sd_mod sr_mod isofs" || die "cannot build the AHCI L2 initrd"
# the NVMe and e1000 guest (in-l1-nvme-e1000.sh)
NVME_INITRD=$REPO_ROOT/build/testbed/l2-nvme-e1000.cpio.gz
"$TESTBED_DIR/mkinitrd-l2.sh" "$NVME_INITRD" --script "$TESTBED_DIR/l2-nvme-e1000.sh" \
	--modules "nvme e1000" || die "cannot build the NVMe/e1000 L2 initrd"
# the display guests: Linux's bochs DRM driver (in-l1-fbuf.sh), and Linux's efifb on the mode OVMF
# set (in-l1-firmware.sh's display step), each drawing the pattern for its screen size
PATTERNS=()
for size in 640x480 800x600 1024x768 1280x800 1280x1024; do
	f=$REPO_ROOT/build/testbed/pattern-bands-$size.raw
	[ -s "$f" ] || python3 -c "import sys; sys.path.insert(0, '$REPO_ROOT/tests/vnc'); import vncclient; \
open('$f', 'wb').write(vncclient.pattern_bytes('bands', ${size%x*}, ${size#*x}))" || die "cannot make the display pattern $size"
	PATTERNS+=(--add "$f:/pattern-$size.raw")
done
FBUF_INITRD=$REPO_ROOT/build/testbed/l2-fbuf.cpio.gz
"$TESTBED_DIR/mkinitrd-l2.sh" "$FBUF_INITRD" --script "$TESTBED_DIR/l2-fbuf.sh" "${PATTERNS[@]}" \
	--modules "bochs evdev psmouse" || die "cannot build the fbuf L2 initrd"
EFIFB_INITRD=$REPO_ROOT/build/testbed/l2-efifb.cpio.gz
"$TESTBED_DIR/mkinitrd-l2.sh" "$EFIFB_INITRD" --script "$TESTBED_DIR/l2-fbuf.sh" "${PATTERNS[@]}" \
	--modules "evdev" || die "cannot build the efifb L2 initrd"
# the xHCI tablet guest (in-l1-xhci.sh): Linux's xhci_pci, usbhid, hid_generic
XHCI_INITRD=$REPO_ROOT/build/testbed/l2-xhci.cpio.gz
"$TESTBED_DIR/mkinitrd-l2.sh" "$XHCI_INITRD" --script "$TESTBED_DIR/l2-xhci.sh" \
	--modules "xhci_pci usbhid hid_generic evdev" || die "cannot build the xhci L2 initrd"
# the outer QEMU that firmware guests cannot abort (built once per cache, 3.5 min); without it the
# firmware test is skipped, the rest runs on Debian's QEMU
if [ -z "${KBHYVE_QEMU:-}" ] && ! "$TESTBED_DIR/outer-qemu.sh" > /dev/null; then
	echo "not ok - test bed: the patched outer QEMU did not build (above); the firmware test is skipped"
fi
# the host's own /dev/kvm runs tests/vnc/run.sh in tests/run-tests.sh: L1 need not repeat it
if [ -e /dev/kvm ]; then touch "$REPO_ROOT/build/testbed/host-has-kvm"; else rm -f "$REPO_ROOT/build/testbed/host-has-kvm"; fi
CLOUD_IMAGE=
if wait "$cloud_pid"; then
	CLOUD_IMAGE=$(tail -n 1 "$CLOUD_OUT")
else
	sed 's/^/# /' "$CLOUD_OUT.err"
	echo "not ok - test bed: the Debian cloud image did not build (above); the cloud guest test is skipped"
fi
exec "$TESTBED_DIR/l1run" --timeout 3000 -- "$TESTBED_DIR/in-l1-tests.sh" "$BUILD" "$INITRD" \
	"$KBHYVE_VMLINUX" "$KBHYVE_VMLINUZ" "$VIRTIO_INITRD" "$VM_INITRD" "$AHCI_INITRD" \
	"$NVME_INITRD" "$FBUF_INITRD" "$EFIFB_INITRD" "$XHCI_INITRD" "$ROOTFS_INITRD" "$CLOUD_IMAGE"
