#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Runs inside L1 (through l1run): the tiny-guest suite on L1's real kvm-amd, then real Debian
# guests booted by bhyve. Prints "ok - ..." / "not ok - ..." lines.
#   in-l1-tests.sh BUILD_DIR L2_INITRD VMLINUX VMLINUZ [VIRTIO_INITRD [VM_INITRD [AHCI_INITRD
#                  [NVME_E1000_INITRD [FBUF_INITRD [EFIFB_INITRD [XHCI_INITRD [ROOTFS_INITRD
#                  CLOUD_IMAGE]]]]]]]]
set -u
BUILD=$1 INITRD=$2 VMLINUX=$3 VMLINUZ=$4 VIRTIO_INITRD=${5:-}
BHYVE=$BUILD/bhyve
TMP=$(mktemp -d)

# mark NAME: how long L1 took since the previous mark (the CI time budget), as a TAP comment
mark_name=
mark_start=$SECONDS
mark() {
	[ -n "$mark_name" ] && echo "# time: l1 $mark_name: $((SECONDS - mark_start)) s"
	mark_name=$1
	mark_start=$SECONDS
}
echo "# L1: $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPU, /dev/kvm: $(ls -l /dev/kvm 2>&1)"
mark "tiny guests"
"$(dirname "$0")/../guests/run.sh" "$BUILD" | sed 's/^\(not ok\|ok\) - guest: /\1 - l1 tiny guest: /'
mark "ctl"
"$(dirname "$0")/../guests/ctl.sh" "$BUILD" | sed 's/^\(not ok\|ok\) - ctl: /\1 - l1 ctl: /'
mark "vnc"
# the VNC suite's tiny guests need no Linux: where the host has a /dev/kvm of its own,
# tests/run-tests.sh ran them there (guest-tests.sh leaves this mark); fbuf's Linux guests and
# the firmware's display still run below
if [ -e "$(dirname "$0")/../../build/testbed/host-has-kvm" ]; then
	echo "# skip - l1 vnc: the host's /dev/kvm ran tests/vnc/run.sh"
else
	"$(dirname "$0")/../vnc/run.sh" "$BUILD" | sed 's/^\(not ok\|ok\) - vnc/\1 - l1 vnc/'
	# the bad-input cases bhyve checks once the VM exists, skipped on a host without KVM
	mark "bad input at VM creation"
	ONLY_AT_INIT=1 "$(dirname "$0")/../bootrom/input.sh" "$BUILD" |
		sed 's/^\(not ok\|ok\) - bootrom/\1 - l1 bootrom/'
	ONLY_AT_INIT=1 "$(dirname "$0")/../devices/input.sh" "$BUILD" |
		sed 's/^\(not ok\|ok\) - device/\1 - l1 device/'
fi

# boot NAME KERNEL CPUS MEM ACTION EXPECTED_EXIT
boot() {
	local name=$1 kernel=$2 cpus=$3 mem=$4 action=$5 want=$6
	local out=$TMP/$name.out err=$TMP/$name.err
	local cmdline="console=ttyS0 quiet kbtest=$action kbmark=$name"
	local t0 t1 rc
	t0=$(date +%s.%N)
	timeout -k 5 120 "$BHYVE" -c "$cpus" -m "$mem" -s 0,hostbridge -s 31,lpc -l com1,stdio \
		-o boot.kernel="$kernel" -o boot.initrd="$INITRD" -o boot.cmdline="$cmdline" \
		-o x86.cpuid.disable=xsave -o x86.debugport.log=true "guest-$name" \
		</dev/null >"$out" 2>"$err"
	rc=$?
	t1=$(date +%s.%N)
	local problems=""
	[ "$rc" = "$want" ] || problems+=" exit $rc (want $want);"
	grep -q '^KBTEST init=ok' "$out" || problems+=" init did not run;"
	local nproc mem_kb cmd
	nproc=$(sed -n 's/^KBTEST nproc=\([0-9]*\).*/\1/p' "$out" | tr -d '\r')
	[ "$nproc" = "$cpus" ] || problems+=" nproc=$nproc (want $cpus);"
	mem_kb=$(sed -n 's/^KBTEST memtotal_kb=\([0-9]*\).*/\1/p' "$out" | tr -d '\r')
	local want_kb=$(( ${mem%M} * 1024 ))
	# MemTotal is RAM less what the kernel keeps for itself (image, page tables...): within 20 %
	if [ -z "$mem_kb" ] || [ "$mem_kb" -gt "$want_kb" ] || [ "$mem_kb" -lt $((want_kb * 80 / 100)) ]; then
		problems+=" MemTotal=${mem_kb:-?} kB for -m $mem;"
	fi
	cmd=$(sed -n 's/^KBTEST cmdline=//p' "$out" | tr -d '\r')
	[ "$cmd" = "$cmdline" ] || problems+=" /proc/cmdline='$cmd';"
	local marker
	marker=$(sed -n 's/.*debug port 0x80: 0x1 at \([0-9.]*\) ms.*/\1/p' "$err" | head -1)
	local secs
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	if [ -z "$problems" ]; then
		echo "ok - l2 linux: $name (${secs}s, init marker at ${marker:-?} ms, MemTotal ${mem_kb} kB)"
	else
		echo "not ok - l2 linux: $name:$problems"
		sed 's/^/#   console: /' "$out" | tail -15
		sed 's/^/#   stderr: /' "$err" | tail -10
	fi
}

mark "linux boots"
boot pvh-1cpu-poweroff "$VMLINUX" 1 256M poweroff 1
boot pvh-2cpu-reboot "$VMLINUX" 2 512M reboot 0
boot pvh-2cpu-halt "$VMLINUX" 2 256M halt 2
boot bzimage-1cpu-reboot "$VMLINUZ" 1 256M reboot 0
boot bzimage-2cpu-poweroff "$VMLINUZ" 2 384M poweroff 1
rm -rf "$TMP"

mark "virtio and evil"
if [ -n "$VIRTIO_INITRD" ]; then
	"$(dirname "$0")/in-l1-virtio.sh" "$BUILD" "$VIRTIO_INITRD" "$VMLINUX"
	"$(dirname "$0")/in-l1-evil.sh" "$BUILD" "$VIRTIO_INITRD" "$VMLINUX"
fi
mark "durable and unprivileged"
if [ -n "$VIRTIO_INITRD" ]; then
	"$(dirname "$0")/in-l1-durable.sh" "$BUILD" "$VIRTIO_INITRD" "$VMLINUX"
	"$(dirname "$0")/in-l1-unpriv.sh" "$BUILD" "$VIRTIO_INITRD" "$VMLINUX"
fi
# checkpoint, suspend and restore of a guest that writes to its disk; its live migration
mark "snapshot and migration"
if [ -n "$VIRTIO_INITRD" ]; then
	"$(dirname "$0")/in-l1-snapshot.sh" "$BUILD" "$VIRTIO_INITRD" "$VMLINUX"
	"$(dirname "$0")/in-l1-migrate.sh" "$BUILD" "$VIRTIO_INITRD" "$VMLINUX"
fi
# vm's guest cgroups under the unified hierarchy (L1 mounts it for the test)
mark "cgroup"
if [ -n "$VIRTIO_INITRD" ]; then
	"$(dirname "$0")/in-l1-cgroup.sh" "$BUILD" "$VIRTIO_INITRD" "$VMLINUX"
fi

# the vm manager with a real guest (in-l1-vm.sh), and its tiny-guest tests on L1's KVM
mark "vm"
if [ -n "${6:-}" ]; then
	"$(dirname "$0")/in-l1-vm.sh" "$BUILD" "$6" "$VMLINUX"
fi
# a Debian cloud image provisioned by vm create -i with cloud-init, logged into with ssh
mark "cloud"
if [ -n "${13:-}" ]; then
	"$(dirname "$0")/in-l1-cloud.sh" "$BUILD" "${12}" "$VMLINUX" "${13}"
fi
# vm lifecycle (orphaned bhyves with the real bhyve, restart, tmux starts) on L1's KVM
mark "review-lifecycle"
"$(dirname "$0")/../vm/review-lifecycle.sh" "$BUILD" | sed 's/^\(not ok\|ok\) - /\1 - l1 /'

# vm switch on real bridges: L1's kernel has 8021q and dummy links, so the vlan paths that the
# build host may lack are covered here (the steps up to vlan: the build host runs the whole suite)
mark "switch-netns"
KBHYVE_SWITCH_VLAN_ONLY=1 "$(dirname "$0")/../vm/switch-netns.sh" "$BUILD" | sed 's/^\(not ok\|ok\) - /\1 - l1 /'

# AHCI disks and CDs under Linux's drivers
mark "ahci"
if [ -n "${7:-}" ]; then
	"$(dirname "$0")/in-l1-ahci.sh" "$BUILD" "$7" "$VMLINUX"
fi
# NVMe and e1000 under Linux's drivers
mark "nvme-e1000"
if [ -n "${8:-}" ]; then
	"$(dirname "$0")/in-l1-nvme-e1000.sh" "$BUILD" "$8" "$VMLINUX"
fi
# fbuf and its VNC server under Linux's bochs driver; the xHCI tablet under Linux's USB drivers
mark "fbuf"
if [ -n "${9:-}" ]; then
	"$(dirname "$0")/in-l1-fbuf.sh" "$BUILD" "$9" "$VMLINUX"
fi
mark "xhci"
if [ -n "${11:-}" ]; then
	"$(dirname "$0")/in-l1-xhci.sh" "$BUILD" "${11}" "$VMLINUX"
fi

# Debian's OVMF: its UEFI shell, Linux and a vm guest through it. Debian's own outer QEMU aborts
# under OVMF (README.md, "OVMF and the outer QEMU") and takes L1 with it: the test runs when
# l1run's QEMU is the patched one that outer-qemu.sh builds (or with KBHYVE_FIRMWARE_TESTS=1),
# and last, so an abort costs only its lines
mark "firmware"
if [ "${KBHYVE_OUTER_QEMU_PATCHED:-0}" = 1 ] || [ "${KBHYVE_FIRMWARE_TESTS:-0}" = 1 ]; then
	KBHYVE_VMLINUZ=$VMLINUZ "$(dirname "$0")/in-l1-firmware.sh" "$BUILD" "$INITRD" "${10:-}"
else
	echo "# skip - l2 firmware: the outer QEMU is not the patched one (tests/testbed/outer-qemu.sh); KBHYVE_FIRMWARE_TESTS=1 runs it anyway"
fi
mark ""
echo "# test bed: every suite ran"
