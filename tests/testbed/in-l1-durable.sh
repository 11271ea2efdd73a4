#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Runs inside L1 (from in-l1-tests.sh): durability of acknowledged writes. A real Linux guest
# writes numbered 4 KiB records to virtio-blk with O_DIRECT + fdatasync and prints each record's
# number after its sync (durable-writer.c); this side kills bhyve with SIGKILL mid-stream and
# checks that every record printed before the kill is in the host file, intact, and that the
# records after it are either intact or untouched (nothing torn or corrupted). Once per block
# option of virtio-blk: the default (io_uring, page cache), nocache (O_DIRECT) and direct
# (O_DSYNC); then AHCI (Linux's ahci, FLUSH CACHE) and NVMe (Linux's nvme, Flush) with the
# default, the same block backend behind other device models.
# Prints "ok - ..." / "not ok - ..." lines.
#   in-l1-durable.sh BUILD_DIR L2_INITRD VMLINUX
set -u
BUILD=$1 INITRD=$2 VMLINUX=$3
BHYVE=$BUILD/bhyve
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export KBHYVE_RUNDIR=$T/run
# records the guest must have printed before the kill; the kill then lands at a random moment
MIN_RECORDS=${KBHYVE_DURABLE_RECORDS:-40}

check() { # NAME CONDITION-RESULT DETAIL
	if [ "$2" = 0 ]; then echo "ok - l2 durable: $1"; else echo "not ok - l2 durable: $1 ($3)"; fi
}

# verify FILE LAST: records 0..LAST intact; later ones intact or all zero. Prints a reason on failure.
verify() {
	python3 - "$1" "$2" <<'PY'
import sys
path, last = sys.argv[1], int(sys.argv[2])
data = open(path, "rb").read()
def record(n):
    head = b"KBREC %08u\n" % n
    return (head * (4096 // len(head) + 1))[:4096]
bad = []
for n in range(len(data) // 4096):
    got = data[n * 4096:(n + 1) * 4096]
    if got == record(n):
        continue
    if n <= last:
        bad.append("record %d printed but %s" % (n, "missing" if got == bytes(4096) else "corrupt"))
    elif got != bytes(4096):
        bad.append("record %d torn" % n)
print("; ".join(bad[:5]) if bad else "")
sys.exit(1 if bad else 0)
PY
}

# nocache opens the image with O_DIRECT, which L1's tmpfs refuses: there the image is reached
# through a loop device (a block device takes O_DIRECT) backed by the same file
direct_ok() { dd if=/dev/zero of="$T/probe" bs=4096 count=1 oflag=direct 2>/dev/null; }

# RUN: MODEL:OPTION:GUEST_DEVICE
for run in virtio-blk::vda virtio-blk:nocache:vda virtio-blk:direct:vda ahci-hd::sda nvme::nvme0n1; do
	IFS=: read -r model opt gdev <<<"$run"
	name=${opt:-default}
	[ "$model" = virtio-blk ] || name=$model
	rm -f "$T/disk.img"
	truncate -s 64M "$T/disk.img"
	disk=$T/disk.img loop=
	if [ "$opt" = nocache ] && ! direct_ok; then
		loop=$(losetup -f --show "$T/disk.img") || {
			check "$name: a loop device for O_DIRECT on this tmpfs" 1 "$(losetup -f 2>&1)"
			continue
		}
		disk=$loop
	fi
	timeout -k 5 600 "$BHYVE" -c 1 -m 256M -s 0,hostbridge -s 31,lpc -l com1,stdio \
		-s 3,"$model","$disk"${opt:+,$opt} \
		-o boot.kernel="$VMLINUX" -o boot.initrd="$INITRD" \
		-o boot.cmdline="console=ttyS0 quiet kbvirtio=durable kbdurdev=/dev/$gdev" -o x86.cpuid.disable=xsave \
		"durable-$name" </dev/null >"$T/console.out" 2>"$T/bhyve.err" &
	tpid=$!
	for _ in $(seq 3000); do
		grep -q "^KBREC $MIN_RECORDS" "$T/console.out" && break
		kill -0 $tpid 2>/dev/null || break
		sleep 0.1
	done
	sleep "0.$((RANDOM % 10))" # anywhere between two records
	vmm=$(pgrep -f "^bhyve: durable-$name" | head -1)
	[ -n "$vmm" ] && kill -9 "$vmm"
	{ wait $tpid; } 2>/dev/null # (no "Killed" report from the shell)
	rc=$?
	# complete lines only: the kill may cut the last one short ("KBREC 13" of "KBREC 139")
	last=$(head -n "$(wc -l <"$T/console.out")" "$T/console.out" | tr -d '\r' |
		sed -n 's/^KBREC \([0-9][0-9]*\)$/\1/p' | tail -1)
	check "$name: the guest wrote and synced records until SIGKILL" \
		"$([ -n "$vmm" ] && [ "$rc" = 137 ] && [ "${last:-0}" -ge "$MIN_RECORDS" ]; echo $?)" \
		"pid ${vmm:-none}, exit $rc, last record ${last:-none}; $(tail -n 3 "$T/bhyve.err" "$T/console.out" | tr '\n' ' ')"
	[ -n "$loop" ] && losetup -d "$loop" # what the loop device holds goes to the file
	why=$(verify "$T/disk.img" "${last:--1}")
	check "$name: every record printed before the kill (0-${last:-none}) is in the host file, intact; none torn" \
		"$?" "$why"
done
