#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# bhyvectl against real bhyve processes on /dev/kvm: the idle tiny guest keeps a VM running
# while bhyvectl lists it, reads its counters, presses its power button and stops it.
# Usage: tests/guests/ctl.sh BUILD_DIR   (prints "ok - name" / "not ok - name" lines)
set -u
BUILD=${1:-build}
if [ ! -e /dev/kvm ]; then
	# some build machines have no KVM at all: the test bed runs this same suite inside L1
	echo "# skip - ctl: this host has no /dev/kvm; the nested test bed runs these tests in L1"
	exit 0
fi
BHYVE=$BUILD/bhyve
BHYVECTL=$BUILD/bhyvectl
IDLE=$BUILD/guests/idle.bin
pass=0
fail=0
TMP=$(mktemp -d)
export KBHYVE_RUNDIR=$TMP/run
VMM=$KBHYVE_RUNDIR/vmm
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

# check NAME RESULT(0 = pass) DETAIL
check() {
	if [ "$2" = 0 ]; then
		echo "ok - ctl: $1"
		pass=$((pass + 1))
	else
		echo "not ok - ctl: $1"
		[ -n "${3:-}" ] && echo "#   $3" | head -c 600 && echo
		fail=$((fail + 1))
	fi
}

# start NAME: run bhyve with the idle guest in the background; sets $bpid, waits for the socket
start() {
	local name=$1
	: >"$TMP/$name.out" # not the last run's "idle": that one may have left a stale socket
	"$BHYVE" -s 0,hostbridge -s 31,lpc -l com1,stdio -o boot.raw="$IDLE" "$name" \
		</dev/null >"$TMP/$name.out" 2>"$TMP/$name.err" &
	bpid=$!
	pids+=("$bpid")
	for _ in $(seq 200); do
		[ -S "$VMM/$name" ] && grep -q idle "$TMP/$name.out" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

running() { # PID: alive and not a zombie
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# finish PID: wait at most 20 s for bhyve to exit; sets $rc (or "timeout")
finish() {
	for _ in $(seq 200); do
		running "$1" || break
		sleep 0.1
	done
	if running "$1"; then
		kill -9 "$1"
		wait "$1" 2>/dev/null
		rc=timeout
	else
		wait "$1"
		rc=$?
	fi
}

# wait_for FILE PATTERN COUNT: at most 5 s until PATTERN occurs COUNT times in FILE
wait_for() {
	for _ in $(seq 100); do
		[ "$(grep -c "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
		sleep 0.05
	done
	return 1
}

# --- a running VM ---
start ctlvm
check "bhyve creates the control socket" $? "$(cat "$TMP/ctlvm.err")"
vm_pid=$bpid
check "socket is mode 0600, directory 0700" \
	"$([ "$(stat -c %a "$VMM/ctlvm")" = 600 ] && [ "$(stat -c %a "$VMM")" = 700 ]; echo $?)" \
	"$(stat -c '%a %n' "$VMM" "$VMM/ctlvm" 2>&1)"

start ctlvm-b
b_pid=$bpid
out=$("$BHYVECTL" --list 2>&1)
check "--list shows both VMs with their pids, sorted" \
	"$([ "$out" = "ctlvm $vm_pid
ctlvm-b $b_pid" ]; echo $?)" "$out"
check "the listed pid is bhyve for that VM" \
	"$(tr '\0' ' ' <"/proc/$vm_pid/cmdline" | grep -q '^bhyve: ctlvm'; echo $?)" \
	"$(tr '\0' ' ' <"/proc/$vm_pid/cmdline")"
"$BHYVECTL" --vm=ctlvm-b --destroy >/dev/null 2>&1
finish "$b_pid"

out=$("$BHYVECTL" --vm=ctlvm --get-stats 2>&1)
r=$?
exits=$(echo "$out" | sed -n 's/^vcpu0\.exits //p')
check "--get-stats shows non-zero vCPU exit counts" \
	"$([ $r = 0 ] && [ "${exits:-0}" -gt 0 ] && echo "$out" | grep -q '^vm.vcpus 1$'; echo $?)" "$out"
out=$("$BHYVECTL" --vm=ctlvm --status 2>&1)
check "--status names the VM and its pid" \
	"$(echo "$out" | grep -qx 'name ctlvm' && echo "$out" | grep -qx "pid $vm_pid" &&
		echo "$out" | grep -qx 'memory 268435456'; echo $?)" "$out"
"$BHYVECTL" --vm=ctlvm
check "--vm alone: exit 0 while the VM runs" $?

# the same name again
"$BHYVE" -s 0,hostbridge -s 31,lpc -l com1,stdio -o boot.raw="$IDLE" ctlvm </dev/null \
	>/dev/null 2>"$TMP/dup.err"
r=$?
check "a second bhyve with the same name exits 4" "$([ $r = 4 ]; echo $?)" "exit $r"
check "... saying the VM is already running" \
	"$(grep -qxF "bhyve: VM ctlvm is already running ($VMM/ctlvm)" "$TMP/dup.err"; echo $?)" \
	"$(cat "$TMP/dup.err")"
check "... and leaves the first VM's socket alone" \
	"$([ -S "$VMM/ctlvm" ] && "$BHYVECTL" --vm=ctlvm; echo $?)"

# the power button: the guest sees PWRBTN_STS and says so; the VM keeps running
"$BHYVECTL" --vm=ctlvm --poweroff
r=$?
wait_for "$TMP/ctlvm.out" "power button" 1
seen=$?
check "--poweroff presses the guest's power button" "$([ $r = 0 ] && [ $seen = 0 ]; echo $?)" \
	"exit $r; console: $(tr '\n' ' ' <"$TMP/ctlvm.out")"
kill -TERM "$vm_pid"
wait_for "$TMP/ctlvm.out" "power button" 2
check "SIGTERM presses it too" $? "console: $(tr '\n' ' ' <"$TMP/ctlvm.out")"
sleep 0.3
check "the VM keeps running (the guest ignores the button)" \
	"$(running "$vm_pid" && "$BHYVECTL" --vm=ctlvm; echo $?)"

# --- stopping: exit status, socket removed before bhyvectl returns ---
# stop_case OPTION EXPECTED_STATUS [LABEL]
stop_case() {
	local opt=$1 want=$2 label=${3:-$1}
	"$BHYVECTL" --vm=ctlvm "$opt" 2>"$TMP/ctl.err"
	local r=$?
	local gone=1
	[ -e "$VMM/ctlvm" ] || gone=0
	finish "$vm_pid"
	check "$label: bhyve exits $want" "$([ $r = 0 ] && [ "$rc" = "$want" ]; echo $?)" \
		"bhyvectl exit $r ($(cat "$TMP/ctl.err")), bhyve exit $rc; $(tail -2 "$TMP/ctlvm.err")"
	check "$label: the socket is gone when bhyvectl returns" $gone
}
stop_case --force-poweroff 1
out=$("$BHYVECTL" --vm=ctlvm --get-stats 2>&1)
r=$?
check "a stopped VM: exit 1, 'not running'" \
	"$([ $r = 1 ] && [ "$out" = "bhyvectl: VM 'ctlvm' is not running" ]; echo $?)" "$out"
out=$("$BHYVECTL" --list 2>&1)
check "--list is empty with no VM running" "$([ $? = 0 ] && [ -z "$out" ]; echo $?)" "$out"

start ctlvm || check "restart" 1 "$(cat "$TMP/ctlvm.err")"
vm_pid=$bpid
stop_case --force-reset 0

start ctlvm || check "restart" 1 "$(cat "$TMP/ctlvm.err")"
vm_pid=$bpid
stop_case --destroy 4
check "--destroy logs 'destroyed by bhyvectl'" \
	"$(grep -qx 'bhyve: destroyed by bhyvectl' "$TMP/ctlvm.err"; echo $?)" "$(cat "$TMP/ctlvm.err")"

# --- a bhyve killed outright leaves a stale socket: ignored, then replaced ---
start ctlvm
vm_pid=$bpid
kill -9 "$vm_pid"
wait "$vm_pid" 2>/dev/null
out=$("$BHYVECTL" --vm=ctlvm --destroy 2>&1)
r=$?
check "stale socket: 'not running'" \
	"$([ -S "$VMM/ctlvm" ] && [ $r = 1 ] && [ "$out" = "bhyvectl: VM 'ctlvm' is not running" ]; echo $?)" "$out"
out=$("$BHYVECTL" --list 2>&1)
check "stale socket: --list skips it" "$([ -z "$out" ]; echo $?)" "$out"
start ctlvm
check "stale socket: a new bhyve replaces it" $? "$(cat "$TMP/ctlvm.err")"
vm_pid=$bpid
stop_case --destroy 4 "stale socket replaced, then --destroy"

# --- the command line ---
# usage_case NAME EXPECTED_STATUS STDERR_PATTERN ARGS...
usage_case() {
	local name=$1 want=$2 pat=$3
	shift 3
	"$BHYVECTL" "$@" >"$TMP/u.out" 2>"$TMP/u.err"
	local r=$?
	check "usage: $name" "$([ $r = "$want" ] && grep -q -- "$pat" "$TMP/u.err" "$TMP/u.out"; echo $?)" \
		"exit $r: $(head -3 "$TMP/u.err")"
}
usage_case "no arguments" 1 "--vm=<name> is required"
usage_case "unknown option" 1 "unknown option --frobnicate" --vm=x --frobnicate
usage_case "an abbreviated option is refused (--d is not --destroy)" 1 "give the option's whole name" --vm=x --d
usage_case "an abbreviated --vm is refused" 1 "give the option's whole name" --v=x --get-stats
usage_case "unknown option prints usage" 1 "^usage: " --vm=x --frobnicate
usage_case "developer option" 1 "developer options" --vm=x --get-rip
usage_case "--create" 1 "start bhyve instead" --vm=x --create
usage_case "conflicting actions" 1 "cannot be combined" --vm=x --destroy --force-reset
usage_case "value on a flag" 1 "takes no value" --vm=x --destroy=1
usage_case "--vm without a value" 1 "needs a value" --vm
usage_case "stray argument" 1 "unexpected argument" --vm=x extra
usage_case "bad VM name" 1 "cannot contain" --vm=a/b --destroy
usage_case "VM not running" 1 "VM 'nosuch' is not running" --vm=nosuch --force-reset
usage_case "--help" 0 "^usage: " --help

echo "# ctl tests: $pass passed, $fail failed"
[ "$fail" = 0 ]
