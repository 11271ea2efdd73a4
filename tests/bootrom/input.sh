#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# -l bootrom,CODE[,VARS] bad input through the real bhyve binary: each case exits 4 with one line
# on stderr naming the file and the problem, and neither file changes. The files are checked
# before /dev/kvm is opened; what the firmware gets through fw_cfg (a kernel, -f files, bootindex)
# is checked once the VM exists, so those cases need /dev/kvm: without it they are skipped here
# and the test bed's L1 runs this file (tests/testbed/in-l1-tests.sh).
# Usage: tests/bootrom/input.sh BUILD_DIR   (TAP lines "ok - ..." / "not ok - ...")
set -u
build=${1:?usage: $0 BUILD_DIR}
BHYVE=$(realpath "$build/bhyve")
[ -x "$BHYVE" ] || { echo "not ok - bootrom: $BHYVE is not built"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$tmp.err"' EXIT
failed=0
kvm=0
[ -r /dev/kvm ] && [ -w /dev/kvm ] && kvm=1

# firmware-shaped files: CODE with a reset vector in its last 16 bytes, VARS of the matching size
mkrom() { # mkrom PATH SIZE
	truncate -s "$2" "$1"
	printf '\x90\x90\xe9\x00\x00' | dd of="$1" bs=1 seek=$(($2 - 16)) conv=notrunc status=none
}
mkrom "$tmp/code.fd" $((0x37C000))
head -c $((0x84000)) /dev/urandom >"$tmp/vars.fd"

sums() { find "$tmp" -type f -printf '%p %s %m\n' -exec md5sum {} \; | sort; }

# bad DESCRIPTION EXPECTED_TEXT BHYVE_ARGS...
bad() {
	local d=$1 want=$2
	shift 2
	[ -n "${ONLY_AT_INIT:-}" ] && return
	local before after rc lines
	before=$(sums)
	timeout 60 "$BHYVE" -m 256M -s 0,hostbridge -s 31,lpc "$@" bad-rom </dev/null >/dev/null 2>"$tmp.err"
	rc=$?
	after=$(sums)
	lines=$(wc -l <"$tmp.err")
	if [ "$rc" != 4 ]; then
		echo "not ok - bootrom bad input: $d: exit $rc (want 4): $(head -c 300 "$tmp.err")"
		failed=1
	elif [ "$lines" != 1 ]; then
		echo "not ok - bootrom bad input: $d: $lines lines on stderr: $(head -c 300 "$tmp.err")"
		failed=1
	elif ! grep -qF -- "$want" "$tmp.err"; then
		echo "not ok - bootrom bad input: $d: message '$(cat "$tmp.err")' lacks '$want'"
		failed=1
	elif [ "$before" != "$after" ]; then
		echo "not ok - bootrom bad input: $d: files changed"
		failed=1
	else
		echo "ok - bootrom bad input: $d ($(cat "$tmp.err"))"
	fi
	rm -f "$tmp.err"
}

# at_init bad ...: a case bhyve checks once the VM exists. ONLY_AT_INIT=1 (L1): only those.
at_init() {
	shift
	if [ $kvm = 0 ]; then
		echo "ok - bootrom bad input: $1 # skip no /dev/kvm: checked once the VM exists (L1 runs it)"
		return
	fi
	ONLY_AT_INIT= bad "$@"
}

bad "missing CODE" "boot ROM $tmp/nope.fd: No such file or directory" -l bootrom,"$tmp/nope.fd"
bad "CODE is a directory" "boot ROM $tmp: not a regular file" -l bootrom,"$tmp"
: >"$tmp/empty.fd"
bad "empty CODE" "boot ROM $tmp/empty.fd: file is empty" -l bootrom,"$tmp/empty.fd"
head -c 5000 /dev/zero >"$tmp/odd.fd"
bad "CODE not a multiple of 4 KiB" "boot ROM $tmp/odd.fd: size 5000 is not a multiple of 4 KiB" -l bootrom,"$tmp/odd.fd"
mkrom "$tmp/huge.fd" $((17 << 20))
bad "CODE larger than the flash window" "boot ROM $tmp/huge.fd: 17825792 bytes do not fit" -l bootrom,"$tmp/huge.fd"
truncate -s 64K "$tmp/zero.fd"
bad "CODE without a reset vector" "boot ROM $tmp/zero.fd: not a firmware image" -l bootrom,"$tmp/zero.fd"
bad "missing VARS" "UEFI variable file $tmp/nope-vars.fd: No such file or directory" -l bootrom,"$tmp/code.fd","$tmp/nope-vars.fd"
head -c $((0x20000)) /dev/zero >"$tmp/vars-2m.fd"
bad "VARS of another build" "UEFI variable file $tmp/vars-2m.fd: its size 131072 does not match boot ROM $tmp/code.fd" -l bootrom,"$tmp/code.fd","$tmp/vars-2m.fd"
mkrom "$tmp/code-big.fd" $(((16 << 20) - (256 << 10)))
bad "CODE + VARS larger than the window" "UEFI variable file $tmp/vars.fd: 540672 bytes do not fit the 256 KiB" -l bootrom,"$tmp/code-big.fd","$tmp/vars.fd"
bad "bootrom and a kernel without QEMU's fw_cfg" "boot.kernel /boot/vmlinuz: the firmware gets a kernel only through QEMU's fw_cfg" -l bootrom,"$tmp/code.fd" -o boot.kernel=/boot/vmlinuz
at_init bad "a missing kernel for the firmware" "boot.kernel $tmp/nope: No such file or directory" -l bootrom,"$tmp/code.fd",fwcfg=qemu -o boot.kernel="$tmp/nope"
at_init bad "an initrd without a kernel for the firmware" "boot.initrd and boot.cmdline need a boot.kernel" -l bootrom,"$tmp/code.fd",fwcfg=qemu -o boot.initrd="$tmp/vars.fd"
bad "unknown fw_cfg flavour" "lpc.fwcfg=uefi: expected bhyve or qemu" -l bootrom,"$tmp/code.fd" -o lpc.fwcfg=uefi
bad "VARS without a ROM" "lpc.bootvars $tmp/vars.fd: variables need a boot ROM" -o lpc.bootvars="$tmp/vars.fd"
at_init bad "-f without a firmware boot" "-f: fw_cfg files are for a firmware boot" -f opt/kb,string=x
at_init bad "-f with bhyve's fw_cfg" "-f: fw_cfg files need QEMU's interface" -l bootrom,"$tmp/code.fd" -f opt/kb,string=x
at_init bad "-f file= missing" "-f opt/kb: file=$tmp/nope.bin: No such file or directory" -l bootrom,"$tmp/code.fd",fwcfg=qemu -f opt/kb,file="$tmp/nope.bin"
at_init bad "-f a name kbhyve serves" "-f etc/e820: the firmware configuration already has a file of that name" -l bootrom,"$tmp/code.fd",fwcfg=qemu -f etc/e820,string=x
bad "-f without data" "invalid -f 'opt/kb'" -l bootrom,"$tmp/code.fd",fwcfg=qemu -f opt/kb
truncate -s 1M "$tmp/disk.img"
at_init bad "bootindex not a number" "pci.0.4.0.bootindex=first: expected a number from 0 to 65535" -l bootrom,"$tmp/code.fd",fwcfg=qemu \
	-s 4,virtio-blk,"$tmp/disk.img",bootindex=first
at_init bad "bootindex out of range" "pci.0.4.0.bootindex=65536: expected a number from 0 to 65535" -l bootrom,"$tmp/code.fd",fwcfg=qemu \
	-s 4,virtio-blk,"$tmp/disk.img",bootindex=65536
at_init bad "bootindex given twice" "bootindex=1 is given to two devices (0:4:0 and 0:5:0)" -l bootrom,"$tmp/code.fd",fwcfg=qemu \
	-s 4,virtio-blk,"$tmp/disk.img",bootindex=1 -s 5,virtio-blk,"$tmp/disk.img",ro,bootindex=1

# a VARS file the user cannot write: on a read-only bind mount (this works for root too)
if [ -n "${ONLY_AT_INIT:-}" ]; then
	:
elif unshare -m true 2>/dev/null; then
	mkdir "$tmp/ro"
	cp "$tmp/vars.fd" "$tmp/ro/vars.fd"
	unshare -m bash -c "mount --bind -o ro '$tmp/ro' '$tmp/ro' 2>/dev/null || mount -o remount,bind,ro '$tmp/ro'; \
		mount -o remount,bind,ro '$tmp/ro' 2>/dev/null; exec '$BHYVE' -m 256M -s 0,hostbridge -s 31,lpc \
		-l bootrom,'$tmp/code.fd','$tmp/ro/vars.fd' bad-rom" </dev/null >/dev/null 2>"$tmp/ro.err"
	rc=$?
	if [ "$rc" = 4 ] && [ "$(wc -l <"$tmp/ro.err")" = 1 ] &&
		grep -qF "UEFI variable file $tmp/ro/vars.fd: not writable" "$tmp/ro.err" &&
		cmp -s "$tmp/vars.fd" "$tmp/ro/vars.fd"; then
		echo "ok - bootrom bad input: read-only VARS ($(cat "$tmp/ro.err"))"
	else
		echo "not ok - bootrom bad input: read-only VARS: exit $rc: $(head -c 300 "$tmp/ro.err")"
		failed=1
	fi
else
	echo "ok - bootrom bad input: read-only VARS # SKIP no mount namespaces here"
fi
exit $failed
