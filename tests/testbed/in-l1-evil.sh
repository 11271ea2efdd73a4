#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Runs inside L1 (from in-l1-tests.sh): a malicious L2 guest (evil-virtio) sends 64 reads of
# 511 MiB each to virtio-blk, then runs an endless reset/enable storm on virtio-rnd, while this
# side checks that the VMM stays in its owner's hands: the huge reads are refused at once, the
# log stays short, `bhyvectl --get-stats` answers, and SIGTERM (run 1) or `bhyvectl --destroy`
# (run 2) end bhyve within seconds. Prints "ok - ..." / "not ok - ..." lines.
#   in-l1-evil.sh BUILD_DIR L2_INITRD VMLINUX
set -u
BUILD=$1 INITRD=$2 VMLINUX=$3
BHYVE=$BUILD/bhyve
BHYVECTL=$BUILD/bhyvectl
T=$(mktemp -d)
export KBHYVE_RUNDIR=$T/run

check() { # NAME CONDITION-RESULT DETAIL
	if [ "$2" = 0 ]; then echo "ok - l2 evil: $1"; else echo "not ok - l2 evil: $1 ($3)"; fi
}
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
truncate -s 1G "$T/disk.img"

# Start the evil guest and wait until its storm runs. $1: the VM name.
start_evil() {
	timeout -k 5 600 "$BHYVE" -c 2 -m 256M -s 0,hostbridge -s 31,lpc -l com1,stdio \
		-s 6,virtio-rnd -s 8,virtio-blk,"$T/disk.img" \
		-o boot.kernel="$VMLINUX" -o boot.initrd="$INITRD" \
		-o boot.cmdline="console=ttyS0 quiet kbvirtio=evil" -o x86.cpuid.disable=xsave \
		"$1" </dev/null >"$T/console.out" 2>"$T/bhyve.err" &
	bpid=$!
	for _ in $(seq 3000); do grep -q 'KBV acpid=ready' "$T/console.out" && break; sleep 0.1; done
	sleep 2 # the storm has been running for a while
}

# After the storm has run: the huge reads, the log, a control-socket round trip.
check_under_attack() {
	local huge t0 secs lines
	huge=$(sed -n 's/^EVIL huge=//p' "$T/console.out" | tr -d '\r' | head -1)
	check "64 reads of 511 MiB refused at once" "$(echo "$huge" | grep -q '^64/64 refused'; echo $?)" \
		"huge=$huge; $(tail -3 "$T/console.out" | tr '\n' ' ')"
	check "storm started" "$(grep -q 'KBV storm=started' "$T/console.out"; echo $?)" \
		"$(tail -3 "$T/console.out" | tr '\n' ' ')"
	t0=$(date +%s.%N)
	timeout 20 "$BHYVECTL" --vm="$1" --get-stats >"$T/stats.out" 2>&1
	secs=$(elapsed "$t0")
	check "bhyvectl --get-stats answers during the storm (${secs}s)" \
		"$(grep -Eq 'exits[^0-9]*[1-9]' "$T/stats.out" && awk -v s="$secs" 'BEGIN { exit !(s < 5) }'; echo $?)" \
		"after ${secs}s: $(head -c 200 "$T/stats.out")"
	lines=$(wc -l <"$T/bhyve.err")
	check "the storm left a short log ($lines lines)" "$([ "$lines" -le 20 ]; echo $?)" \
		"$(sort "$T/bhyve.err" | uniq -c | sort -rn | head -3 | tr '\n' ' ')"
}

# run 1: SIGTERM presses the power button; the guest's acpid powers off although the storm runs
start_evil evil-term
check_under_attack evil-term
t0=$(date +%s.%N)
kill -TERM $bpid
wait $bpid
rc=$?
secs=$(elapsed "$t0")
check "SIGTERM during the storm powers off (exit 1, ${secs}s)" \
	"$([ $rc = 1 ] && awk -v s="$secs" 'BEGIN { exit !(s < 20) }'; echo $?)" \
	"exit $rc after ${secs}s; $(tail -3 "$T/console.out" | tr '\n' ' ')"

# run 2: bhyvectl --destroy
start_evil evil-destroy
check_under_attack evil-destroy
t0=$(date +%s.%N)
timeout 20 "$BHYVECTL" --vm=evil-destroy --destroy >/dev/null 2>&1
wait $bpid
rc=$?
secs=$(elapsed "$t0")
check "bhyvectl --destroy during the storm (exit 4, ${secs}s)" \
	"$([ $rc = 4 ] && awk -v s="$secs" 'BEGIN { exit !(s < 5) }'; echo $?)" \
	"exit $rc after ${secs}s; $(tail -3 "$T/bhyve.err" | tr '\n' ' ')"
rm -rf "$T"
