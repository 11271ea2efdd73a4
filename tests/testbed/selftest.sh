#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Proves the test bed end to end: one l1run whose command checks /dev/kvm and /dev/net/tun,
# writes a file into the repository through the work share, and boots the L2 kernel (PVH vmlinux)
# with QEMU/KVM inside L1; the L2 test script prints nproc, MemTotal and /proc/cmdline and powers
# off. The output, the exit status (42 on success, to show that a status crosses L1 unchanged)
# and the file are checked. Times are taken here, outside both guests, as each line arrives.
#
#   selftest.sh [--runs N]      N runs (default 1); prints each run's times and their medians
#
# Output with times: build/testbed/selftest.log. Exit status 0 when every run passed.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=1
case ${1:-} in
--runs) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "usage: selftest.sh [--runs N]"; RUNS=$2 ;;
'') ;;
*) die "usage: selftest.sh [--runs N]" ;;
esac

load_payload
OUT=$REPO_ROOT/build/testbed
mkdir -p "$OUT" || die "cannot create $OUT"
LOG=$OUT/selftest.log
MARK=$OUT/selftest-from-l1

cat > "$OUT/selftest-l2.sh" << 'EOF'
echo "selftest-l2: init"
echo "nproc=$(nproc)"
echo "memtotal_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
echo "cmdline=$(cat /proc/cmdline)"
poweroff -f
EOF
"$TESTBED_DIR/mkinitrd-l2.sh" "$OUT/selftest-l2.cpio.gz" --script "$OUT/selftest-l2.sh" ||
	die "cannot build the L2 initrd"

# Runs in L1 (bash): $1 vmlinux, $2 L2 initrd, $3 file to create in the repository.
# -nic none: no NIC, no iPXE option ROM to run.
L1_SCRIPT='
echo "selftest-l1: command started in $(pwd) KBHYVE_IN_L1=${KBHYVE_IN_L1:-}"
ls -l /dev/kvm /dev/net/tun || exit 1
echo from-l1 > "$3" || exit 1
echo "selftest-l1: starting qemu"
qemu-system-x86_64 -accel kvm -cpu host,-xsave -m 256 -smp 2 -nographic -no-reboot -nic none \
	-kernel "$1" -initrd "$2" -append "console=ttyS0 quiet" 2> /tmp/qemu.err
rc=$?
echo "selftest-l1: qemu exit $rc"
[ $rc -eq 0 ] || { cat /tmp/qemu.err; exit 1; }
exit 42
'

# Seconds since $1 (EPOCHREALTIME without its dot, µs), with 3 decimals.
since() { local d=$((${EPOCHREALTIME/./} - $1)); printf '%d.%03d' $((d / 1000000)) $((d / 1000 % 1000)); }

# Prefixes each line with the seconds since $1 as it arrives; prints "END t" when the input ends.
stamp()
{
	local line
	while IFS= read -r line; do
		printf '%8s | %s\n' "$(since "$1")" "${line//$'\r'/}"
	done
	printf '%8s END\n' "$(since "$1")"
}

# The time stamp of the first line of FILE that matches REGEX.
at() { awk -v re="$2" '$2 == "|" && substr($0, index($0, "|") + 2) ~ re { print $1; exit }' "$1"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "?"; else printf "%.1f", a - b }'; }

FAILED=0
# ok STATUS MESSAGE: counts a failed check (STATUS != 0).
ok()
{
	if [ "$1" -ne 0 ]; then
		echo "selftest: FAIL: $2" >&2
		FAILED=1
	fi
}
line() { grep -qxF -- "$1" <<< "$text"; }
match() { grep -qE -- "$1" <<< "$text"; }

declare -a T_L1 T_L2 T_ALL
: > "$LOG"
for run in $(seq 1 "$RUNS"); do
	rm -f "$MARK"
	echo "selftest: run $run of $RUNS" | tee -a "$LOG"
	t0=${EPOCHREALTIME/./}
	"$TESTBED_DIR/l1run" --timeout 300 -- bash -c "$L1_SCRIPT" selftest \
		"$KBHYVE_VMLINUX" "$OUT/selftest-l2.cpio.gz" "$MARK" 2>&1 |
		stamp "$t0" > "$OUT/selftest.run"
	rc=${PIPESTATUS[0]}
	r=$OUT/selftest.run
	tee -a "$LOG" < "$r"
	text=$(sed -n 's/^ *[0-9.]* | //p' "$r")
	[ "$rc" -eq 42 ]
	ok $? "l1run exit status is $rc, not 42"
	line "selftest-l1: command started in $(pwd -P) KBHYVE_IN_L1=1"
	ok $? "the command did not start in $(pwd -P) with KBHYVE_IN_L1=1"
	match '^crw.* /dev/kvm$'
	ok $? "no /dev/kvm in L1"
	match '^crw.* /dev/net/tun$'
	ok $? "no /dev/net/tun in L1"
	[ "$(cat "$MARK" 2> /dev/null)" = from-l1 ]
	ok $? "the file written in L1 is not in the repository"
	match 'selftest-l2: init$' # SeaBIOS leaves no newline before it
	ok $? "L2 did not reach its init"
	line "nproc=2"
	ok $? "L2 nproc is not 2"
	mem=$(sed -n 's/^memtotal_kb=//p' <<< "$text")
	[[ $mem =~ ^[0-9]+$ ]] && [ "$mem" -gt 150000 ] && [ "$mem" -le 262144 ]
	ok $? "L2 MemTotal '$mem' kB does not fit -m 256"
	line "cmdline=console=ttyS0 quiet"
	ok $? "L2 command line is not the one given"
	line "selftest-l1: qemu exit 0"
	ok $? "QEMU in L1 did not exit 0"

	l1=$(at "$r" '^selftest-l1: command started')
	q=$(at "$r" '^selftest-l1: starting qemu')
	fw=$(awk -v q="$q" '$2 == "|" && $1 > q { print $1; exit }' "$r") # L2's first output (SeaBIOS)
	l2=$(at "$r" 'selftest-l2: init$')
	qe=$(at "$r" '^selftest-l1: qemu exit')
	end=$(awk '$2 == "END" { print $1 }' "$r")
	T_L1+=("$(sub "$l1" 0)")
	T_L2+=("$(sub "$l2" "$q")")
	T_ALL+=("$(sub "$end" 0)")
	echo "selftest: run $run: L1 boot to command start $(sub "$l1" 0) s; L2: QEMU launch to init" \
		"$(sub "$l2" "$q") s (QEMU start-up $(sub "$fw" "$q") s, first output to init $(sub "$l2" "$fw") s)," \
		"launch to QEMU exit $(sub "$qe" "$q") s; whole run $(sub "$end" 0) s" | tee -a "$LOG"
done
rm -f "$OUT/selftest.run"

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
if [ "$RUNS" -gt 1 ]; then
	echo "selftest: medians of $RUNS runs: L1 boot to command start $(median "${T_L1[@]}") s," \
		"L2 to init $(median "${T_L2[@]}") s, whole run $(median "${T_ALL[@]}") s" | tee -a "$LOG"
fi
if [ "$FAILED" -ne 0 ]; then
	echo "selftest: FAILED (log: $LOG)"
	exit 1
fi
echo "selftest: PASS"
