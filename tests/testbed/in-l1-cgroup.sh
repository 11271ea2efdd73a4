#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Runs inside L1 (from in-l1-tests.sh): vm's guest cgroups. L1 mounts the unified hierarchy
# (cgroup v2) where nothing has; each guest's bhyve must run in kbhyve.slice/NAME. Two real Linux
# guests write 4 MiB with O_DIRECT to a virtio-blk disk on a loop device (io.max wants a block
# device) and then spin the CPU for 3 s: one without limits (the baseline: the stream must be
# fast enough for the cap to show), one with limit_wbps="512K" and limit_pcpu="50", whose stream
# must keep to the cap and whose cpu.stat must show throttling. `vm info` shows the usage; the
# cgroup goes with the guest. Prints "ok - ..." / "not ok - ..." lines.
#   in-l1-cgroup.sh BUILD_DIR VIRTIO_INITRD VMLINUX
set -u
BUILD=$(cd "$1" && pwd) INITRD=$(realpath "$2") VMLINUX=$(realpath "$3")
VM=$BUILD/vm
T=$(mktemp -d /tmp/in-l1-cg.XXXXXX)
export vm_dir=$T/vms KBHYVE_CONF=$T/kbhyve.conf KBHYVE_RUNDIR=$T/run
LIMIT=524288 # limit_wbps="512K"
mounted=
loops=
cleanup() {
	for n in cg0 cg1; do "$VM" poweroff -f $n >/dev/null 2>&1; done
	sleep 1
	for l in $loops; do losetup -d "$l" 2>/dev/null; done
	[ -n "$mounted" ] && umount "$CG" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

check() { # NAME RESULT(0 = pass) DETAIL
	if [ "$2" = 0 ]; then echo "ok - l2 cgroup: $1"; else echo "not ok - l2 cgroup: $1 ($3)"; fi
}
wait_for() { # SECONDS COMMAND...
	local n=$(($1 * 5))
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.2; done
	return 1
}
val() { sed -n "s/^KBV $2=//p" "$T/$1.con" | tr -d '\r' | head -1; }

CG=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
if [ -z "$CG" ]; then
	CG=/sys/fs/cgroup
	mount -t cgroup2 none "$CG" || { check "mount cgroup2" 1 "mount failed"; exit 1; }
	mounted=1
fi
check "the unified hierarchy has the cpu, io and memory controllers" \
	"$(for c in cpu io memory; do grep -qw $c "$CG/cgroup.controllers" || exit 1; done; echo 0)" "$(cat "$CG/cgroup.controllers")"

mkdir -p "$vm_dir/.config"
touch "$vm_dir/.config/system.conf"
printf 'vm_dir="%s"\n' "$vm_dir" >"$KBHYVE_CONF"
# guest NAME [MORE CONF LINES...]: the cgroup scenario on a loop device of its own ($loop)
guest() {
	local name=$1
	shift
	truncate -s 32M "$T/$name.raw"
	loop=$(losetup -f --show "$T/$name.raw") || { check "losetup for $name" 1 "no loop device"; exit 1; }
	loops="$loops $loop"
	mkdir -p "$vm_dir/$name"
	{
		for l in "$@"; do echo "$l"; done
		echo 'loader="kernel"'
		echo "kernel=\"$VMLINUX\""
		echo "initrd=\"$INITRD\""
		echo 'cmdline="console=ttyS0 quiet kbvirtio=cgroup"'
		echo 'cpu=1'
		echo 'memory=256M'
		echo 'disk0_type="virtio-blk"'
		echo 'disk0_dev="custom"'
		echo "disk0_name=\"$loop\""
		echo 'disk0_opts="nocache"'
		echo 'bhyve_options="-o x86.cpuid.disable=xsave"'
	} >"$vm_dir/$name/$name.conf"
}
# run NAME: vm start -f in the background (com1 into NAME.con) until the guest has spun
run() {
	"$VM" start -f "$1" </dev/null >"$T/$1.con" 2>"$T/$1.err" &
	eval "fg_$1=$!"
	wait_for 300 grep -q 'KBV acpid=ready' "$T/$1.con"
}
stop() {
	"$VM" stop "$1" >/dev/null 2>&1
	local p
	eval "p=\$fg_$1"
	wait_for 60 sh -c "! kill -0 $p 2>/dev/null"
}
rate() { awk -v b="$(val "$1" wstream_bytes)" -v s="$(val "$1" wstream_s)" 'BEGIN { if (s > 0) printf "%d", b / s; else print 0 }'; }

# ---- the baseline: no limits ----
guest cg0
run cg0
r0=$(rate cg0)
bvmm=$(pgrep -f '^bhyve: cg0' | head -1)
check "a guest without limits runs in kbhyve.slice/cg0" \
	"$([ -n "$bvmm" ] && grep -qx '0::/kbhyve.slice/cg0' /proc/$bvmm/cgroup && [ "$(cat "$CG/kbhyve.slice/cg0/cpu.max")" = "max 100000" ]; echo $?)" \
	"pid ${bvmm:-none}: $(cat /proc/${bvmm:-0}/cgroup 2>&1 | tr '\n' ' ') cpu.max $(cat "$CG/kbhyve.slice/cg0/cpu.max" 2>&1)"
check "memory.max is the guest's RAM plus the margin (256M + 256M + 32M)" \
	"$([ "$(cat "$CG/kbhyve.slice/cg0/memory.max" 2>/dev/null)" = $((544 * 1024 * 1024)) ]; echo $?)" "$(cat "$CG/kbhyve.slice/cg0/memory.max" 2>&1)"
check "the baseline stream (${r0} B/s) is fast enough to show a cap of $LIMIT B/s" \
	"$([ "$(val cg0 wstream_rc)" = 0 ] && [ "${r0:-0}" -gt $((LIMIT * 2)) ]; echo $?)" "$(tr -d '\r' < "$T/cg0.con" | grep KBV | tr '\n' ' ')"
stop cg0
check "the cgroup goes with the guest" "$([ ! -e "$CG/kbhyve.slice/cg0" ]; echo $?)" "$(ls "$CG/kbhyve.slice" 2>&1)"

# ---- limit_wbps="512K", limit_pcpu="50" ----
guest cg1 'limit_pcpu="50"' 'limit_wbps="512K"'
majmin=$(printf '%d:%d' "0x$(stat -c %t "$loop")" "0x$(stat -c %T "$loop")")
run cg1
r1=$(rate cg1)
d=$CG/kbhyve.slice/cg1
check "limit_pcpu=50: cpu.max 50000 100000" "$([ "$(cat "$d/cpu.max" 2>/dev/null)" = "50000 100000" ]; echo $?)" "$(cat "$d/cpu.max" 2>&1)"
check "limit_wbps=512K: io.max on the loop device $majmin" \
	"$(grep -q "^$majmin .*wbps=$LIMIT" "$d/io.max" 2>/dev/null; echo $?)" "$(cat "$d/io.max" 2>&1)"
throttled=$(awk '$1 == "nr_throttled" { print $2 }' "$d/cpu.stat" 2>/dev/null)
check "limit_pcpu=50: cpu.stat shows throttling (nr_throttled ${throttled:-none})" \
	"$([ "${throttled:-0}" -gt 0 ]; echo $?)" "$(tr '\n' ' ' < "$d/cpu.stat" 2>&1)"
wrote=$(awk -v d="$majmin" '$1 == d { for (i = 2; i <= NF; i++) if ($i ~ /^wbytes=/) print substr($i, 8) }' "$d/io.stat" 2>/dev/null)
check "limit_wbps=512K: the stream kept to the cap (${r1} B/s; baseline ${r0} B/s)" \
	"$([ "$(val cg1 wstream_rc)" = 0 ] && [ "${r1:-0}" -gt 0 ] && [ "$r1" -le $((LIMIT * 5 / 4)) ] && [ "${wrote:-0}" -ge 4194304 ]; echo $?)" \
	"$(tr -d '\r' < "$T/cg1.con" | grep KBV | tr '\n' ' ') io.stat: $(tr '\n' ' ' < "$d/io.stat" 2>&1)"
"$VM" info cg1 >"$T/info" 2>&1
check "vm info shows the limits and the cgroup's usage" \
	"$(grep -q 'limits: pcpu=50 wbps=512K' "$T/info" && grep -q "cgroup: $d" "$T/info" && grep -qE 'cpu-usage: [0-9.]+ s \(throttled [0-9.]+ s, [1-9][0-9]* times\)' "$T/info" && grep -q 'io-usage: read .* written [1-9]' "$T/info"; echo $?)" \
	"$(grep -E 'limits|cgroup|usage' "$T/info" | tr '\n' ' ')"
stop cg1
check "vm stop: the guest's cgroup is removed" "$([ ! -e "$d" ]; echo $?)" "$(ls "$CG/kbhyve.slice" 2>&1)"
