#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Builds bhyve, fetches a Debian kernel and busybox, and boots a guest to a busybox shell on the
# serial console. On a host whose /dev/kvm runs guests natively (kvm_intel/kvm_amd) the shell is
# interactive; where /dev/kvm only emulates guests (like kbhyve's build machines) the same bhyve
# command runs inside the nested test bed and the shell runs a short scripted session.
# Run as root on Debian 12:   tools/demo.sh [--no-install]
set -eu
cd "$(dirname "$0")/.."
[ "${1:-}" = --no-install ] || tools/install-deps.sh
make -j"$(nproc)"
eval "$(tests/testbed/payload.sh)"
INITRD=$PWD/build/demo/demo-initrd.cpio.gz
tests/testbed/mkinitrd-l2.sh "$INITRD" --script tests/testbed/l2-demo.sh --no-marker

native=0
if [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; then
	native=1
fi
run_bhyve() { # CPUS MEM CMDLINE
	build/bhyve -c "$1" -m "$2" -s 0,hostbridge -s 31,lpc -l com1,stdio \
		-o boot.kernel="$KBHYVE_VMLINUX" -o boot.initrd="$INITRD" \
		-o boot.cmdline="$3" -o x86.cpuid.disable=xsave demo
}
if [ "$native" = 1 ]; then
	echo "== booting the demo guest with bhyve on this host's KVM"
	set +e
	run_bhyve 2 512M "console=ttyS0 quiet demo=interactive"
	echo "== bhyve exited with status $? (0 reboot, 1 poweroff, 2 halt, 3 triple fault, 4 error)"
else
	echo "== this host's /dev/kvm only emulates guests: running bhyve inside the nested test bed"
	echo "   (QEMU TCG with emulated AMD SVM runs an L1 Linux whose kvm-amd runs the guest)"
	set +e
	tests/testbed/l1run --timeout 300 -- bash -c "$(declare -f run_bhyve); KBHYVE_VMLINUX=$KBHYVE_VMLINUX INITRD=$INITRD; \
		run_bhyve 2 512M 'console=ttyS0 quiet'; echo \"== bhyve exited with status \$? (0 reboot, 1 poweroff, 2 halt, 3 triple fault, 4 error)\""
fi
