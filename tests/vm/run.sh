#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Running guests with `vm`: start/stop/restart/poweroff/reset/console/startall/stopall and the
# supervisor (`vm _run`), with a temporary vm_dir. Bad input must fail with one line on stderr and
# change nothing. With a usable /dev/kvm, tiny guests (tests/guests/*.S, booted with boot.raw)
# run under the supervisor: start, concurrent starts, console, reboot -> run 2, restart flag,
# reset/poweroff through the control socket, stale locks of killed supervisors. No network.
# Usage: tests/vm/run.sh BUILD_DIR   (prints "ok - ..." / "not ok - ..." lines)
set -u
BUILD=$(cd "${1:-build}" 2>/dev/null && pwd) || { echo "not ok - run: no build dir ${1:-build}"; exit 1; }
VM=$BUILD/vm
TMP=$(mktemp -d /tmp/vm-run.XXXXXX)
export vm_dir=$TMP/vms KBHYVE_CONF=$TMP/kbhyve.conf KBHYVE_RUNDIR=$TMP/run
# (the bhyve next to vm is used: $BUILD/bhyve)
unset KBHYVE_BHYVE
pass=0
fail=0
trap 'cleanup' EXIT
trap '' PIPE

cleanup() {
	# supervisors we started and left running (a failed check): stop them hard
	for l in "$vm_dir"/*/run.lock; do
		[ -f "$l" ] || continue
		p=$(awk '{print $2}' "$l")
		[ -n "$p" ] || continue
		pkill -9 -P "$p" 2>/dev/null # its bhyve
		kill -9 "$p" 2>/dev/null
	done
	rm -rf "$TMP"
}

check() { # NAME RESULT(0 = pass) [DETAIL]
	if [ "$2" = 0 ]; then
		echo "ok - run: $1"
		pass=$((pass + 1))
	else
		echo "not ok - run: $1${3:+ ($3)}"
		fail=$((fail + 1))
	fi
}
wait_for() { # SECONDS COMMAND...
	local n=$(($1 * 10))
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}
oneline() { tr '\n' ' ' < "$1" | head -c 300; }
tree() { (cd "$vm_dir" && find . -newer "$TMP/stamp" -o -name run.lock | sort) 2>/dev/null; }

# bad NAME ARGS...: exit != 0, exactly one line on stderr, nothing created or changed in vm_dir
bad() {
	local name=$1
	shift
	touch "$TMP/stamp"
	sleep 0.01
	local before after
	before=$(cd "$vm_dir" && find . -printf '%p %s %T@\n' | sort)
	"$VM" "$@" </dev/null >"$TMP/bad.out" 2>"$TMP/bad.err"
	local rc=$?
	after=$(cd "$vm_dir" && find . -printf '%p %s %T@\n' | sort)
	local lines
	lines=$(wc -l < "$TMP/bad.err")
	check "$name: vm $* fails with one line" \
		"$([ $rc != 0 ] && [ "$lines" = 1 ] && [ "$before" = "$after" ]; echo $?)" \
		"exit $rc, $lines lines: $(oneline "$TMP/bad.err")$([ "$before" = "$after" ] || echo "; vm_dir changed")"
}

mkdir -p "$vm_dir/.config" "$KBHYVE_RUNDIR"
touch "$vm_dir/.config/system.conf"
printf 'vm_dir="%s"\nvm_delay="0"\n' "$vm_dir" > "$KBHYVE_CONF"
G=$BUILD/guests
# guest NAME TINY_GUEST [MORE CONF LINES...]: a guest whose bhyve runs tests/guests/NAME.S
guest() {
	local name=$1 bin=$G/$2.bin
	shift 2
	mkdir -p "$vm_dir/$name"
	# the extra lines come first: as in vm-bhyve, a key's first assignment wins
	{
		for l in "$@"; do echo "$l"; done
		echo 'loader="kernel"'
		echo "kernel=\"$bin\""
		echo 'cpu=1'
		echo 'memory=32M'
		echo "bhyve_options=\"-o boot.raw=$bin\""
	} > "$vm_dir/$name/$name.conf"
}
guest idle1 idle
guest echo1 echo
guest reset1 reset_cf9
guest bad1 idle 'cpu="lots"'

# ---- bad input: every subcommand run.sh covers ----
for c in start stop restart poweroff reset console; do
	bad "$c without a guest" "$c"
	bad "$c of an unknown guest" "$c" nosuch
	bad "$c of an invalid name" "$c" 'Bad!Name'
done
for c in restart console; do
	bad "$c of a stopped guest" "$c" idle1
done
# as in vm-bhyve: a warning, exit 0 (so that scripts can stop guests that may be down)
"$VM" stop idle1 >"$TMP/o" 2>"$TMP/e"
rc=$?
check "stop of a stopped guest: one warning, exit 0" "$([ $rc = 0 ] && [ "$(wc -l <"$TMP/e")" = 1 ] && grep -q 'not running' "$TMP/e"; echo $?)" "exit $rc: $(oneline "$TMP/e")"
bad "poweroff -f of a stopped guest" poweroff -f idle1
bad "reset -f of a stopped guest" reset -f idle1
bad "start with an unknown option" start -x idle1
bad "start -f with two guests" start -f idle1 echo1
bad "start -f -i together" start -f -i idle1
bad "start with one unknown among several (nothing started)" start idle1 nosuch
bad "stop with an unknown option" stop -x idle1
bad "restart with two guests" restart idle1 echo1
bad "poweroff with two guests" poweroff -f idle1 echo1
bad "reset with an unknown option" reset -x idle1
bad "console with a bad port" console idle1 com3
bad "console with extra arguments" console idle1 com1 more
bad "startall with an argument" startall idle1
bad "stopall with an argument" stopall idle1
bad "stopall with an unknown option" stopall -x
bad "_run without a guest" _run
bad "install without an ISO" install idle1
bad "install with a missing ISO" install idle1 /nonexistent.iso
bad "migrate without a host" migrate idle1
bad "migrate of an unknown guest" migrate nosuch somehost
bad "migrate (live) of a stopped guest" migrate idle1 somehost
bad "migrate with a downtime that is not milliseconds" migrate -t 1s idle1 somehost
bad "migrate -c with a downtime target" migrate -c -t 100 idle1 somehost
bad "migrate to a host that looks like an option" migrate idle1 -oProxyCommand=x
bad "migrate with a datastore name that is not one" migrate -d 'a;b' idle1 somehost
bad "_migrate_in without a configuration on its input" _migrate_in newguest
# what vm migrate runs on the other host (over ssh): a conf arriving for a stopped guest of that
# name that is another guest (its uuid differs) is refused, and that guest's conf stays
arriving=$(printf 'loader="kernel"\ncpu=1\nmemory=64M\nuuid="0b0b0b0b-0000-4000-8000-000000000001"\n')
cp "$vm_dir/idle1/idle1.conf" "$TMP/idle1.conf.before"
{ printf 'conf %d\n' "${#arriving}"; printf '%s' "$arriving"; } | "$VM" _migrate_in idle1 >"$TMP/o" 2>"$TMP/e"
rc=$?
check "_migrate_in over a different guest of the same name: refused with one line, its conf kept" \
	"$([ $rc = 1 ] && [ "$(wc -l <"$TMP/e")" = 1 ] && grep -q 'a different guest' "$TMP/e" &&
		cmp -s "$vm_dir/idle1/idle1.conf" "$TMP/idle1.conf.before"; echo $?)" "exit $rc: $(oneline "$TMP/e")"
{ printf 'conf 99\n'; printf 'loader="kernel"\n'; } | "$VM" _migrate_in newguest >"$TMP/o" 2>"$TMP/e"
rc=$?
check "_migrate_in with a configuration cut short: one line, no guest made" \
	"$([ $rc = 1 ] && [ "$(wc -l <"$TMP/e")" = 1 ] && grep -q 'incomplete' "$TMP/e" && [ ! -e "$vm_dir/newguest" ]; echo $?)" \
	"exit $rc: $(oneline "$TMP/e")"

# ---- run.lock states without a guest: a held lock, another host's, a stale one ----
L=$vm_dir/idle1/run.lock
# a live holder: util-linux flock(1) takes the same flock(2) lock the supervisor takes
( exec 8>>"$L"; flock 8; echo "$(hostname) $BASHPID" > "$L"; exec sleep 30 ) &
holder=$!
wait_for 5 grep -q " " "$L"
"$VM" start idle1 >"$TMP/o" 2>"$TMP/e"
rc=$?
# skipped with a warning and exit 0, as vm-bhyve does; no supervisor of ours was started
check "start skips a guest whose lock is held" \
	"$([ $rc = 0 ] && grep -q 'already running' "$TMP/e" && ! grep -q 'supervisor' "$vm_dir/idle1/vm-bhyve.log" 2>/dev/null; echo $?)" "exit $rc: $(oneline "$TMP/e")"
{ kill -9 $holder; wait $holder; } 2>/dev/null # (no "Killed" job notice)
check "lock of a killed holder is left behind" "$([ -f "$L" ]; echo $?)" "no file"
"$VM" stop idle1 >"$TMP/o" 2>"$TMP/e"
rc=$?
check "stale lock: stop says not running and clears it" \
	"$([ $rc = 0 ] && grep -q 'not running' "$TMP/e" && [ ! -e "$L" ]; echo $?)" "exit $rc, $(oneline "$TMP/e"), lock $(ls "$L" 2>&1)"
check "stale lock: logged in vm-bhyve.log" "$(grep -q 'stale run.lock' "$vm_dir/idle1/vm-bhyve.log" 2>/dev/null; echo $?)" "$(cat "$vm_dir/idle1/vm-bhyve.log" 2>&1)"
echo "elsewhere.example 77" > "$L"
"$VM" start idle1 >"$TMP/o" 2>"$TMP/e"
rc=$?
check "another host's lock: start refused, lock kept" \
	"$([ $rc != 0 ] && grep -q 'elsewhere.example' "$TMP/e" && [ "$(cat "$L")" = "elsewhere.example 77" ]; echo $?)" "exit $rc, $(oneline "$TMP/e")"
rm -f "$L"

# ---- a bhyve that fails at once (a kernel that does not exist; or no /dev/kvm here): vm start
# reports bhyve's own message in one line, and the supervisor leaves nothing behind ----
guest nokernel idle
sed -i 's|^bhyve_options=.*||; s|^kernel=.*|kernel="/nonexistent/vmlinuz"|' "$vm_dir/nokernel/nokernel.conf"
"$VM" start nokernel >"$TMP/o" 2>"$TMP/e"
rc=$?
check "start of a guest whose bhyve fails: one-line error with bhyve's reason" \
	"$([ $rc != 0 ] && [ "$(wc -l < "$TMP/e")" = 1 ] && grep -q 'bhyve exited with status 4: bhyve: ' "$TMP/e"; echo $?)" "exit $rc: $(oneline "$TMP/e")"
check "failed start: no lock, console file or pty link left" \
	"$([ ! -e "$vm_dir/nokernel/run.lock" ] && [ ! -e "$vm_dir/nokernel/console" ] && [ ! -e "$vm_dir/nokernel/com1" ]; echo $?)" "$(ls "$vm_dir/nokernel" | tr '\n' ' ')"

# ---- tiny guests under the supervisor (needs a KVM that runs them) ----
if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ] || [ ! -x "$BUILD/bhyve" ] || [ ! -f "$G/idle.bin" ]; then
	echo "ok - run: tiny guests under the supervisor # SKIP no usable /dev/kvm, $BUILD/bhyve or $G/*.bin"
	echo "# vm run tests: $pass passed, $fail failed"
	[ "$fail" = 0 ]
	exit
fi
running() { local p; p=$(sup_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
gone() { [ ! -e "$vm_dir/$1/run.lock" ] && [ ! -e "$vm_dir/$1/console" ]; }
sup_of() { awk '{print $2}' "$vm_dir/$1/run.lock" 2>/dev/null; }
log_of() { cat "$vm_dir/$1/vm-bhyve.log" 2>/dev/null; }

"$VM" start bad1 >"$TMP/o" 2>"$TMP/e"
rc=$?
check "start with a config bhyvecmd refuses: error from the supervisor" \
	"$([ $rc != 0 ] && [ "$(wc -l < "$TMP/e")" = 1 ] && grep -q cpu "$TMP/e" && gone bad1; echo $?)" "exit $rc: $(oneline "$TMP/e")"

"$VM" start idle1 >"$TMP/o" 2>"$TMP/e"
rc=$?
check "start idle1: running, supervisor holds the lock" "$([ $rc = 0 ] && running idle1; echo $?)" "exit $rc: $(oneline "$TMP/e")"
check "console file names com1's pty link" "$(grep -qx "com1=$vm_dir/idle1/com1" "$vm_dir/idle1/console" && [ -L "$vm_dir/idle1/com1" ]; echo $?)" "$(cat "$vm_dir/idle1/console" 2>&1)"
"$VM" start idle1 >"$TMP/o" 2>"$TMP/e"
check "start of a running guest: skipped with one warning, exit 0" "$([ $? = 0 ] && [ "$(wc -l < "$TMP/e")" = 1 ] && grep -q 'already running' "$TMP/e"; echo $?)" "$(oneline "$TMP/e")"
( sleep 1; printf '~.' ) | timeout 20 "$VM" console idle1 >"$TMP/con.out" 2>"$TMP/con.err"
rc=$?
check "console: ~. detaches, exit 0, guest still running" "$([ $rc = 0 ] && grep -q 'connected to idle1 com1' "$TMP/con.err" && running idle1; echo $?)" "exit $rc: $(oneline "$TMP/con.err")"

# restart flag: the idle guest ignores the restart's power button; a forced poweroff then
# overrides the restart (the flag is dropped), and the guest stays off
"$VM" restart idle1 >"$TMP/o" 2>"$TMP/e"
rc=$?
check "restart leaves the restart flag" "$([ $rc = 0 ] && [ -e "$vm_dir/idle1/restart" ]; echo $?)" "exit $rc: $(oneline "$TMP/e")"
wait_for 10 test -S "$KBHYVE_RUNDIR/vmm/idle1"
"$VM" poweroff -f idle1 >"$TMP/o" 2>"$TMP/e"
rc=$?
wait_for 10 gone idle1
check "restart then poweroff -f: powered off, the restart dropped" \
	"$([ $rc = 0 ] && gone idle1 && ! log_of idle1 | grep -q 'starting bhyve (run 2)' && [ ! -e "$vm_dir/idle1/restart" ]; echo $?)" \
	"exit $rc: $(oneline "$TMP/e") $(log_of idle1 | tail -4 | tr '\n' ' ')"
: > "$vm_dir/idle1/vm-bhyve.log"
"$VM" start idle1 >/dev/null 2>&1
sup=$(sup_of idle1)
wait_for 10 test -S "$KBHYVE_RUNDIR/vmm/idle1"
"$VM" reset -f idle1 >"$TMP/o" 2>"$TMP/e"
rc=$?
wait_for 10 sh -c "grep -q 'starting bhyve (run 2)' '$vm_dir/idle1/vm-bhyve.log'"
check "reset -f: bhyve exits 0 and runs again (run 2)" \
	"$([ $rc = 0 ] && log_of idle1 | grep -q 'bhyve exited with status 0' && log_of idle1 | grep -q 'starting bhyve (run 2)'; echo $?)" "exit $rc: $(oneline "$TMP/e")"
wait_for 10 test -S "$KBHYVE_RUNDIR/vmm/idle1"
"$VM" poweroff -f idle1 >"$TMP/o" 2>"$TMP/e"
rc=$?
wait_for 10 gone idle1
# the supervisor releases its lock just before it exits: give a loaded host that moment
wait_for 10 sh -c "! kill -0 $sup 2>/dev/null"
check "poweroff -f: exit 1 stops the supervisor; lock and console file gone" \
	"$([ $rc = 0 ] && gone idle1 && ! kill -0 "$sup" 2>/dev/null && log_of idle1 | grep -q 'guest powered off'; echo $?)" \
	"exit $rc: $(oneline "$TMP/e") $(ls "$vm_dir/idle1" | tr '\n' ' ')"
"$VM" poweroff idle1 </dev/null >"$TMP/o" 2>"$TMP/e"
check "poweroff of a stopped guest refused" "$([ $? != 0 ]; echo $?)"

# two concurrent starts: exactly one supervisor
: > "$vm_dir/idle1/vm-bhyve.log"
"$VM" start idle1 >"$TMP/s1" 2>&1 &
p1=$!
"$VM" start idle1 >"$TMP/s2" 2>&1 &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
n=$(grep -c 'supervisor .* started' "$vm_dir/idle1/vm-bhyve.log")
# (the other is skipped as running, exit 0, or loses the race for the lock, exit 1)
check "two concurrent starts: one supervisor" "$([ $((r1 + r2)) -le 1 ] && [ "$n" = 1 ] && running idle1; echo $?)" \
	"exits $r1 $r2, $n supervisors: $(oneline "$TMP/s1") / $(oneline "$TMP/s2")"

# stop: SIGTERM reaches bhyve as the power button (the idle guest prints it and keeps running);
# a forced poweroff then ends it with no restart
"$VM" stop idle1 >"$TMP/o" 2>"$TMP/e"
rc=$?
check "stop: sends the ACPI shutdown" "$([ $rc = 0 ] && grep -q 'ACPI shutdown' "$TMP/o"; echo $?)" "exit $rc: $(oneline "$TMP/e")"
wait_for 10 test -S "$KBHYVE_RUNDIR/vmm/idle1"
"$VM" poweroff -f idle1 >/dev/null 2>&1
wait_for 10 gone idle1
check "after stop: the next exit ends the supervisor (stopped on request)" \
	"$(gone idle1 && log_of idle1 | grep -q 'stopped on request' && ! log_of idle1 | grep -q 'run 2'; echo $?)" "$(log_of idle1 | tail -4 | tr '\n' ' ')"

# console input: the echo guest answers "got k" and powers off; the console sees the pty close
"$VM" start echo1 >/dev/null 2>"$TMP/e"
( sleep 1; printf k; sleep 10 ) | timeout 20 "$VM" console echo1 >"$TMP/con.out" 2>"$TMP/con.err"
rc=$?
wait_for 10 gone echo1
check "console relays input and output; ends when bhyve exits" \
	"$([ $rc = 0 ] && tr -d '\r' < "$TMP/con.out" | grep -q 'got k' && grep -q 'bhyve has exited' "$TMP/con.err"; echo $?)" \
	"exit $rc: out $(oneline "$TMP/con.out") err $(oneline "$TMP/con.err")"
check "echo guest powered off: supervisor gone, exit 1 logged" "$(gone echo1 && log_of echo1 | grep -q 'bhyve exited with status 1'; echo $?)" "$(log_of echo1 | tail -3 | tr '\n' ' ')"

# restart flag honoured: the echo guest ignores the restart's power button, then powers off by
# itself (status 1, on a key): that exit runs bhyve again, under the same supervisor
: > "$vm_dir/echo1/vm-bhyve.log"
"$VM" start echo1 >/dev/null 2>"$TMP/e"
sup=$(sup_of echo1)
"$VM" restart echo1 >/dev/null 2>&1
( sleep 1; printf k; sleep 5 ) | timeout 20 "$VM" console echo1 >/dev/null 2>&1
wait_for 10 sh -c "grep -q 'starting bhyve (run 2)' '$vm_dir/echo1/vm-bhyve.log'"
check "restart flag: the guest's own poweroff after restart runs bhyve again (run 2), same supervisor" \
	"$(log_of echo1 | grep -q 'starting bhyve (run 2)' && [ "$(sup_of echo1)" = "$sup" ] && [ ! -e "$vm_dir/echo1/restart" ]; echo $?)" \
	"$(log_of echo1 | tail -4 | tr '\n' ' ')"
wait_for 10 test -S "$KBHYVE_RUNDIR/vmm/echo1"
"$VM" poweroff -f echo1 >/dev/null 2>&1
wait_for 10 gone echo1

# reboot: a guest that resets at once (exit 0) is run again and again; stop ends the loop
"$VM" start reset1 >/dev/null 2>"$TMP/e"
wait_for 10 sh -c "grep -q 'starting bhyve (run 3)' '$vm_dir/reset1/vm-bhyve.log'"
check "guest reboot (exit 0): supervisor runs bhyve again (run 2, 3...)" \
	"$(log_of reset1 | grep -q 'bhyve exited with status 0' && log_of reset1 | grep -q 'starting bhyve (run 3)'; echo $?)" "$(log_of reset1 | tail -4 | tr '\n' ' ')"
"$VM" stop reset1 >/dev/null 2>&1
wait_for 10 gone reset1
check "stop ends the reboot loop" "$(gone reset1; echo $?)" "$(log_of reset1 | tail -3 | tr '\n' ' ')"
# on_restart="shutdown": a reboot stops the guest
echo 'on_restart="shutdown"' >> "$vm_dir/reset1/reset1.conf"
: > "$vm_dir/reset1/vm-bhyve.log"
"$VM" start reset1 >/dev/null 2>&1
wait_for 10 gone reset1
check "on_restart=shutdown: a reboot stops the guest" "$(gone reset1 && ! log_of reset1 | grep -q 'run 2'; echo $?)" "$(log_of reset1 | tail -3 | tr '\n' ' ')"

# a supervisor killed with SIGKILL (and its bhyve): its lock is stale, cleared, and start works
"$VM" start idle1 >/dev/null 2>&1
sup=$(sup_of idle1)
bp=$(pgrep -P "$sup" | head -1) # bhyve (its ps title is "bhyve: idle1")
kill -9 "$sup" $bp
wait_for 10 sh -c "! kill -0 $sup 2>/dev/null"
# (KVM teardown of the killed bhyve may take a moment; its control socket goes with it)
wait_for 20 sh -c "! kill -0 ${bp:-0} 2>/dev/null"
"$VM" console idle1 </dev/null >/dev/null 2>"$TMP/e"
check "killed supervisor: guest reads as not running, stale lock cleared" \
	"$([ $? != 0 ] && grep -q 'not running' "$TMP/e" && [ ! -e "$vm_dir/idle1/run.lock" ]; echo $?)" "$(oneline "$TMP/e")"
"$VM" start idle1 >/dev/null 2>"$TMP/e"
check "start after a killed supervisor" "$([ $? = 0 ] && running idle1; echo $?)" "$(oneline "$TMP/e")"
wait_for 10 test -S "$KBHYVE_RUNDIR/vmm/idle1"
"$VM" poweroff -f idle1 >/dev/null 2>&1
wait_for 10 gone idle1

# run_as: bhyve as uid 4242 with /dev/kvm's group. The supervisor gives it the disk, binds the
# control socket in the root-owned folder and hands it over, and puts the pty link in a run folder
# of the user's own; vm console follows that link only to one of the user's terminals.
guest badas idle 'run_as="no-such-user-here"'
"$VM" start badas >"$TMP/o" 2>"$TMP/e"
rc=$?
check "run_as of no user: the start fails with one line naming it" \
	"$([ $rc != 0 ] && [ "$(wc -l < "$TMP/e")" = 1 ] && grep -q 'run_as="no-such-user-here": no such user' "$TMP/e" && gone badas; echo $?)" "exit $rc: $(oneline "$TMP/e")"
kvm_group=$(stat -c %G /dev/kvm)
if [ "$kvm_group" = root ] || [ "$(($(stat -c 0%a /dev/kvm) & 060))" != $((060)) ] ||
	! setpriv --reuid=4242 --regid="$kvm_group" --clear-groups test -x "$BUILD/bhyve"; then
	echo "ok - run: run_as # SKIP /dev/kvm is not open to a group, or uid 4242 cannot run $BUILD/bhyve"
else
	chmod 755 "$TMP"
	guest asuser echo "run_as=\"4242:$kvm_group\"" 'disk0_type="virtio-blk"' 'disk0_name="disk0.img"'
	truncate -s 1M "$vm_dir/asuser/disk0.img"
	chmod 700 "$vm_dir/asuser" # as vm create makes it
	RD=$KBHYVE_RUNDIR/run_as/asuser
	"$VM" start asuser >"$TMP/o" 2>"$TMP/e"
	rc=$?
	bp=$(pgrep -P "$(sup_of asuser)" | head -1)
	check "run_as: bhyve runs as uid 4242, no capabilities, the supervisor as root" \
		"$([ $rc = 0 ] && [ -n "$bp" ] && [ "$(stat -c %u /proc/$bp)" = 4242 ] && grep -q '^CapEff:.*0000000000000000' /proc/$bp/status && [ "$(stat -c %u /proc/$(sup_of asuser))" = 0 ]; echo $?)" \
		"exit $rc, pid ${bp:-none}: $(oneline "$TMP/e") $(log_of asuser | tail -3 | tr '\n' ' ')"
	check "run_as: the disk is the user's; the guest folder root's, passable by the user's group only" \
		"$([ "$(stat -c %u "$vm_dir/asuser/disk0.img")" = 4242 ] && [ "$(stat -c '%u %G %a' "$vm_dir/asuser")" = "0 $kvm_group 710" ]; echo $?)" \
		"$(stat -c %U "$vm_dir/asuser/disk0.img") $(stat -c '%u %G %a' "$vm_dir/asuser")"
	wait_for 10 test -L "$RD/com1"
	check "run_as: the pty link is in the user's run folder (0700), named by the console file" \
		"$(grep -qx "com1=$RD/com1" "$vm_dir/asuser/console" && [ "$(stat -c '%u %a' "$RD")" = "4242 700" ] && [ ! -e "$vm_dir/asuser/com1" ]; echo $?)" \
		"$(cat "$vm_dir/asuser/console" 2>&1) $(stat -c '%u %a' "$RD" 2>&1)"
	check "run_as: the control socket is root's file, served by the user's bhyve" \
		"$([ -S "$KBHYVE_RUNDIR/vmm/asuser" ] && [ "$(stat -c %u "$KBHYVE_RUNDIR/vmm/asuser")" = 0 ] && "$VM" list | awk '$1 == "asuser"' | grep -q Running; echo $?)" \
		"$(ls -l "$KBHYVE_RUNDIR/vmm" 2>&1 | tr '\n' ' ') $("$VM" list 2>&1 | tr '\n' ' ')"
	# the user's folder points the link at root's terminal: vm console refuses it
	link=$(readlink "$RD/com1")
	python3 -c 'import os, sys, time; m, s = os.openpty(); print(os.ttyname(s), flush=True); time.sleep(30)' >"$TMP/rootpty" &
	ppid_=$!
	wait_for 10 test -s "$TMP/rootpty"
	ln -sfn "$(cat "$TMP/rootpty")" "$RD/com1"
	timeout 10 "$VM" console asuser </dev/null >/dev/null 2>"$TMP/e"
	rc=$?
	check "run_as: vm console refuses a link to another user's terminal" \
		"$([ $rc != 0 ] && grep -q 'not of the guest.s user' "$TMP/e"; echo $?)" "exit $rc: $(oneline "$TMP/e")"
	kill $ppid_ 2>/dev/null
	ln -sfn "$link" "$RD/com1"
	( sleep 1; printf k; sleep 10 ) | timeout 20 "$VM" console asuser >"$TMP/con.out" 2>"$TMP/con.err"
	rc=$?
	wait_for 10 gone asuser
	check "run_as: console relays the guest's output; it powers off and the supervisor stops" \
		"$([ $rc = 0 ] && tr -d '\r' < "$TMP/con.out" | grep -q 'got k' && gone asuser && log_of asuser | grep -q 'running bhyve as 4242'; echo $?)" \
		"exit $rc: $(oneline "$TMP/con.out") $(oneline "$TMP/con.err") $(log_of asuser | tail -3 | tr '\n' ' ')"
	check "run_as: the run folder and the control socket are gone" \
		"$([ ! -e "$RD" ] && [ ! -e "$KBHYVE_RUNDIR/vmm/asuser" ]; echo $?)" "$(ls -la "$RD" "$KBHYVE_RUNDIR/vmm" 2>&1 | tr '\n' ' ')"
fi

# prestart script (run in the guest folder with the guest's name) and priority (bhyve's nice value)
printf '#!/bin/sh\necho "$1 $(pwd)" >> prestart.out\n' > "$TMP/prestart.sh"
chmod +x "$TMP/prestart.sh"
guest prio1 idle "prestart=\"$TMP/prestart.sh\"" 'priority="7"'
"$VM" start prio1 >/dev/null 2>"$TMP/e"
bp=$(pgrep -P "$(sup_of prio1)" | head -1)
check "prestart script ran in the guest folder with the guest's name" \
	"$(grep -qx "prio1 $vm_dir/prio1" "$vm_dir/prio1/prestart.out" 2>/dev/null; echo $?)" "$(cat "$vm_dir/prio1/prestart.out" 2>&1) $(oneline "$TMP/e")"
check "priority=7: bhyve runs at nice 7" "$([ -n "$bp" ] && [ "$(ps -o ni= -p "$bp" | tr -d ' ')" = 7 ]; echo $?)" "pid ${bp:-none}, nice $(ps -o ni= -p "${bp:-1}")"
wait_for 10 test -S "$KBHYVE_RUNDIR/vmm/prio1"
"$VM" poweroff -f prio1 >/dev/null 2>&1
wait_for 10 gone prio1

# start -f: the supervisor in the foreground, com1 on our stdio
(sleep 1; printf k; sleep 5) | timeout 30 "$VM" start -f echo1 >"$TMP/fg.out" 2>"$TMP/fg.err"
rc=$?
check "start -f: com1 on stdio, returns when the guest powers off" \
	"$([ $rc = 0 ] && tr -d '\r' < "$TMP/fg.out" | grep -q 'got k' && gone echo1; echo $?)" "exit $rc: out $(oneline "$TMP/fg.out") err $(oneline "$TMP/fg.err")"

# start -i: the supervisor in a tmux session named after the guest, '.' made '~'
if command -v tmux >/dev/null; then
	guest tm.1 idle
	"$VM" start -i tm.1 >"$TMP/o" 2>"$TMP/e"
	rc=$?
	check "start -i: supervisor in tmux session tm~1" \
		"$([ $rc = 0 ] && running tm.1 && tmux has-session -t 'tm~1' 2>/dev/null && grep -qx 'com1=tmux/tm~1' "$vm_dir/tm.1/console"; echo $?)" \
		"exit $rc: $(oneline "$TMP/e") $(cat "$vm_dir/tm.1/console" 2>&1)"
	wait_for 10 sh -c "tmux capture-pane -p -t 'tm~1' 2>/dev/null | grep -q idle"
	check "start -i: the guest's com1 is the tmux pane" "$(tmux capture-pane -p -t 'tm~1' 2>/dev/null | grep -q idle; echo $?)" \
		"$(tmux capture-pane -p -t 'tm~1' 2>&1 | tr '\n' ' ' | head -c 200)"
	wait_for 10 test -S "$KBHYVE_RUNDIR/vmm/tm.1"
	"$VM" poweroff -f tm.1 >/dev/null 2>&1
	wait_for 10 gone tm.1
	wait_for 5 sh -c "! tmux has-session -t 'tm~1' 2>/dev/null"
	check "poweroff of a tmux guest ends its session" "$(gone tm.1 && ! tmux has-session -t 'tm~1' 2>/dev/null; echo $?)"
	tmux kill-session -t 'tm~1' 2>/dev/null
fi

# startall / stopall -f: vm_list order, the idle guests end on a forced poweroff
printf 'vm_dir="%s"\nvm_delay="0"\nvm_list="idle1 reset1"\n' "$vm_dir" > "$KBHYVE_CONF"
sed -i '/on_restart/d' "$vm_dir/reset1/reset1.conf"
"$VM" startall >"$TMP/o" 2>"$TMP/e"
rc=$?
check "startall starts vm_list" "$([ $rc = 0 ] && running idle1 && running reset1 && ! running echo1; echo $?)" "exit $rc: $(oneline "$TMP/e")"
timeout 20 "$VM" stopall -f >"$TMP/o" 2>"$TMP/e" &
sp=$!
wait_for 5 test -S "$KBHYVE_RUNDIR/vmm/idle1"
sleep 1
"$VM" poweroff -f idle1 >/dev/null 2>&1
wait $sp
rc=$?
check "stopall -f waits for every supervisor" "$([ $rc = 0 ] && gone idle1 && gone reset1; echo $?)" "exit $rc: $(oneline "$TMP/o") $(oneline "$TMP/e")"

echo "# vm run tests: $pass passed, $fail failed"
[ "$fail" = 0 ]
