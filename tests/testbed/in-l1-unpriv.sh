#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Runs inside L1 (from in-l1-tests.sh): bhyve as an unprivileged user. The user (a bare uid, no
# passwd entry) may open /dev/kvm (its group), owns the disk image, the control-socket folder and
# a tap created for it by root; bhyve, started with no capabilities, boots a real Linux guest that
# makes an ext4 file system on its disk and pings L1 through the tap, and confines itself
# (seccomp, no_new_privs; the bounding set stays without CAP_SETPCAP).
# Prints "ok - ..." / "not ok - ..." lines.
#   in-l1-unpriv.sh BUILD_DIR L2_INITRD VMLINUX
set -u
BUILD=$1 INITRD=$2 VMLINUX=$3
BHYVE=$BUILD/bhyve
UID_=4242
T=$(mktemp -d)
chmod 755 "$T"
kvm_mode=$(stat -c '%g %a' /dev/kvm)
tun_mode=$(stat -c '%a' /dev/net/tun)
cleanup() {
	ip link del tapu0 2>/dev/null
	chgrp "${kvm_mode% *}" /dev/kvm
	chmod "${kvm_mode#* }" /dev/kvm
	chmod "$tun_mode" /dev/net/tun
	rm -rf "$T"
}
trap cleanup EXIT

check() { # NAME CONDITION-RESULT DETAIL
	if [ "$2" = 0 ]; then echo "ok - l2 unprivileged: $1"; else echo "not ok - l2 unprivileged: $1 ($3)"; fi
}
val() { sed -n "s/^KBV $1=//p" "$T/console.out" | tr -d '\r' | head -1; }

# what root prepares (vm does the same for a guest with run_as)
mkdir "$T/run"
chown "$UID_:$UID_" "$T/run"
truncate -s 64M "$T/disk.img"
chown "$UID_:$UID_" "$T/disk.img"
cp "$VMLINUX" "$T/vmlinux"
cp "$INITRD" "$T/initrd"
chmod 644 "$T/vmlinux" "$T/initrd"
chgrp "$UID_" /dev/kvm
chmod 660 /dev/kvm
chmod 666 /dev/net/tun # as a distribution's udev rules leave it (L1 has no udev)
ip tuntap add tapu0 mode tap user "$UID_" group "$UID_"
ip addr add 169.254.101.1/24 dev tapu0
ip link set tapu0 up

KBHYVE_RUNDIR=$T/run timeout -k 5 600 setpriv --reuid="$UID_" --regid="$UID_" --clear-groups \
	--inh-caps=-all -- "$BHYVE" -c 1 -m 256M -s 0,hostbridge -s 31,lpc -l com1,stdio \
	-s 3,virtio-blk,"$T/disk.img" -s 5,virtio-net,tapu0 \
	-o boot.kernel="$T/vmlinux" -o boot.initrd="$T/initrd" \
	-o boot.cmdline="console=ttyS0 quiet kbvirtio=unpriv" -o x86.cpuid.disable=xsave \
	unpriv-guest </dev/null >"$T/console.out" 2>"$T/bhyve.err" &
tpid=$!
# the running VMM, as the kernel sees it
for _ in $(seq 600); do
	vmm=$(pgrep -f '^bhyve: unpriv-guest' | head -1)
	[ -n "$vmm" ] && grep -q '^KBV' "$T/console.out" && break
	kill -0 $tpid 2>/dev/null || break
	sleep 0.1
done
status=$(cat /proc/"${vmm:-none}"/status 2>/dev/null)
wait $tpid
rc=$?

check "bhyve powered off normally" "$([ $rc = 1 ]; echo $?)" "exit $rc; $(tail -3 "$T/bhyve.err" | tr '\n' ' ')"
check "bhyve ran as uid $UID_ with no capabilities" \
	"$(echo "$status" | grep -qP "^Uid:\t$UID_\t$UID_\t$UID_\t$UID_$" &&
		echo "$status" | grep -qx 'CapEff:	0000000000000000' &&
		echo "$status" | grep -qx 'CapPrm:	0000000000000000'; echo $?)" \
	"$(echo "$status" | grep -E '^(Uid|Cap)' | tr '\n' ' ')"
check "the unprivileged bhyve is sandboxed (seccomp, no_new_privs)" \
	"$(echo "$status" | grep -qx 'Seccomp:	2' && echo "$status" | grep -qx 'NoNewPrivs:	1'; echo $?)" \
	"$(echo "$status" | grep -E '^(Seccomp|NoNewPrivs)' | tr '\n' ' ')"
check "the guest made an ext4 file system on its disk" "$([ "$(val vda_fs)" = ok ]; echo $?)" \
	"vda_fs=$(val vda_fs); $(tail -3 "$T/console.out" | tr '\n' ' ')"
check "the guest pinged L1 through the user's tap" "$([ "$(val ping)" = ok ]; echo $?)" \
	"ping=$(val ping) net_if=$(val net_if)"
check "nothing forbidden or failed on bhyve's stderr" \
	"$(! grep -qiE 'forbidden|cannot|error' "$T/bhyve.err"; echo $?)" "$(head -3 "$T/bhyve.err" | tr '\n' ' ')"
