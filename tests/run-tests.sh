#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Runs every kbhyve test and ends with one line "N passed, N failed".
#  1. unit tests (cmocka), built with ASan/UBSan
#  2. tiny guests on /dev/kvm through the real bhyve binary, ASan/UBSan build
#  3. the nested test bed: bhyve inside an L1 Linux boots real Debian guests (normal build)
# Usage: tests/run-tests.sh [--no-testbed]
set -u
cd "$(dirname "$0")/.."
testbed=1
for a in "$@"; do
	case $a in
	--no-testbed) testbed=0 ;;
	*) echo "usage: $0 [--no-testbed]" >&2; exit 2 ;;
	esac
done

pass=0
fail=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# section NAME: starts a section, and says how long the one before took (for the CI time budget)
sec_name=
sec_start=$SECONDS
section() {
	[ -n "$sec_name" ] && echo "# time: $sec_name: $((SECONDS - sec_start)) s"
	sec_name=$1
	sec_start=$SECONDS
	[ -n "$1" ] && echo "== $1"
}

count_tap() { # read "ok"/"not ok" lines from $log
	local p f
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	pass=$((pass + p))
	fail=$((fail + f))
}

section "build"
# make novnc: the browser console's noVNC, from the npm registry once, then from the cache
if ! make -j2 SAN=1 tests >"$log" 2>&1 || ! make -j2 tests >>"$log" 2>&1 ||
	! make novnc >>"$log" 2>&1; then
	cat "$log"
	echo "build failed"
	echo "0 passed, 1 failed"
	exit 1
fi

section "every source file names its licence (SPDX)"
tests/lint/spdx.sh >"$log" 2>&1
cat "$log"
count_tap
section "man pages: render without warnings, bhyve.8 follows bhyve -h"
tests/lint/man.sh build-san >"$log" 2>&1
cat "$log"
count_tap

# run_unit BINARY: one cmocka program, its counts added to the totals
run_unit() {
	local t=$1 name rc p f
	name=$(basename "$t")
	if "$t" >"$log" 2>&1; then rc=0; else rc=$?; fi
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	p=${p:-0}
	f=${f:-0}
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		f=1 # crashed or a sanitizer fired outside a test
	fi
	echo "$name: $p passed, $f failed"
	[ "$f" != 0 ] && grep -E 'FAIL|ERROR|error|Sanitizer|runtime error' "$log" | head -20
	pass=$((pass + p))
	fail=$((fail + f))
}

section "unit tests (ASan/UBSan)"
for t in build-san/tests/test_*; do
	run_unit "$t"
done
# the sandbox's filter differs in the ASan build (its runtime's calls): the shipped one, too
section "unit tests: the sandbox as shipped (release build)"
run_unit build/tests/test_sandbox

section "bhyve -l bootrom: bad input, no KVM needed (ASan/UBSan)"
tests/bootrom/input.sh build-san >"$log" 2>&1
cat "$log"
count_tap

section "bhyve -s: bad device options, one line each (ASan/UBSan)"
tests/devices/input.sh build-san >"$log" 2>&1
cat "$log"
count_tap

section "tiny guests on /dev/kvm (ASan/UBSan)"
tests/guests/run.sh build-san >"$log" 2>&1
cat "$log"
count_tap
section "bhyvectl and the control socket, tiny guests (ASan/UBSan)"
tests/guests/ctl.sh build-san >"$log" 2>&1
cat "$log"
count_tap

section "fbuf's VNC server: wait, authentication, hostile viewers, tiny guests (ASan/UBSan)"
tests/vnc/run.sh build-san >"$log" 2>&1
cat "$log"
count_tap
section "vm console --web: the page, noVNC, the WebSocket bridge, headless Chromium (ASan/UBSan)"
tests/vnc/web.sh build-san >"$log" 2>&1
cat "$log"
count_tap

section "vm, the manager: guests on disk, switches in a private network namespace (ASan/UBSan)"
for t in tests/vm/*.sh; do
	[ -e "$t" ] || continue
	"$t" build-san >"$log" 2>&1
	rc=$?
	cat "$log"
	before=$((pass + fail))
	count_tap
	if [ "$rc" != 0 ] && [ $((pass + fail)) = "$before" ]; then
		echo "not ok - $t did not run (exit $rc)"
		fail=$((fail + 1))
	fi
done

section "fuzz targets (libFuzzer, ASan/UBSan), ${FUZZ_SECONDS:-10} s each"
if make -j2 fuzz >"$log" 2>&1; then
	tests/fuzz/run.sh "${FUZZ_SECONDS:-10}" build-fuzz >"$log" 2>&1
	cat "$log"
	count_tap
else
	tail -20 "$log"
	echo "not ok - fuzz targets did not build"
	fail=$((fail + 1))
fi

if [ "$testbed" = 1 ]; then
	section "nested test bed: real Linux guests"
	tests/testbed/guest-tests.sh build >"$log" 2>&1
	rc=$?
	cat "$log"
	before=$((pass + fail))
	count_tap
	if [ "$rc" != 0 ] && [ $((pass + fail)) = "$before" ]; then
		echo "not ok - test bed did not run"
		fail=$((fail + 1))
	elif ! grep -q '^# test bed: every suite ran' "$log"; then
		# L1 (or the outer QEMU) died mid-way: the suites after that point printed nothing
		echo "not ok - test bed: L1 ended before its last suite (exit $rc)"
		fail=$((fail + 1))
	fi
fi

section ""
echo "# time: all: $SECONDS s"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
