#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# vm lifecycle (review-vm.md findings 4, 5, 8, 10, 16, 17 and the start/stop/list parity items):
# orphaned bhyves (supervisor gone, control socket still answering), restart, `vm init` with
# broken switches, tmux starts, what a supervisor inherits, `vm stop/start a b`, `vm list -r/-v`.
# Guests that need a control socket run the real $BUILD/bhyve with a tiny guest when /dev/kvm
# works (inside the test bed's L1), else tests/vm/ctl-bhyve-standin.py (serves the socket like
# bhyve; runs no guest). The rest use lib.inc's stand-in bhyve.
# Usage: tests/vm/review-lifecycle.sh BUILD_DIR   (prints "ok - ..." / "not ok - ..." lines)
set -u
. "$(dirname "$0")/lib.inc"
vmt_init lifecycle "$1" --fake-bhyve
HERE=$(cd "$(dirname "$0")" && pwd)
export TMUX_TMPDIR=$TMP # a private tmux server
STANDINS=""
lc_cleanup() {
	local p
	for p in $STANDINS; do kill -9 "$p" 2>/dev/null; done
	command -v tmux >/dev/null && tmux kill-server 2>/dev/null
	vmt_cleanup
}
trap lc_cleanup EXIT

sup_of() { awk '{print $2}' "$vm_dir/$1/run.lock" 2>/dev/null; }
bhyve_of() { cat "/proc/$1/task/$1/children" 2>/dev/null | awk '{print $1}'; }
gone() { [ ! -e "$vm_dir/$1/run.lock" ]; }
log_of() { cat "$vm_dir/$1/vm-bhyve.log" 2>/dev/null; }
state_of() { "$VM" list 2>/dev/null | awk -v n="$1" '$1 == n { if ($NF == "Stopped") print "Stopped"; else print $(NF-1), $NF }'; }
alive() { kill -0 "$1" 2>/dev/null; }

# ---- guests whose bhyve answers on its control socket ----
G=$BUILD/guests
if [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ -x "$BUILD/bhyve" ] && [ -f "$G/idle.bin" ]; then
	CTLMODE=kvm
	CTLBHYVE=$BUILD/bhyve
	# the idle tiny guest ignores the ACPI power button, as a hung guest would
	ctlguest() {
		mkdir -p "$vm_dir/$1"
		printf 'loader="kernel"\nkernel="%s"\ncpu=1\nmemory=32M\nbhyve_options="-o boot.raw=%s"\n' \
			"$G/idle.bin" "$G/idle.bin" >"$vm_dir/$1/$1.conf"
	}
	ignore_acpi() { :; }
elif command -v python3 >/dev/null; then
	CTLMODE=standin
	CTLBHYVE=$TMP/ctlbhyve
	cp "$HERE/ctl-bhyve-standin.py" "$CTLBHYVE"
	chmod +x "$CTLBHYVE"
	ctlguest() { nonic "$1"; }
	ignore_acpi() { touch "$vm_dir/ignore"; }
else
	CTLMODE=""
fi
vmc() { KBHYVE_BHYVE=$CTLBHYVE "$VM" "$@"; }
echo "# lifecycle: control-socket guests use: ${CTLMODE:-nothing (no /dev/kvm, no python3)}"

if [ -n "$CTLMODE" ]; then
	# finding 4: a supervisor killed with SIGKILL leaves a bhyve that ignores the power button
	ctlguest orph
	ignore_acpi
	vmc start orph >"$TMP/o" 2>"$TMP/e"
	wait_for 10 test -S "$KBHYVE_RUNDIR/vmm/orph"
	sup=$(sup_of orph)
	bp=$(bhyve_of "$sup")
	STANDINS="$STANDINS $bp"
	kill -9 "$sup"
	wait_for 10 sh -c "! kill -0 $sup 2>/dev/null"
	sleep 0.5
	check "orphan: set-up (bhyve $bp outlives supervisor $sup)" "$([ -n "$bp" ] && alive "$bp" && [ -S "$KBHYVE_RUNDIR/vmm/orph" ]; echo $?)" \
		"$(oneline "$TMP/e") $(log_of orph | tail -3 | tr '\n' ' ')"
	st=$(state_of orph)
	check "orphan: vm list shows it running with bhyve's pid" "$([ "$st" = "Running ($bp)" ]; echo $?)" "state '$st', bhyve $bp"
	"$VM" list -j 2>/dev/null | grep -q "\"name\": \"orph\".*\"state\": \"Running ($bp)\""
	check "orphan: vm list -j too" "$?" "$("$VM" list -j 2>&1 | grep orph)"
	"$VM" info orph >"$TMP/o" 2>&1
	check "orphan: vm info says running, without a supervisor" \
		"$(grep -q 'state: running (no supervisor)' "$TMP/o" && grep -q "bhyve pid: $bp" "$TMP/o"; echo $?)" "$(oneline "$TMP/o")"
	n0=$(log_of orph | grep -c 'supervisor .* started')
	vmc start orph >"$TMP/o" 2>"$TMP/e"
	rc=$?
	n1=$(log_of orph | grep -c 'supervisor .* started')
	check "orphan: start refuses it (no second supervisor or bhyve)" \
		"$([ $rc != 0 ] && grep -q 'without a supervisor' "$TMP/e" && [ "$n0" = "$n1" ] && alive "$bp"; echo $?)" \
		"exit $rc, supervisors $n0 -> $n1: $(oneline "$TMP/e")"
	one_error_line "orphan: start" "$TMP/e"
	"$VM" destroy -f orph >"$TMP/o" 2>"$TMP/e"
	rc=$?
	check "orphan: destroy -f refuses it, files kept" \
		"$([ $rc != 0 ] && [ -f "$vm_dir/orph/orph.conf" ] && grep -q 'without a supervisor' "$TMP/e"; echo $?)" "exit $rc: $(oneline "$TMP/e")"
	one_error_line "orphan: destroy" "$TMP/e"
	"$VM" stop orph >"$TMP/o" 2>"$TMP/e"
	rc=$?
	check "orphan: stop presses its power button through the socket" \
		"$([ $rc = 0 ] && grep -q 'Sending ACPI shutdown to orph' "$TMP/o" && alive "$bp" &&
			{ [ "$CTLMODE" = kvm ] || [ "$(grep -c press "$vm_dir/orph.acpi" 2>/dev/null)" -ge 2 ]; }; echo $?)" \
		"exit $rc: $(oneline "$TMP/o") $(oneline "$TMP/e"); presses $(cat "$vm_dir/orph.acpi" 2>/dev/null | wc -l)"
	timeout 60 "$VM" stopall -f >"$TMP/sa.out" 2>&1 &
	sap=$!
	sleep 2
	check "orphan: stopall presses its button and waits for it" \
		"$(alive $sap && grep -q 'Sending ACPI shutdown to orph' "$TMP/sa.out"; echo $?)" "$(oneline "$TMP/sa.out")"
	"$VM" poweroff -f orph >"$TMP/o" 2>"$TMP/e"
	rc=$?
	wait_for 20 sh -c "! kill -0 $bp 2>/dev/null"
	check "orphan: poweroff -f ends it through the socket" \
		"$([ $rc = 0 ] && ! alive "$bp" && [ "$(state_of orph)" = Stopped ]; echo $?)" "exit $rc: $(oneline "$TMP/e"); state $(state_of orph)"
	wait $sap
	rc=$?
	check "orphan: stopall returns once it has gone" "$([ $rc = 0 ]; echo $?)" "exit $rc: $(oneline "$TMP/sa.out")"
	rm -f "$vm_dir/ignore"

	# a restart the guest ignored: a later poweroff -f powers off, it does not restart
	ctlguest rsf
	ignore_acpi
	vmc start rsf >/dev/null 2>&1
	wait_for 10 test -S "$KBHYVE_RUNDIR/vmm/rsf"
	sup=$(sup_of rsf)
	vmc restart rsf >/dev/null 2>&1
	sleep 1.5
	vmc poweroff -f rsf >"$TMP/o" 2>"$TMP/e"
	rc=$?
	wait_for 10 gone rsf
	check "restart ignored by the guest: poweroff -f then stops it (no run 2)" \
		"$([ $rc = 0 ] && gone rsf && ! log_of rsf | grep -q 'run 2' && [ ! -e "$vm_dir/rsf/restart" ]; echo $?)" \
		"exit $rc: $(oneline "$TMP/e") $(log_of rsf | tail -4 | tr '\n' ' ')"
	rm -f "$vm_dir/ignore"
	[ -n "$sup" ] && kill -9 "$sup" 2>/dev/null
else
	echo "ok - lifecycle: orphaned bhyve # SKIP no /dev/kvm and no python3 for the stand-in"
fi

# ---- finding 5: restart of a guest that shuts down at once ----
nonic g5
"$VM" start g5 >/dev/null 2>&1
sleep 1.2
"$VM" restart g5 >"$TMP/o" 2>"$TMP/e"
rc=$?
sleep 2.5
check "restart of a quick guest: running again (run 2), not stopped by a second signal" \
	"$([ $rc = 0 ] && ! gone g5 && log_of g5 | grep -q 'starting bhyve (run 2)' && ! log_of g5 | grep -q 'stopped on request'; echo $?)" \
	"exit $rc: $(oneline "$TMP/e") $(log_of g5 | tail -5 | tr '\n' ' ')"
"$VM" stop g5 >/dev/null 2>&1
wait_for 10 gone g5

# ---- finding 16: a restart flag the guest never used does not turn a crash into a restart ----
nonic g6
touch "$vm_dir/ignore" # lib.inc's stand-in reads it when it starts
"$VM" start g6 >/dev/null 2>&1
rm -f "$vm_dir/ignore"
sup=$(sup_of g6)
"$VM" restart g6 >/dev/null 2>&1
sleep 1.5
bp=$(bhyve_of "$sup")
[ -n "$bp" ] && kill -9 "$bp"
wait_for 10 gone g6
check "restart ignored by the guest: a later crash follows on_fault (stops), no run 2" \
	"$(gone g6 && ! log_of g6 | grep -q 'run 2' && [ ! -e "$vm_dir/g6/restart" ]; echo $?)" "$(log_of g6 | tail -4 | tr '\n' ' ')"
[ -n "$sup" ] && kill -9 "$sup" 2>/dev/null

# ---- finding 16: the supervisor and bhyve get no inherited descriptors and run in / ----
nonic g16
mkdir -p "$TMP/cwd"
(cd "$TMP/cwd" && exec "$VM" start g16 7>"$TMP/fd7" >/dev/null 2>&1)
sup=$(sup_of g16)
bp=$(bhyve_of "$sup")
leaks=$(for p in $sup $bp; do ls -l "/proc/$p/fd" 2>/dev/null | grep -c "$TMP/fd7"; done | awk '{ n += $1 } END { print n + 0 }')
check "start: no inherited fd in the supervisor or bhyve" "$([ -n "$bp" ] && [ "$leaks" = 0 ]; echo $?)" "sup $sup bhyve $bp: $leaks leaks"
check "start: supervisor and bhyve run in /" \
	"$([ "$(readlink "/proc/$sup/cwd")" = / ] && [ "$(readlink "/proc/$bp/cwd")" = / ]; echo $?)" \
	"$(readlink "/proc/$sup/cwd") $(readlink "/proc/$bp/cwd")"
"$VM" stop g16 >/dev/null 2>&1
wait_for 10 gone g16
(cd "$TMP" && KBHYVE_CONF=kbhyve.conf KBHYVE_BHYVE=fakebhyve exec "$VM" start g16 >"$TMP/o" 2>"$TMP/e")
rc=$?
check "start with relative KBHYVE_CONF/KBHYVE_BHYVE: the supervisor (in /) still finds them" \
	"$([ $rc = 0 ] && ! gone g16; echo $?)" "exit $rc: $(oneline "$TMP/e")"
sup=$(sup_of g16)
check "start: the supervisor leads a session of its own" "$([ "$(ps -o sid= -p "$sup" | tr -d ' ')" = "$sup" ]; echo $?)"

# ---- parity: vm stop a b / vm start a b skip the ones already in that state ----
nonic pa
nonic pb
"$VM" stop g16 pa >"$TMP/o" 2>"$TMP/e"
rc=$?
wait_for 10 gone g16
check "stop a b with b stopped: a stopped, a warning for b, exit 0" \
	"$([ $rc = 0 ] && gone g16 && grep -q 'pa' "$TMP/e" && grep -q 'Sending ACPI shutdown to g16' "$TMP/o"; echo $?)" "exit $rc: $(oneline "$TMP/e")"
one_error_line "stop a b with b stopped" "$TMP/e"
"$VM" start pa >/dev/null 2>&1
"$VM" start pa pb >"$TMP/o" 2>"$TMP/e"
rc=$?
check "start a b with a running: b started, a warning for a, exit 0" \
	"$([ $rc = 0 ] && ! gone pb && grep -q 'pa' "$TMP/e"; echo $?)" "exit $rc: $(oneline "$TMP/e")"
one_error_line "start a b with a running" "$TMP/e"
"$VM" stop pa nosuch >"$TMP/o" 2>"$TMP/e"
check "stop with an unknown guest among them: nothing stopped, exit 1" "$([ $? != 0 ] && ! gone pa; echo $?)" "$(oneline "$TMP/e")"

# ---- parity: vm list -r, -v; STATE shows bhyve's pid ----
bp=$(bhyve_of "$(sup_of pa)")
check "list: STATE of a running guest shows bhyve's pid" "$([ -n "$bp" ] && [ "$(state_of pa)" = "Running ($bp)" ]; echo $?)" "$(state_of pa), bhyve $bp"
"$VM" list -r >"$TMP/o" 2>"$TMP/e"
rc=$?
check "list -r: running guests only" \
	"$([ $rc = 0 ] && grep -q '^pa ' "$TMP/o" && grep -q '^pb ' "$TMP/o" && ! grep -q '^g5 ' "$TMP/o" && head -1 "$TMP/o" | grep -q '^NAME'; echo $?)" \
	"exit $rc: $(oneline "$TMP/o") $(oneline "$TMP/e")"
"$VM" list -v >"$TMP/o" 2>"$TMP/e"
rc=$?
check "list -v: %CPU, RSZ and UPTIME of bhyve" \
	"$([ $rc = 0 ] && head -1 "$TMP/o" | grep -q '%CPU *RSZ *UPTIME *STATE' &&
		grep '^pa ' "$TMP/o" | grep -Eq '[0-9.]+ +[0-9.]+[BKMG] +[0-9:d ]+ +Running' &&
		grep '^g5 ' "$TMP/o" | grep -q ' - *- *- *Stopped'; echo $?)" \
	"exit $rc: $(oneline "$TMP/o") $(oneline "$TMP/e")"
"$VM" list -rj >"$TMP/o" 2>&1
check "list -rj: JSON of the running ones" "$(grep -q '"name": "pa"' "$TMP/o" && ! grep -q '"name": "g5"' "$TMP/o"; echo $?)" "$(oneline "$TMP/o")"
"$VM" stop pa pb >/dev/null 2>&1
wait_for 10 sh -c "[ ! -e '$vm_dir/pa/run.lock' ] && [ ! -e '$vm_dir/pb/run.lock' ]"

# ---- finding 8: vm init with a broken switch still exits 0, so startall runs ----
cp "$vm_dir/.config/system.conf" "$TMP/system.conf.saved"
# a system.conf from vm-bhyve (shared/wild): hyphenated switch names (valid since vm-bhyve parity),
# and an uplink (lagg0) this host does not have
WILD=$HERE/../../shared/wild/system-confs/freebsd-vm-bhyve-issue141__system-hyphen-switch.conf
[ -f "$WILD" ] || WILD=/work/shared/wild/system-confs/freebsd-vm-bhyve-issue141__system-hyphen-switch.conf
if [ -f "$WILD" ]; then
	cp "$WILD" "$vm_dir/.config/system.conf"
	echo >>"$vm_dir/.config/system.conf"
	"$VM" init >"$TMP/o" 2>"$TMP/e"
	rc=$?
	check "init with an imported system.conf (hyphenated switch): exit 0" "$([ $rc = 0 ]; echo $?)" "exit $rc: $(oneline "$TMP/e")"
	check "init with an imported system.conf: the missing uplink on one line" \
		"$([ "$(grep -c 'switch' "$TMP/e")" = 1 ] && grep -q "switch 'public'.*lagg0" "$TMP/e"; echo $?)" "$(oneline "$TMP/e")"
else
	echo "ok - lifecycle: init with an imported system.conf # SKIP no shared/wild"
fi
cp "$TMP/system.conf.saved" "$vm_dir/.config/system.conf"
if vmt_netns 2>/dev/null; then
	$NS ip link add up0 type veth peer name up0p
	$NS "$VM" switch create public >/dev/null 2>&1
	$NS "$VM" switch add public up0 >/dev/null 2>"$TMP/e"
	$NS ip link del up0
	nonic auto1
	printf 'vm_delay="0"\nvm_list="auto1"\n' >"$KBHYVE_CONF"
	# the unit's two ExecStart lines
	$NS "$VM" init >"$TMP/o" 2>"$TMP/e" && $NS "$VM" startall >"$TMP/o2" 2>"$TMP/e2"
	rc=$?
	check "init with a missing uplink: one line, exit 0, startall starts vm_list" \
		"$([ $rc = 0 ] && [ "$(grep -c 'up0' "$TMP/e")" = 1 ] && ! gone auto1 && $NS ip link show vm-public >/dev/null 2>&1; echo $?)" \
		"exit $rc: $(oneline "$TMP/e") / $(oneline "$TMP/e2")"
	"$VM" stop auto1 >/dev/null 2>&1
	wait_for 10 gone auto1
	echo 'vm_delay="0"' >"$KBHYVE_CONF"
	cp "$TMP/system.conf.saved" "$vm_dir/.config/system.conf"
else
	echo "ok - lifecycle: init with a missing uplink # SKIP no network namespace (root needed)"
fi
grep -q '^After=.*remote-fs.target' "$HERE/../../share/systemd/kbhyve-vm.service"
check "unit: ordered after remote file systems (a vm_dir on NFS)" "$?"

# ---- finding 10 and tmux parity: tmux starts report failures, exact targets, -i attaches ----
if command -v tmux >/dev/null; then
	nonic g10
	sed -i 's/^loader=.*/loader="lilo"/' "$vm_dir/g10/g10.conf"
	grep -q '^loader=' "$vm_dir/g10/g10.conf" || echo 'loader="lilo"' >>"$vm_dir/g10/g10.conf"
	bad=0
	for i in 1 2 3 4 5 6 7 8; do
		"$VM" start -i g10 >"$TMP/o" 2>"$TMP/e"
		rc=$?
		{ [ $rc != 0 ] && grep -q 'lilo' "$TMP/e" && [ "$(wc -l <"$TMP/e")" = 1 ]; } ||
			{ [ $((bad += 1)) = 1 ] && firstbad="try $i: exit $rc $(oneline "$TMP/e")"; }
	done
	check "start -i of a guest that cannot start: the error, every time (8 tries)" "$([ $bad = 0 ]; echo $?)" "$bad bad; first: ${firstbad:-}"

	# a bhyve that fails after 0.3 s (the supervisor holds the lock that long): deterministic
	printf '#!/bin/bash\nsleep 0.3\necho "bhyve: cannot open the disk" >&2\nexit 4\n' >"$TMP/failbhyve"
	chmod +x "$TMP/failbhyve"
	nonic g10b
	KBHYVE_BHYVE=$TMP/failbhyve "$VM" start -i g10b >"$TMP/o" 2>"$TMP/e"
	rc=$?
	check "start -i of a guest whose bhyve fails after 0.3 s: reported, exit 1" \
		"$([ $rc != 0 ] && grep -q 'status 4' "$TMP/e" && [ "$(wc -l <"$TMP/e")" = 1 ]; echo $?)" "exit $rc: $(oneline "$TMP/o") $(oneline "$TMP/e")"

	# a session whose name starts with the guest's: the guest's own must be used, exactly
	tmux new-session -d -s tmx 'sleep 300'
	nonic tm
	(exec 8>>"$vm_dir/tm/run.lock"; flock 8; echo "$(hostname) $BASHPID" >"$vm_dir/tm/run.lock"; exec sleep 30) &
	holder=$!
	wait_for 5 grep -q ' ' "$vm_dir/tm/run.lock"
	echo "com1=tmux/tm" >"$vm_dir/tm/console"
	"$VM" console tm </dev/null >"$TMP/o" 2>"$TMP/e"
	check "console of a tmux guest whose session is gone: not another session with its prefix" \
		"$(grep -q "can't find session" "$TMP/e"; echo $?)" "$(oneline "$TMP/e")"
	{ kill -9 $holder; wait $holder; } 2>/dev/null
	rm -f "$vm_dir/tm/console" "$vm_dir/tm/run.lock"

	# console="tmux" with -i: vm start attaches to the guest's session
	printf 'console="tmux"\n' >>"$vm_dir/.config/system.conf"
	script -qec "$VM start -i tm" /dev/null >"$TMP/att.out" 2>&1 &
	sp=$!
	wait_for 10 sh -c "tmux list-clients -t '=tm' 2>/dev/null | grep -q ."
	attached=$?
	tmux detach-client -s '=tm' 2>/dev/null
	wait_for 10 sh -c "! kill -0 $sp 2>/dev/null"
	check "start -i with console=tmux attaches to the guest's session" "$([ $attached = 0 ] && ! gone tm; echo $?)" "$(oneline "$TMP/att.out")"
	kill $sp 2>/dev/null
	"$VM" start pb >/dev/null 2>&1
	check "console=tmux without -i: started detached" "$(! gone pb && [ -z "$(tmux list-clients -t '=pb' 2>/dev/null)" ]; echo $?)"
	"$VM" stop tm pb >/dev/null 2>&1
	wait_for 10 sh -c "[ ! -e '$vm_dir/tm/run.lock' ] && [ ! -e '$vm_dir/pb/run.lock' ]"
	cp "$TMP/system.conf.saved" "$vm_dir/.config/system.conf"
else
	echo "ok - lifecycle: tmux starts # SKIP no tmux"
fi

# ---- stopall with a delay probes each guest again before its button (finding 17, PID reuse):
# a guest stopped and started again during the delay has another supervisor, which gets the press
# (the pid read before the delay is never signalled) ----
nonic sa1
nonic sa2
printf 'vm_delay="8"\nvm_list="sa1 sa2"\n' >"$KBHYVE_CONF"
"$VM" start sa1 >/dev/null 2>&1
"$VM" start sa2 >/dev/null 2>&1
old_sup=$(sup_of sa1)
timeout 60 "$VM" stopall >"$TMP/sa.out" 2>&1 &
sp=$!
# stopall presses sa2 first, then waits vm_delay (8 s) before sa1: restart sa1 meanwhile
wait_for 10 grep -q 'shutdown to sa2' "$TMP/sa.out"
"$VM" stop sa1 >/dev/null 2>&1
wait_for 10 gone sa1
"$VM" start sa1 >/dev/null 2>&1
new_sup=$(sup_of sa1)
wait $sp
rc=$?
check "stopall with a delay: a guest started again meanwhile (supervisor $old_sup, then $new_sup) is stopped too" \
	"$([ $rc = 0 ] && [ -n "$new_sup" ] && [ "$new_sup" != "$old_sup" ] && gone sa1 && gone sa2; echo $?)" \
	"exit $rc: $(oneline "$TMP/sa.out") $(state_of sa1)"
"$VM" stop sa1 >/dev/null 2>&1
wait_for 10 gone sa1
echo 'vm_delay="0"' >"$KBHYVE_CONF"

echo "# lifecycle: $vmt_pass passed, $vmt_fail failed"
[ "$vmt_fail" = 0 ]
