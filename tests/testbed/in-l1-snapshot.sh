#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Runs inside L1 (from in-l1-tests.sh): checkpoint, suspend and restore of a real Linux guest.
# The guest (l2-virtio.sh kbvirtio=snap) counts records in memory and writes each one, synced,
# to its virtio-blk disk (durable-writer.c), and prints its uptime, boot id and interrupt
# counts every second. bhyvectl --checkpoint twice while it runs, --suspend (bhyve exits 5),
# bhyve -r: the guest goes on where it was (no reboot, the count continues, uptime does not go
# back, interrupts still arrive), every record written before the suspend is on the disk; the
# first checkpoint restored twice from the same files; then the bad snapshots bhyve -r must
# refuse with one line and exit 4. Prints "ok - ..." / "not ok - ..." lines.
#   in-l1-snapshot.sh BUILD_DIR L2_INITRD VMLINUX
set -u
BUILD=$1 INITRD=$2 VMLINUX=$3
BHYVE=$BUILD/bhyve CTL=$BUILD/bhyvectl
T=$(mktemp -d)
trap 'pkill -f "^bhyve: snapvm" 2>/dev/null; rm -rf "$T"' EXIT
export KBHYVE_RUNDIR=$T/run

check() { # NAME RESULT(0 = pass) DETAIL
	if [ "$2" = 0 ]; then echo "ok - l2 snapshot: $1"; else echo "not ok - l2 snapshot: $1 ($3)"; fi
}

truncate -s 128M "$T/disk.img"
# bhyve_start OUT [bhyve options...]: the guest's bhyve in the background, console in OUT
bhyve_start() {
	local out=$1
	shift
	timeout -k 5 900 "$BHYVE" -c 2 -m 256M -s 0,hostbridge -s 31,lpc -l com1,stdio \
		-s 3,virtio-blk,"$T/disk.img" -s 4,virtio-rnd \
		-o boot.kernel="$VMLINUX" -o boot.initrd="$INITRD" \
		-o boot.cmdline="console=ttyS0 quiet kbvirtio=snap" -o x86.cpuid.disable=xsave \
		"$@" snapvm </dev/null >"$out" 2>"$out.err" &
	bpid=$!
}
# wait_for FILE REGEX [SECONDS]: until a console line matches
wait_for() {
	local i
	for i in $(seq $((${3:-120} * 10))); do
		tr -d '\r' <"$1" | grep -qE "$2" && return 0
		kill -0 "$bpid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
records() { tr -d '\r' <"$1" | sed -n 's/^KBREC \([0-9][0-9]*\)$/\1/p'; }
ticks() { tr -d '\r' <"$1" | grep '^KBV tick '; }
field() { sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p"; }
stop_vm() {
	"$CTL" --vm=snapvm --destroy >/dev/null 2>&1
	wait "$bpid" 2>/dev/null
}

# ---- a running guest, checkpointed twice, then suspended ----
bhyve_start "$T/run1.out"
wait_for "$T/run1.out" '^KBREC 20$' 300 && wait_for "$T/run1.out" '^KBV tick ' 60
check "the guest runs and writes records" "$?" "$(tail -n 3 "$T/run1.out" "$T/run1.out.err" | tr '\n' ' ')"
boot1=$(ticks "$T/run1.out" | tail -1 | field boot)

# the checkpoint's moment lies between the last record printed before the request and the last
# one printed when it returns
c1_pre=$(records "$T/run1.out" | tail -1)
c1_tick=$(ticks "$T/run1.out" | tail -1)
out=$("$CTL" --vm=snapvm --checkpoint="$T/c1" 2>&1)
rc=$?
c1_last=$(records "$T/run1.out" | tail -1)
check "bhyvectl --checkpoint saves the running guest into FILE, FILE.kern, FILE.meta" \
	"$([ $rc = 0 ] && [ -s "$T/c1" ] && [ -s "$T/c1.kern" ] && [ -s "$T/c1.meta" ]; echo $?)" \
	"rc $rc: $out"
echo "# checkpoint 1: $(echo "$out" | tr '\n' ' '); RAM file $(du -k "$T/c1" | cut -f1) KiB on disk of $(($(stat -c %s "$T/c1") / 1024)) KiB"
grep -q '"format": "kbhyve-kvm-x86"' "$T/c1.meta"
check "the .meta is JSON naming the format" "$?" "$(head -c 300 "$T/c1.meta")"
n=$((c1_last + 15))
wait_for "$T/run1.out" "^KBREC $n\$" 120
check "the guest keeps running after a checkpoint (record $n after $c1_last)" "$?" \
	"$(tail -3 "$T/run1.out" | tr '\n' ' ')"
out=$("$CTL" --vm=snapvm --checkpoint="$T/c2" 2>&1)
check "a second checkpoint of the same guest" "$?" "$out"
n=$(( $(records "$T/run1.out" | tail -1) + 10 ))
wait_for "$T/run1.out" "^KBREC $n\$" 120

out=$("$CTL" --vm=snapvm --suspend="$T/s1" 2>&1)
rc=$?
wait "$bpid"
brc=$?
s1_last=$(records "$T/run1.out" | tail -1)
s1_tick=$(ticks "$T/run1.out" | tail -1)
check "bhyvectl --suspend saves the guest and its bhyve exits 5" \
	"$([ $rc = 0 ] && [ $brc = 5 ] && [ -s "$T/s1.meta" ]; echo $?)" \
	"bhyvectl rc $rc: $out; bhyve rc $brc; $(tail -2 "$T/run1.out.err" | tr '\n' ' ')"
echo "# suspend: $(echo "$out" | tr '\n' ' ')"
cp "$T/disk.img" "$T/disk-at-suspend.img"
python3 - "$T/disk-at-suspend.img" "$s1_last" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
last = int(sys.argv[2])
def record(n):
    head = b"KBREC %08u\n" % n
    return (head * (4096 // len(head) + 1))[:4096]
bad = [n for n in range(last + 1) if data[n * 4096:(n + 1) * 4096] != record(n)]
sys.exit(1 if bad else 0)
PY
check "every record the guest printed before the suspend (0-$s1_last) is on the disk" "$?" "missing or corrupt"

# ---- resume: the count continues, no reboot ----
# resumed NAME OUT LO HI TICK: the guest continued after a record between LO and HI (the
# checkpoint's moment) with the same boot, a later uptime than TICK's and interrupts
resumed() {
	local name=$1 out=$2 lo=$3 last=$4 tick=$5
	local want=$((last + 10))
	wait_for "$out" "^KBREC $want\$" 300 && wait_for "$out" '^KBV tick ' 60
	local rc=$?
	local first
	first=$(records "$out" | head -1)
	check "$name: the guest continues where it was (first record ${first:-none}, saved after $lo-$last; record $want reached)" \
		"$([ $rc = 0 ] && [ -n "$first" ] && [ "$first" -gt "$lo" ] && [ "$first" -le $((last + 3)) ]; echo $?)" \
		"$(tail -n 4 "$out" "$out.err" | tr '\n' ' ')"
	! tr -d '\r' <"$out" | grep -qE 'Linux version|KBTEST init|Run /init'
	check "$name: no reboot (no boot messages on the console)" "$?" "$(head -3 "$out" | tr '\n' ' ')"
	local t
	t=$(ticks "$out" | tail -1)
	local boot up0 up1 loc0 loc1 v0 v1 hw
	boot=$(echo "$t" | field boot)
	up0=$(echo "$tick" | field up) up1=$(echo "$t" | field up)
	loc0=$(echo "$tick" | field loc) loc1=$(echo "$t" | field loc)
	v0=$(echo "$tick" | field virtio) v1=$(echo "$t" | field virtio)
	hw=$(echo "$t" | field hwrng)
	check "$name: same boot id, uptime goes on ($up0 -> $up1), timer and virtio interrupts still arrive ($loc0 -> $loc1, $v0 -> $v1), hwrng reads" \
		"$([ "$boot" = "$boot1" ] && awk -v a="$up0" -v b="$up1" 'BEGIN { exit !(b > a) }' &&
			[ "${loc1:-0}" -gt "${loc0:-0}" ] && [ "${v1:-0}" -gt "${v0:-0}" ] && [ "$hw" = 16 ]; echo $?)" \
		"before: $tick; after: $t"
}
bhyve_start "$T/run2.out" -r "$T/s1"
resumed "restore of the suspend" "$T/run2.out" "$s1_last" "$s1_last" "$s1_tick"
stop_vm

# the first checkpoint, twice from the same files (the disk has moved on: the guest rewrites the
# same records after its point, which is what it would have done)
for i in 1 2; do
	bhyve_start "$T/c1-run$i.out" -r "$T/c1"
	resumed "restore $i of the first checkpoint" "$T/c1-run$i.out" "$c1_pre" "$c1_last" "$c1_tick"
	stop_vm
done

# ---- bad snapshots: one line, exit 4, nothing run ----
refused() { # NAME EXPECTED-REGEX FILE [bhyve options]
	local name=$1 want=$2 file=$3
	shift 3
	bhyve_start "$T/bad.out" -r "$file" "$@"
	wait "$bpid"
	local rc=$? lines
	lines=$(grep -c . "$T/bad.out.err")
	check "bad snapshot refused: $name (exit 4, one line)" \
		"$([ $rc = 4 ] && [ "$lines" = 1 ] && grep -qE "$want" "$T/bad.out.err" && ! grep -q KBREC "$T/bad.out"; echo $?)" \
		"exit $rc: $(head -3 "$T/bad.out.err" | tr '\n' ' ')"
}
mkdir -p "$T/bad"
refused "missing files" "nothere.meta: No such file" "$T/bad/nothere"
for f in "" .kern .meta; do cp "$T/c1$f" "$T/bad/trunc$f"; done
truncate -s 100 "$T/bad/trunc.kern"
refused "truncated .kern" "does not belong" "$T/bad/trunc"
for f in "" .kern; do cp "$T/c1$f" "$T/bad/mixed$f"; done
cp "$T/c2.meta" "$T/bad/mixed.meta"
refused "a .meta of another snapshot" "does not belong" "$T/bad/mixed"
for f in "" .kern; do cp "$T/c1$f" "$T/bad/newer$f"; done
sed 's/"version": 1,/"version": 2,/' "$T/c1.meta" >"$T/bad/newer.meta"
refused "a newer format version" "format version 2" "$T/bad/newer"
for f in "" .kern; do cp "$T/c1$f" "$T/bad/other$f"; done
sed 's/"name": "snapvm"/"name": "othervm"/' "$T/c1.meta" >"$T/bad/other.meta"
refused "a snapshot of another VM" "of VM 'othervm'" "$T/bad/other"
refused "another configuration (-s 5,virtio-rnd added)" "another configuration" "$T/c1" -s 5,virtio-rnd
for f in .kern .meta; do cp "$T/c1$f" "$T/bad/short$f"; done
truncate -s 1M "$T/bad/short"
refused "a memory file of the wrong size" "has 1048576 bytes" "$T/bad/short"
