#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Runs inside L1 (from in-l1-tests.sh): the `vm` manager end to end with a real Debian guest.
# vm init, a switch with an address, a template booting the payload kernel with the l2-vm.sh
# initrd, vm create/start/list/console/stop, the guest's own reboot (supervisor run 2), taps on
# the bridge, ACPI shutdown through the supervisor, reset/poweroff through the control socket,
# two concurrent starts, startall/stopall, run_as; vm suspend and resume; vm migrate (cold and
# live, to a second host over ssh); snapshot, rollback and a clone that boots on a btrfs datastore
# and on an LVM thin pool; then the host tests of tests/vm/run.sh on L1's KVM.
# Prints "ok - ..." / "not ok - ..." lines.
#   in-l1-vm.sh BUILD_DIR VM_INITRD VMLINUX
set -u
BUILD=$(cd "$1" && pwd) INITRD=$(realpath "$2") VMLINUX=$(realpath "$3")
VM=$BUILD/vm
T=$(mktemp -d /tmp/in-l1-vm.XXXXXX)
export vm_dir=$T/vms KBHYVE_CONF=$T/kbhyve.conf KBHYVE_RUNDIR=$T/run
G=$vm_dir/alpha
TAP=vmt-alpha-0
trap "" PIPE # writes to a console that has gone must not kill the test

check() { # NAME RESULT(0 = pass) DETAIL
	if [ "$2" = 0 ]; then echo "ok - l2 vm: $1"; else echo "not ok - l2 vm: $1 ($3)"; fi
}
# wait_for SECONDS COMMAND...: until COMMAND succeeds; 1 on timeout
wait_for() {
	local n=$(($1 * 5))
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.2; done
	return 1
}
state() { "$VM" list 2>/dev/null | awk '$1 == "alpha"' | grep -o -E 'Running|Stopped' | head -1; }
is_running() { [ "$(state)" = Running ]; }
is_stopped() { [ "$(state)" = Stopped ] && [ ! -e "$G/run.lock" ]; }
log_has() { grep -q -- "$1" "$G/vm-bhyve.log" 2>/dev/null; }
runs_logged() { grep -c 'starting bhyve (run' "$G/vm-bhyve.log" 2>/dev/null; }
con_has() { tr -d '\r' < "$1" | grep -q -- "$2"; }
oneline() { tr '\n' ' ' < "$1" | head -c 300; }
dump_log() { sed 's/^/#   vm-bhyve.log: /' "$G/vm-bhyve.log" 2>/dev/null | tail -${1:-12}; }
# the guest must be running to go on: else show why and stop here
need_running() {
	is_running && return 0
	echo "# $1: alpha is not running; the rest of the vm test is skipped"
	dump_log 20
	sed 's/^/#   bhyve.log: /' "$G/bhyve.log" 2>/dev/null | tail -20
	"$VM" switch destroy public >/dev/null 2>&1
	exit 1
}

# console NAME: `vm console alpha` in the background reading fifo $T/NAME.in (kept open on fd 7),
# output in $T/NAME.out, stderr in $T/NAME.err, pid in $con_pid
console_start() {
	rm -f "$T/$1.in"
	mkfifo "$T/$1.in"
	"$VM" console alpha <"$T/$1.in" >"$T/$1.out" 2>"$T/$1.err" &
	con_pid=$!
	exec 7>"$T/$1.in"
}
console_stop() { exec 7>&-; wait "$con_pid" 2>/dev/null; }
# send "go" until the guest has printed PATTERN on console NAME (SECONDS at most)
go_until() {
	local name=$1 pattern=$2 secs=$3
	for _ in $(seq "$secs"); do
		con_has "$T/$name.out" "$pattern" && return 0
		printf 'go\n' >&7 2>/dev/null
		sleep 1
	done
	con_has "$T/$name.out" "$pattern"
}

mkdir -p "$vm_dir"
printf 'vm_dir="%s"\nvm_list="alpha"\nvm_delay="1"\n' "$vm_dir" > "$KBHYVE_CONF"
"$VM" init >"$T/init.out" 2>&1
check "vm init" "$([ -d "$vm_dir/.config" ]; echo $?)" "$(oneline "$T/init.out")"
"$VM" switch create -a 10.77.0.1/24 public >"$T/sw.out" 2>&1
check "vm switch create -a 10.77.0.1/24 public" \
	"$(ip -4 addr show dev vm-public 2>/dev/null | grep -q 10.77.0.1/24; echo $?)" "$(oneline "$T/sw.out")"

mkdir -p "$vm_dir/.templates"
cat > "$vm_dir/.templates/l2test.conf" <<EOF
loader="kernel"
kernel="$VMLINUX"
initrd="$INITRD"
cmdline="console=ttyS0 quiet kbip=10.77.0.2/24 kbgw=10.77.0.1"
cpu=1
memory=256M
network0_type="virtio-net"
network0_switch="public"
disk0_type="virtio-blk"
disk0_name="disk0.img"
disk0_size="16M"
bhyve_options="-o x86.cpuid.disable=xsave"
debug="yes"
graphics="yes"
graphics_listen="127.0.0.1"
graphics_res="800x600"
EOF
"$VM" create -t l2test alpha >"$T/create.out" 2>&1
check "vm create -t l2test alpha" "$([ -f "$G/alpha.conf" ] && [ -f "$G/disk0.img" ]; echo $?)" "$(oneline "$T/create.out")"

# ---- boot 1: start, list, console, tap, the guest's own reboot ----
"$VM" start alpha >"$T/start.out" 2>&1
rc=$?
check "vm start alpha" "$([ $rc = 0 ] && is_running; echo $?)" "exit $rc, state $(state): $(oneline "$T/start.out")"
need_running "after vm start"
# as vm-bhyve: a running guest is skipped with one warning, exit 0, and nothing else starts
check "vm start on a running guest is skipped with one warning" "$("$VM" start alpha >/dev/null 2>"$T/e.err"; [ $? = 0 ] && grep -q 'already running.*skipped' "$T/e.err" && [ "$(wc -l < "$T/e.err")" = 1 ] && [ "$(grep -c 'supervisor .* started' "$G/vm-bhyve.log")" = 1 ]; echo $?)" "$(oneline "$T/e.err")"
check "vm list shows alpha Running" "$(is_running; echo $?)" "$("$VM" list 2>&1 | tr '\n' ' ')"
check "tap $TAP is a port of bridge vm-public" \
	"$([ "$(basename "$(readlink /sys/class/net/$TAP/master 2>/dev/null)")" = vm-public ]; echo $?)" \
	"$(ls /sys/class/net | tr '\n' ' ')"
check "console file names the pty" "$(grep -q "^com1=$G/com1" "$G/console" 2>/dev/null; echo $?)" "$(cat "$G/console" 2>&1)"
# graphics="yes": the framebuffer on the first free port from 5900, shown by vm list and vm info
vnc=$("$VM" list 2>/dev/null | awk '$1 == "alpha" { print $6 }')
check "vm list's VNC column: 127.0.0.1:59xx" "$(echo "$vnc" | grep -qE '^127\.0\.0\.1:59[0-9][0-9]$'; echo $?)" "$("$VM" list 2>&1 | tr '\n' ' ')"
check "vm info shows the VNC address" "$("$VM" info alpha 2>/dev/null | grep -qF "console: vnc=$vnc"; echo $?)" "$("$VM" info alpha 2>&1 | grep console | tr '\n' ' ')"
vout=$(python3 "$(dirname "$0")/../vnc/vncclient.py" 127.0.0.1 "${vnc##*:}" connect 2>&1)
check "a VNC viewer connects there (800x600, desktop name alpha)" "$([ "$vout" = "connected 800x600 alpha" ]; echo $?)" "$vout"
# vm console --web: the browser console's page, noVNC and the WebSocket bridge to alpha's VNC
"$VM" console --web -p 6080 alpha >"$T/web.out" 2>"$T/web.err" &
web_pid=$!
wait_for 20 grep -q . "$T/web.out"
check "vm console --web alpha prints the console's URL" "$(grep -qx 'http://127.0.0.1:6080/?guest=alpha' "$T/web.out"; echo $?)" "$(oneline "$T/web.out") $(oneline "$T/web.err")"
timeout 120 python3 "$(dirname "$0")/../vnc/wsbridge.py" 6080 - 800 600 | sed 's/^\(not ok\|ok\) - web: /\1 - l2 vm: console --web: /'
kill $web_pid 2>/dev/null
wait $web_pid 2>/dev/null
check "vm console --web ends on SIGTERM and said who connected" "$(! kill -0 $web_pid 2>/dev/null && grep -q 'viewer 127.0.0.1 connected' "$T/web.err"; echo $?)" "$(oneline "$T/web.err")"
console_start con1
go_until con1 'KBTEST ping=ok' 120
check "guest (boot 1) pings the switch address" "$(con_has "$T/con1.out" 'KBTEST ping=ok'; echo $?)" "$(oneline "$T/con1.out")"
check "vm console says how to detach" "$(grep -q '\[connected to alpha com1; ~\. or ~^D to detach\]' "$T/con1.err"; echo $?)" "$(oneline "$T/con1.err")"
# the guest reboots itself: bhyve exits 0, the console sees the pty close, the supervisor runs it again
wait_for 60 log_has 'starting bhyve (run 2)'
check "guest reboot: supervisor starts bhyve again (run 2)" \
	"$(log_has 'bhyve exited with status 0' && log_has 'starting bhyve (run 2)'; echo $?)" "$(dump_log 6 | tr '\n' ' ')"
wait_for 20 sh -c "! kill -0 $con_pid 2>/dev/null"
check "vm console ends when bhyve exits" "$(! kill -0 $con_pid 2>/dev/null; echo $?)" "still attached"
console_stop
check "vm list still shows alpha Running after the reboot" "$(is_running; echo $?)" "$(state)"

# ---- boot 2: console input, detach, ACPI shutdown via vm stop ----
need_running "after the reboot"
wait_for 20 test -e "$G/com1"
console_start con2
go_until con2 'KBTEST ready' 120
check "guest boot 2 read its boot count from the virtio disk" "$(con_has "$T/con2.out" 'KBTEST boot=2'; echo $?)" "$(oneline "$T/con2.out")"
check "guest (boot 2) pings the switch address" "$(con_has "$T/con2.out" 'KBTEST ping=ok'; echo $?)" "$(oneline "$T/con2.out")"
printf 'hello-console\n' >&7
wait_for 20 con_has "$T/con2.out" 'KBTEST got=hello-console'
check "vm console input reaches the guest" "$(con_has "$T/con2.out" 'KBTEST got=hello-console'; echo $?)" "$(oneline "$T/con2.out")"
printf '~.' >&7
wait_for 10 sh -c "! kill -0 $con_pid 2>/dev/null"
wait "$con_pid" 2>/dev/null
rc=$?
check "~. detaches (exit 0), the guest keeps running" "$([ $rc = 0 ] && is_running; echo $?)" "exit $rc, state $(state)"
exec 7>&-
# the same on a terminal: vm console under script(1) has a pty for stdin (raw mode); Enter sends \r
rm -f "$T/pty.in"
mkfifo "$T/pty.in"
script -q -e -c "$VM console alpha" /dev/null <"$T/pty.in" >"$T/pty.out" 2>&1 &
spid=$!
exec 7>"$T/pty.in"
sleep 2
printf 'pty-hello\r' >&7
wait_for 20 con_has "$T/pty.out" 'KBTEST got=pty-hello'
printf '~.' >&7
wait_for 10 sh -c "! kill -0 $spid 2>/dev/null"
wait "$spid" 2>/dev/null
rc=$?
exec 7>&-
check "vm console on a terminal: input, output, ~. detaches" \
	"$([ $rc = 0 ] && con_has "$T/pty.out" 'KBTEST got=pty-hello' && con_has "$T/pty.out" 'connected to alpha com1' && is_running; echo $?)" \
	"exit $rc: $(tr -d '\r' < "$T/pty.out" | tr '\n' ' ' | head -c 300)"
check "tap $TAP is back on vm-public after the reboot" \
	"$([ "$(basename "$(readlink /sys/class/net/$TAP/master 2>/dev/null)")" = vm-public ]; echo $?)" "$(ls /sys/class/net | tr '\n' ' ')"
sup=$(awk '{print $2}' "$G/run.lock" 2>/dev/null)
t0=$(date +%s)
"$VM" stop alpha >"$T/stop.out" 2>&1
rc=$?
wait_for 60 is_stopped
secs=$(($(date +%s) - t0))
check "vm stop: ACPI shutdown, supervisor gone (${secs}s)" \
	"$([ $rc = 0 ] && is_stopped && ! kill -0 "${sup:-0}" 2>/dev/null; echo $?)" "exit $rc, state $(state), $(oneline "$T/stop.out")"
check "after stop: run.lock, console file and pty link gone" "$([ ! -e "$G/run.lock" ] && [ ! -e "$G/console" ] && [ ! -e "$G/com1" ]; echo $?)" "$(ls "$G" | tr '\n' ' ')"
check "after stop: tap $TAP removed" "$([ ! -e /sys/class/net/$TAP ]; echo $?)" "still there"
check "vm-bhyve.log: exit 0 then exit 1, stopped on request" \
	"$(log_has 'bhyve exited with status 0' && log_has 'bhyve exited with status 1' && log_has 'stopped on request'; echo $?)" "$(dump_log 8 | tr '\n' ' ')"
check "vm stop on a stopped guest is skipped with one warning" "$("$VM" stop alpha >/dev/null 2>"$T/e.err"; [ $? = 0 ] && grep -q 'not running: skipped' "$T/e.err" && [ "$(wc -l < "$T/e.err")" = 1 ]; echo $?)" "$(oneline "$T/e.err")"

# ---- two concurrent starts: one supervisor; then reset and poweroff through the control socket ----
: > "$G/vm-bhyve.log"
"$VM" start alpha >"$T/s1.out" 2>&1 &
p1=$!
"$VM" start alpha >"$T/s2.out" 2>&1 &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
nsup=$(grep -c 'supervisor .* started' "$G/vm-bhyve.log")
check "two concurrent vm start: one succeeds, one supervisor" \
	"$([ $((r1 + r2)) = 1 ] && [ "$nsup" = 1 ] && is_running; echo $?)" "exits $r1 $r2, supervisors $nsup: $(oneline "$T/s1.out") / $(oneline "$T/s2.out")"
wait_for 30 test -S "$KBHYVE_RUNDIR/vmm/alpha"
sleep 2
"$VM" reset -f alpha >"$T/reset.out" 2>&1
rc=$?
wait_for 30 log_has 'starting bhyve (run 2)'
check "vm reset -f: bhyve exits 0, supervisor runs it again" \
	"$([ $rc = 0 ] && log_has 'bhyve exited with status 0' && log_has 'starting bhyve (run 2)' && is_running; echo $?)" "exit $rc: $(oneline "$T/reset.out") $(dump_log 6 | tr '\n' ' ')"
wait_for 30 test -S "$KBHYVE_RUNDIR/vmm/alpha"
sleep 1
"$VM" poweroff -f alpha >"$T/poff.out" 2>&1
rc=$?
wait_for 30 is_stopped
check "vm poweroff -f: bhyve exits 1, supervisor stops" \
	"$([ $rc = 0 ] && log_has 'bhyve exited with status 1' && log_has 'guest powered off' && is_stopped; echo $?)" "exit $rc: $(oneline "$T/poff.out") $(dump_log 6 | tr '\n' ' ')"
check "after poweroff: tap removed" "$([ ! -e /sys/class/net/$TAP ]; echo $?)" "still there"

# ---- startall / stopall (vm_list="alpha"): the guest powers off on the ACPI button ----
"$VM" startall >"$T/sa.out" 2>&1
rc=$?
check "vm startall starts vm_list" "$([ $rc = 0 ] && is_running; echo $?)" "exit $rc: $(oneline "$T/sa.out")"
wait_for 20 test -e "$G/com1"
console_start con3
go_until con3 'KBTEST ready' 120
console_stop
t0=$(date +%s)
timeout 120 "$VM" stopall >"$T/so.out" 2>&1
rc=$?
check "vm stopall waits until the guest is down ($(($(date +%s) - t0))s)" "$([ $rc = 0 ] && is_stopped; echo $?)" "exit $rc, state $(state): $(oneline "$T/so.out")"

# ---- run_as: the same template as uid 4242, which L1 lets open /dev/kvm by group ----
# The guest writes its boot count to its disk, pings the switch through its tap, reboots itself
# (the supervisor runs bhyve again, as the user again) and reads the count back from the disk.
kvm_mode=$(stat -c '%g %a' /dev/kvm)
tun_mode=$(stat -c '%a' /dev/net/tun)
chgrp 4242 /dev/kvm
chmod 660 /dev/kvm
chmod 666 /dev/net/tun # as a distribution's udev rules leave it (L1 has no udev)
chmod 755 "$T"
B=$vm_dir/beta
"$VM" create -t l2test beta >"$T/create-b.out" 2>&1
echo 'run_as="4242:4242"' >>"$B/beta.conf"
# the payload cache need not be open to the user: a copy it can read
cp "$VMLINUX" "$T/vmlinux.b"
cp "$INITRD" "$T/initrd.b"
chmod 644 "$T/vmlinux.b" "$T/initrd.b"
sed -i -e "s|^kernel=.*|kernel=\"$T/vmlinux.b\"|" -e "s|^initrd=.*|initrd=\"$T/initrd.b\"|" "$B/beta.conf"
"$VM" start beta >"$T/start-b.out" 2>&1
rc=$?
bsup=$(awk '{print $2}' "$B/run.lock" 2>/dev/null)
bvmm=
[ -n "$bsup" ] && bvmm=$(pgrep -P "$bsup" | head -1)
check "run_as: vm start beta; bhyve runs as uid 4242 with no capabilities, sandboxed" \
	"$([ $rc = 0 ] && [ -n "$bvmm" ] && [ "$(stat -c %u /proc/$bvmm)" = 4242 ] && grep -q '^CapEff:.*0000000000000000' /proc/$bvmm/status && grep -q '^Seccomp:.*2' /proc/$bvmm/status; echo $?)" \
	"exit $rc, pid ${bvmm:-none}: $(oneline "$T/start-b.out") $(tail -4 "$B/vm-bhyve.log" 2>/dev/null | tr '\n' ' ')"
check "run_as: beta's disk and tap are the user's" \
	"$([ "$(stat -c %u "$B/disk0.img")" = 4242 ] && [ "$(cat /sys/class/net/vmt-beta-0/owner 2>/dev/null)" = 4242 ]; echo $?)" \
	"disk $(stat -c %u "$B/disk0.img"), tap owner $(cat /sys/class/net/vmt-beta-0/owner 2>&1)"
bcon() { # NAME: vm console beta in the background, as console_start does for alpha
	rm -f "$T/$1.in"
	mkfifo "$T/$1.in"
	"$VM" console beta <"$T/$1.in" >"$T/$1.out" 2>"$T/$1.err" &
	con_pid=$!
	exec 7>"$T/$1.in"
}
wait_for 30 test -L "$KBHYVE_RUNDIR/run_as/beta/com1"
bcon bcon1
go_until bcon1 'KBTEST ping=ok' 120
check "run_as: the guest (boot 1) pings the switch through its tap" "$(con_has "$T/bcon1.out" 'KBTEST ping=ok'; echo $?)" "$(oneline "$T/bcon1.out") $(oneline "$T/bcon1.err")"
wait_for 60 grep -q 'starting bhyve (run 2)' "$B/vm-bhyve.log"
console_stop
wait_for 30 test -L "$KBHYVE_RUNDIR/run_as/beta/com1"
bcon bcon2
go_until bcon2 'KBTEST ready' 120
console_stop
bvmm=
[ -n "$bsup" ] && bvmm=$(pgrep -P "$bsup" | head -1)
check "run_as: after the guest's reboot, run 2 as uid 4242 reads boot=2 from its disk and pings" \
	"$(con_has "$T/bcon2.out" 'KBTEST boot=2' && con_has "$T/bcon2.out" 'KBTEST ping=ok' && [ "$(stat -c %u /proc/${bvmm:-0} 2>/dev/null)" = 4242 ]; echo $?)" \
	"$(oneline "$T/bcon2.out") $(tail -4 "$B/vm-bhyve.log" | tr '\n' ' ')"
"$VM" stop beta >"$T/stop-b.out" 2>&1
wait_for 60 sh -c "[ ! -e '$B/run.lock' ]"
check "run_as: vm stop beta; the run folder, control socket and tap are gone" \
	"$([ ! -e "$B/run.lock" ] && [ ! -e "$KBHYVE_RUNDIR/run_as/beta" ] && [ ! -e "$KBHYVE_RUNDIR/vmm/beta" ] && [ ! -e /sys/class/net/vmt-beta-0 ]; echo $?)" \
	"$(oneline "$T/stop-b.out") $(tail -3 "$B/vm-bhyve.log" | tr '\n' ' ')"
chgrp "${kvm_mode% *}" /dev/kvm
chmod "${kvm_mode#* }" /dev/kvm
chmod "$tun_mode" /dev/net/tun

# ---- vm suspend / vm resume: the guest stops into its folder's state and goes on from it ----
stopped() { [ ! -e "$1/run.lock" ]; }
bootcount() { dd if="$1/disk0.img" bs=512 count=1 2>/dev/null | tr -d '\000' | sed -n 's/^KBBOOT=\([0-9]*\).*/\1/p'; }
# sigma: the l2test guest without a display (fbuf cannot be saved yet) and its own address
"$VM" create -t l2test sigma >/dev/null 2>&1
S=$vm_dir/sigma
sed -i -e '/^graphics/d' -e 's/10\.77\.0\.2/10.77.0.9/' "$S/sigma.conf"
"$VM" start sigma >/dev/null 2>&1
wait_for 30 test -e "$S/com1"
gcon_sigma() { # NAME: vm console sigma in the background
	rm -f "$T/$1.in"
	mkfifo "$T/$1.in"
	"$VM" console sigma <"$T/$1.in" >"$T/$1.out" 2>"$T/$1.err" &
	con_pid=$!
	exec 7>"$T/$1.in"
}
gcon_sigma sig0
go_until sig0 'KBTEST rebooting' 120
wait_for 120 grep -q 'starting bhyve (run 2)' "$S/vm-bhyve.log"
console_stop
wait_for 30 test -e "$S/com1"
gcon_sigma sig1
go_until sig1 'KBTEST ready' 120
console_stop
"$VM" suspend sigma >"$T/suspend.out" 2>&1
rc=$?
wait_for 60 stopped "$S"
check "vm suspend sigma: saved into its folder, the supervisor stops (bhyve status 5)" \
	"$([ $rc = 0 ] && grep -q '^Suspended sigma' "$T/suspend.out" && stopped "$S" &&
		[ -s "$S/suspend.mem.meta" ] && [ -s "$S/suspend.mem.kern" ] &&
		grep -q 'bhyve exited with status 5' "$S/vm-bhyve.log" &&
		grep -q 'guest suspended' "$S/vm-bhyve.log"; echo $?)" \
	"rc $rc: $(oneline "$T/suspend.out") $(tail -4 "$S/vm-bhyve.log" | tr '\n' ' ')"
"$VM" resume sigma >"$T/resume.out" 2>&1
rc=$?
wait_for 30 test -e "$S/com1"
gcon_sigma sig2
for _ in $(seq 60); do
	con_has "$T/sig2.out" 'KBTEST got=after-resume' && break
	printf 'after-resume\n' >&7 2>/dev/null
	sleep 1
done
console_stop
check "vm resume sigma: the guest goes on where it was (echoes console input, no new boot, KBBOOT=2)" \
	"$([ $rc = 0 ] && con_has "$T/sig2.out" 'KBTEST got=after-resume' &&
		! con_has "$T/sig2.out" 'KBTEST boot=' && [ "$(bootcount "$S")" = 2 ]; echo $?)" \
	"rc $rc: $(oneline "$T/resume.out") console: $(oneline "$T/sig2.out") $(tail -4 "$S/vm-bhyve.log" | tr '\n' ' ')"
check "vm resume: the suspend state is used up once bhyve has it" \
	"$([ ! -e "$S/suspend.mem.meta" ] && [ ! -e "$S/suspend.mem" ] && grep -q 'resumed; suspend.mem removed' "$S/vm-bhyve.log"; echo $?)" \
	"$(ls "$S") $(tail -3 "$S/vm-bhyve.log" | tr '\n' ' ')"
"$VM" stop sigma >/dev/null 2>&1
wait_for 60 stopped "$S"
"$VM" resume sigma >"$T/resume2.out" 2>&1
rc=$?
check "vm resume of a guest that is not suspended is refused (vm start boots it)" \
	"$([ $rc = 1 ] && grep -q 'not suspended' "$T/resume2.out" && stopped "$S"; echo $?)" \
	"rc $rc: $(oneline "$T/resume2.out")"
"$VM" suspend alpha >"$T/suspend2.out" 2>&1
rc=$?
check "vm suspend of a guest that is not running is refused" \
	"$([ $rc = 1 ] && grep -q 'not running' "$T/suspend2.out"; echo $?)" "rc $rc: $(oneline "$T/suspend2.out")"
"$VM" destroy -f sigma >/dev/null 2>&1

# ---- vm migrate: cold and live between two hosts (in-l1-vm-migrate.sh) ----
. "$(dirname "$0")/in-l1-vm-migrate.sh"

# ---- snapshot, rollback and clone on btrfs and on an LVM thin pool ----
# The same story on each datastore kind: a guest whose disk counts its boots (KBBOOT=N) boots
# twice, is snapshotted, its disk overwritten, rolled back, and a clone of the snapshot boots as
# a guest of its own while the original's disk stays as it was. What each kind must show on the
# way (a subvolume, thin volumes...) comes from its hooks: KIND_created, KIND_snapshot,
# KIND_rolled_back, KIND_cloned, KIND_destroyed, each run as "HOOK ORIG CLONE" and true when it
# holds, and KIND_state, printed with a failure.
gcon() { # GUEST NAME: vm console GUEST in the background, as console_start does for alpha
	rm -f "$T/$2.in"
	mkfifo "$T/$2.in"
	"$VM" console "$1" <"$T/$2.in" >"$T/$2.out" 2>"$T/$2.err" &
	con_pid=$!
	exec 7>"$T/$2.in"
}
mac_of() { sed -n 's/^network0_mac="\(.*\)"$/\1/p' "$1/$(basename "$1").conf"; }
# snap_story KIND DATASTORE ROOT ORIG CLONE: ROOT is where the datastore keeps guest folders
snap_story() {
	local k=$1 ds=$2 root=$3 o=$4 c=$5
	local O=$root/$4 C=$root/$5 omac cmac
	"$VM" create -d "$ds" -t l2test "$o" >"$T/$k-create.out" 2>&1
	check "$k: vm create -d $ds $o ($(${k}_what created))" "$(${k}_created "$O" "$C"; echo $?)" \
		"$(oneline "$T/$k-create.out") $(${k}_state)"
	# boot 1 reboots itself, boot 2 stays: the disk says KBBOOT=2
	"$VM" start "$o" >/dev/null 2>&1
	wait_for 30 test -e "$O/com1"
	gcon "$o" "$k-con0"
	go_until "$k-con0" 'KBTEST rebooting' 120
	wait_for 120 grep -q 'starting bhyve (run 2)' "$O/vm-bhyve.log"
	console_stop
	wait_for 30 test -e "$O/com1"
	gcon "$o" "$k-con1"
	go_until "$k-con1" 'KBTEST ready' 120
	console_stop
	"$VM" stop "$o" >/dev/null 2>&1
	wait_for 60 stopped "$O"
	check "$k: $o booted twice (KBBOOT=2 on its disk)" "$([ "$(bootcount "$O")" = 2 ]; echo $?)" \
		"count $(bootcount "$O"): $(oneline "$T/$k-con1.out")"
	"$VM" snapshot "$o@two" >"$T/$k-snap.out" 2>&1
	check "$k: vm snapshot $o@two ($(${k}_what snapshot))" "$(${k}_snapshot "$O" "$C"; echo $?)" \
		"$(oneline "$T/$k-snap.out") $(${k}_state)"
	printf 'KBBOOT=9\n' | dd of="$O/disk0.img" bs=512 count=1 conv=sync,notrunc 2>/dev/null
	"$VM" rollback "$o@two" >"$T/$k-rb.out" 2>&1
	check "$k: vm rollback $o@two: KBBOOT=2 again ($(${k}_what rolled_back))" \
		"$([ "$(bootcount "$O")" = 2 ] && ${k}_rolled_back "$O" "$C"; echo $?)" \
		"count $(bootcount "$O"): $(oneline "$T/$k-rb.out") $(${k}_state)"
	"$VM" clone "$o@two" "$c" >"$T/$k-clone.out" 2>&1
	omac=$(mac_of "$O")
	cmac=$(mac_of "$C")
	check "$k: vm clone $o@two $c: its own MAC ($(${k}_what cloned))" \
		"$([ -n "$cmac" ] && [ "$cmac" != "$omac" ] && ${k}_cloned "$O" "$C"; echo $?)" \
		"$o $omac, $c $cmac: $(oneline "$T/$k-clone.out") $(${k}_state)"
	# the clone boots as a guest of its own: boot 3 (from the snapshot's count), its MAC, the switch
	"$VM" start "$c" >/dev/null 2>&1
	wait_for 30 test -e "$C/com1"
	gcon "$c" "$k-ccon"
	go_until "$k-ccon" 'KBTEST ready' 120
	console_stop
	check "$k: the clone boots (boot=3 from the snapshot's disk) with its own MAC and pings" \
		"$(con_has "$T/$k-ccon.out" 'KBTEST boot=3' && con_has "$T/$k-ccon.out" "mac=$cmac" && con_has "$T/$k-ccon.out" 'KBTEST ping=ok'; echo $?)" \
		"$(oneline "$T/$k-ccon.out") $(tail -3 "$C/vm-bhyve.log" 2>/dev/null | tr '\n' ' ')"
	"$VM" stop "$c" >/dev/null 2>&1
	wait_for 60 stopped "$C"
	check "$k: $o's disk is untouched by its clone's boot" "$([ "$(bootcount "$O")" = 2 ] && [ "$(bootcount "$C")" = 3 ]; echo $?)" \
		"$o $(bootcount "$O"), $c $(bootcount "$C")"
}
# snap_destroy KIND ORIG CLONE ROOT: both guests destroyed, nothing of them left
snap_destroy() {
	local k=$1
	"$VM" destroy -f "$3" >/dev/null 2>&1
	"$VM" destroy -f "$2" >"$T/$k-destroy.out" 2>&1
	check "$k: destroy leaves $(${k}_what destroyed)" "$([ ! -e "$4/$2" ] && [ ! -e "$4/$3" ] && ${k}_destroyed; echo $?)" \
		"$(oneline "$T/$k-destroy.out") $(${k}_state)"
}

# btrfs: guest folders are subvolumes, snapshots read-only subvolumes
btrfs_what() {
	case $1 in created | cloned) echo "a subvolume" ;; snapshot) echo "a read-only subvolume" ;;
	rolled_back) echo "the folder a subvolume again" ;; destroyed) echo "no subvolume" ;; esac
}
btrfs_created() { btrfs subvolume show "$1" >/dev/null 2>&1; }
btrfs_snapshot() { btrfs subvolume list -r "$T/btrfs" | grep -q "vm-snapshots/$(basename "$1")/[0-9]*-two\$"; }
btrfs_rolled_back() { btrfs subvolume show "$1" >/dev/null 2>&1; }
btrfs_cloned() { btrfs subvolume show "$2" >/dev/null 2>&1; }
btrfs_destroyed() { [ -z "$(btrfs subvolume list "$T/btrfs")" ]; }
btrfs_state() { btrfs subvolume list "$T/btrfs" 2>&1 | tr '\n' ' '; }
truncate -s 512M "$T/btrfs.img"
mkdir -p "$T/btrfs"
if mkfs.btrfs -q "$T/btrfs.img" >/dev/null 2>&1 && mount -o loop "$T/btrfs.img" "$T/btrfs" 2>"$T/mnt.err"; then
	"$VM" datastore add bt "$T/btrfs"
	snap_story btrfs bt "$T/btrfs" gamma delta
	snap_destroy btrfs gamma delta "$T/btrfs"
	umount "$T/btrfs"
else
	check "btrfs: a file system on a loop device in L1" 1 "$(oneline "$T/mnt.err")"
fi

# an LVM thin pool: every disk a thin volume linked from the guest folder, snapshots thin
# snapshots (L1 has no udev: lvm makes the device nodes itself)
export DM_DISABLE_UDEV=1 LVM_SUPPRESS_FD_WARNINGS=1
ours() { lvs --noheadings -o lv_name kbvg 2>/dev/null | grep -c 'vm+'; }
lvm_what() {
	case $1 in created) echo "disk0 a link to a thin volume" ;; snapshot) echo "a thin snapshot" ;;
	rolled_back) echo "the old volume gone" ;; cloned) echo "a thin volume of its own" ;;
	destroyed) echo "no volume, the pool kept" ;; esac
}
lvm_created() { [ -L "$1/disk0.img" ] && [ -b "$1/disk0.img" ] && readlink "$1/disk0.img" | grep -q '^/dev/kbvg/vm+[0-9a-f]\{12\}+disk0.img$' && [ "$(ours)" = 1 ]; }
lvm_snapshot() { [ "$(ours)" = 2 ] && "$VM" info "$(basename "$1")" | grep -q 'snapshots: lvm thin snapshots' && "$VM" info "$(basename "$1")" | grep -q "$(basename "$1")@two"; }
lvm_rolled_back() { [ "$(ours)" = 2 ]; }
lvm_cloned() { [ -b "$2/disk0.img" ] && [ "$(readlink "$2/disk0.img")" != "$(readlink "$1/disk0.img")" ]; }
lvm_destroyed() { [ "$(ours)" = 0 ] && lvs kbvg/pool >/dev/null 2>&1; }
lvm_state() { lvs -o lv_name,data_percent kbvg 2>&1 | tr '\n' ' '; }
truncate -s 1G "$T/lvm.img"
LOOP=$(losetup -f --show "$T/lvm.img" 2>/dev/null)
if [ -n "$LOOP" ] && pvcreate -q "$LOOP" >"$T/lvm.err" 2>&1 && vgcreate -q kbvg "$LOOP" >>"$T/lvm.err" 2>&1 &&
	lvcreate -q -y -L 600M -T kbvg/pool >>"$T/lvm.err" 2>&1; then
	"$VM" datastore add lv lvm:kbvg/pool >"$T/ds.out" 2>&1
	check "lvm: vm datastore add lv lvm:kbvg/pool" "$("$VM" datastore list | grep -q -E '^lv +lvm +lvm:kbvg/pool$'; echo $?)" "$(oneline "$T/ds.out")"
	snap_story lvm lv "$vm_dir/.lvm/lv" eps zeta
	# vm create -i onto the pool: the image (qcow2 here) is written into disk0's thin volume,
	# which stays thin; an image larger than the volume is refused and leaves no volume behind
	head -c 3M /dev/urandom > "$T/img.raw" && truncate -s 12M "$T/img.raw" &&
		qemu-img convert -f raw -O qcow2 "$T/img.raw" "$T/img.qcow2" && cp "$T/img.raw" "$T/expect.raw" &&
		truncate -s 16M "$T/expect.raw" && truncate -s 20M "$T/big.raw"
	IO=$vm_dir/.lvm/lv/iota
	"$VM" create -d lv -t l2test -i "$T/img.qcow2" iota >"$T/ci.out" 2>&1
	iolv=$(readlink "$IO/disk0.img" 2>/dev/null)
	check "lvm: vm create -d lv -i IMAGE.qcow2 iota: the image's bytes in a thin volume, still thin" \
		"$([ -b "$IO/disk0.img" ] && cmp -n 16777216 "$T/expect.raw" "$IO/disk0.img" >/dev/null &&
			[ "$(lvs --noheadings -o data_percent "${iolv#/dev/}" 2>/dev/null | tr -d ' ' | cut -d. -f1)" -lt 50 ]; echo $?)" \
		"$(oneline "$T/ci.out") $(lvs -o lv_name,data_percent kbvg 2>&1 | tr '\n' ' ')"
	before=$(ours)
	"$VM" create -d lv -t l2test -i "$T/big.raw" kappa >"$T/big.out" 2>&1
	rc=$?
	check "lvm: vm create -i with an image larger than disk0's volume: one line, no guest, no volume" \
		"$([ $rc != 0 ] && [ "$(wc -l < "$T/big.out")" = 1 ] && grep -q 'does not fit' "$T/big.out" &&
			[ ! -e "$vm_dir/.lvm/lv/kappa" ] && [ "$(ours)" = "$before" ]; echo $?)" "exit $rc: $(oneline "$T/big.out")"
	"$VM" destroy -f iota >/dev/null 2>&1
	snap_destroy lvm eps zeta "$vm_dir/.lvm/lv"
	vgremove -q -f kbvg >/dev/null 2>&1
	pvremove -q "$LOOP" >/dev/null 2>&1
else
	check "lvm: a thin pool on a loop device in L1" 1 "$(oneline "$T/lvm.err")"
fi
[ -n "$LOOP" ] && losetup -d "$LOOP"

"$VM" switch destroy public >/dev/null 2>&1

# ---- the host tests with tiny guests, on L1's real KVM ----
"$(dirname "$0")/../vm/run.sh" "$BUILD" | sed 's/^\(not ok\|ok\) - /\1 - l1 /'

rm -rf "$T"
