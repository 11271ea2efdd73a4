#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Tiny-guest tests: the real bhyve binary runs a few hundred bytes of real-mode code on /dev/kvm
# and the test checks what the guest printed on COM1 and bhyve's exit status.
# Usage: tests/guests/run.sh BUILD_DIR   (prints "ok - name" / "not ok - name" lines)
set -u
BUILD=${1:-build}
if [ ! -e /dev/kvm ]; then
	# some build machines have no KVM at all: the test bed runs this same suite inside L1
	echo "# skip - guest: this host has no /dev/kvm; the nested test bed runs these tests in L1"
	exit 0
fi
BHYVE=$BUILD/bhyve
G=$BUILD/guests
pass=0
fail=0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# control sockets of these VMs live here, so parallel runs never clash on names
export KBHYVE_RUNDIR=$TMP/run

# check NAME STATUS WANT_STATUS OUTPUT WANT_OUTPUT STDERR_FILE
check() {
	local name=$1 rc=$2 want_rc=$3 got=$4 want_out=$5 err=$6
	if [ "$rc" = "$want_rc" ] && [ "$got" = "$want_out" ]; then
		echo "ok - guest: $name"
		pass=$((pass + 1))
	else
		echo "not ok - guest: $name (exit $rc, want $want_rc)"
		echo "#   output: $(printf %q "$got")"
		echo "#   wanted: $(printf %q "$want_out")"
		sed 's/^/#   stderr: /' "$err" | head -5
		fail=$((fail + 1))
	fi
}

# run_guest NAME EXPECTED_STATUS EXPECTED_OUTPUT BHYVE_ARGS...
run_guest() {
	local name=$1 want_rc=$2 want_out=$3
	shift 3
	timeout -k 5 120 "$BHYVE" "$@" </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err"
	local rc=$?
	check "$name" "$rc" "$want_rc" "$(tr -d '\r' <"$TMP/$name.out")" "$want_out" "$TMP/$name.err"
}

base=(-s 0,hostbridge -s 31,lpc -l com1,stdio)

run_guest hello 1 "hello from a tiny guest" "${base[@]}" -o boot.raw=$G/hello.bin tiny
run_guest pio-roundtrip 1 "scr a5 5a
pci 0:0.0 12751275
pci 0:31.0 70008086
pci 0:5.0 ffffffff
lpc class 06010000
rtc D 80
port 0x2a0 ff" "${base[@]}" -o boot.raw=$G/pio.bin tiny
run_guest pio-amd-hostbridge 1 "scr a5 5a
pci 0:0.0 74321022
pci 0:31.0 70008086
pci 0:5.0 ffffffff
lpc class 06010000
rtc D 80
port 0x2a0 ff" -s 0,amd_hostbridge -s 31,lpc -l com1,stdio -o boot.raw=$G/pio.bin tiny
# -e (x86.strictio): the unassigned port ends the VM with an error
run_guest strictio 4 "scr a5 5a
pci 0:0.0 12751275
pci 0:31.0 70008086
pci 0:5.0 ffffffff
lpc class 06010000
rtc D 80
port 0x2a0 " -e "${base[@]}" -o boot.raw=$G/pio.bin tiny
run_guest halt 2 "halting" "${base[@]}" -o boot.raw=$G/halt.bin tiny
run_guest reset-cf9 0 "resetting via 0xcf9" "${base[@]}" -o boot.raw=$G/reset_cf9.bin tiny
run_guest reset-i8042 0 "resetting via the keyboard controller" "${base[@]}" -o boot.raw=$G/reset_kbd.bin tiny
# The emulating KVM on some build machines (kvm_pvm) reports a triple fault as an emulation
# failure, not a shutdown; real KVM (as in the test bed's L1) reports the shutdown.
if [ -d /sys/module/kvm_pvm ]; then
	echo "# skip - guest: triple-fault (this /dev/kvm is kvm_pvm; the test bed runs it on kvm-amd)"
else
	run_guest triple-fault 3 "triple faulting" "${base[@]}" -o boot.raw=$G/triple.bin tiny
fi
run_guest uart-irq 1 "irq4 received" "${base[@]}" -o boot.raw=$G/uart_irq.bin tiny
# two vCPUs: the APs wait for INIT/SIPI and do not keep the VM from halting or powering off
run_guest hello-2cpu 1 "hello from a tiny guest" -c 2 "${base[@]}" -o boot.raw=$G/hello.bin tiny
run_guest halt-2cpu 2 "halting" -c 2 "${base[@]}" -o boot.raw=$G/halt.bin tiny

# -l bootrom: a 64 KiB ROM runs from the reset vector; its write to itself is ignored; it programs
# and erases the CFI flash of its VARS file, which holds the result when bhyve exits (0xB004: 1)
head -c 65536 /dev/zero >"$TMP/vars.fd"
rom_sum=$(md5sum <"$G/bootrom.bin")
run_guest bootrom 1 "rom: started at the reset vector
rom byte after write: aa
80 42 ff" "${base[@]}" -l bootrom,"$G/bootrom.bin","$TMP/vars.fd" tiny-rom
vars_ok=$(od -An -tx1 -j 16 -N1 "$TMP/vars.fd" | tr -d ' ')
blk1=$(tail -c +4097 "$TMP/vars.fd" | head -c 4096 | tr -d '\377' | wc -c)
other=$(head -c 4096 "$TMP/vars.fd" | tr -d '\000' | wc -c)
check "bootrom-vars-file" 0 0 "byte 0x10=$vars_ok, block 1 non-0xff bytes $blk1, other block 0 bytes $other, rom $( [ "$(md5sum <"$G/bootrom.bin")" = "$rom_sum" ] && echo unchanged || echo CHANGED)" \
	"byte 0x10=42, block 1 non-0xff bytes 0, other block 0 bytes 1, rom unchanged" "$TMP/bootrom.err"

# console input from stdin
printf k | timeout -k 5 120 "$BHYVE" "${base[@]}" -o boot.raw=$G/echo.bin tiny >"$TMP/echo.out" 2>"$TMP/echo.err"
rc=$?
out=$(tr -d '\r' <"$TMP/echo.out")
check "com1-stdin" "$rc" 1 "$out" "got k" "$TMP/echo.err"

# COM1 on a unix socket: a client types a byte and reads the answer; the socket is removed at exit
sock="$TMP/com1.sock"
timeout -k 5 120 "$BHYVE" -s 0,hostbridge -s 31,lpc -l com1,unix=$sock -o boot.raw=$G/echo.bin tiny-sock \
	</dev/null >/dev/null 2>"$TMP/sock.err" &
bpid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
out=$( (printf k; sleep 5) | timeout 60 socat - UNIX-CONNECT:"$sock" 2>/dev/null | tr -d '\r' | head -c 100)
wait $bpid
rc=$?
[ -e "$sock" ] && out="$out (socket file left behind)"
check "com1-unix-socket" "$rc" 1 "$out" "got k" "$TMP/sock.err"

# -p vcpu:hostcpu pins the vCPU's thread (vcpu.N.cpuset); a CPU the host lacks or a bad list
# stops bhyve with one line
last_cpu=$(($(nproc) - 1))
"$BHYVE" -p 0:$last_cpu -s 0,hostbridge -s 31,lpc -l com1,stdio -o boot.raw=$G/idle.bin tiny-pin \
	</dev/null >/dev/null 2>"$TMP/pin.err" &
bpid=$!
pinned=
for _ in $(seq 50); do
	for t in /proc/$bpid/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = "vcpu 0" ] &&
			pinned=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "$t/status")
	done
	[ -n "$pinned" ] && break
	sleep 0.1
done
kill -9 $bpid 2>/dev/null
wait $bpid 2>/dev/null
check "pin: -p 0:$last_cpu runs vCPU 0's thread on host CPU $last_cpu only" 0 0 "$pinned" "$last_cpu" "$TMP/pin.err"
for bad in "-p 0:4095" "-o vcpu.0.cpuset=1-x"; do
	# shellcheck disable=SC2086 # the option and its value
	timeout -k 5 60 "$BHYVE" $bad -s 0,hostbridge -o boot.raw=$G/idle.bin tiny-badpin </dev/null >/dev/null 2>"$TMP/badpin.err"
	rc=$?
	check "pin: $bad stops bhyve with one line" "$rc" 4 "$(wc -l <"$TMP/badpin.err")" 1 "$TMP/badpin.err"
done

# the sandbox (bhyve.8 SANDBOX): the running VMM's threads as the kernel sees them; the exit path
# (a pty console's link removed) runs confined; sandbox=off warns; a bad value stops bhyve
"$BHYVE" -c 2 -s 0,hostbridge -s 31,lpc -l com1,stdio -o boot.raw=$G/idle.bin tiny-sandbox \
	</dev/null >/dev/null 2>"$TMP/sandbox.err" &
bpid=$!
threads=0 unconfined=0
for _ in $(seq 50); do
	[ "$(ls /proc/$bpid/task 2>/dev/null | wc -l)" -ge 3 ] && break # main and two vCPUs
	sleep 0.1
done
# (newer kernels add KVM's own worker task to the process; it is checked like the others)
for t in /proc/$bpid/task/*; do
	threads=$((threads + 1))
	[ "$(grep -cxE 'Seccomp:[[:space:]]2|NoNewPrivs:[[:space:]]1|CapEff:[[:space:]]0{16}|CapPrm:[[:space:]]0{16}' "$t/status")" = 4 ] ||
		unconfined=$((unconfined + 1))
done
kill -9 $bpid 2>/dev/null
wait $bpid 2>/dev/null
check "sandbox: every thread has seccomp mode 2, no_new_privs, no capabilities" 0 0 \
	"$unconfined unconfined, $([ $threads -ge 3 ] && echo 'main and vCPUs seen')" "0 unconfined, main and vCPUs seen" "$TMP/sandbox.err"
link=$TMP/com1.link
timeout -k 5 120 "$BHYVE" -s 0,hostbridge -s 31,lpc -l com1,pty:"$link" -o boot.raw=$G/hello.bin tiny-pty \
	</dev/null >/dev/null 2>"$TMP/pty.err"
rc=$?
out="link $([ -e "$link" ] || [ -L "$link" ] && echo left || echo removed); $(grep -c forbidden "$TMP/pty.err") forbidden"
check "sandbox: com1 on pty:LINK, the link removed at exit by the confined process" "$rc" 1 "$out" \
	"link removed; 0 forbidden" "$TMP/pty.err"
timeout -k 5 120 "$BHYVE" "${base[@]}" -o sandbox=off -o boot.raw=$G/hello.bin tiny-nosandbox \
	</dev/null >"$TMP/nosb.out" 2>"$TMP/nosb.err"
rc=$?
out="$(tr -d '\r' <"$TMP/nosb.out"); $(grep -c 'warning: sandbox=off' "$TMP/nosb.err") warning"
check "sandbox=off: the guest runs, one warning" "$rc" 1 "$out" "hello from a tiny guest; 1 warning" "$TMP/nosb.err"
timeout -k 5 60 "$BHYVE" -o sandbox=maybe -s 0,hostbridge -o boot.raw=$G/idle.bin tiny-badsb </dev/null >/dev/null 2>"$TMP/badsb.err"
rc=$?
check "sandbox=maybe stops bhyve with one line" "$rc" 4 "$(wc -l <"$TMP/badsb.err")" 1 "$TMP/badsb.err"

# socket activation (LISTEN_PID/LISTEN_FDS, as vm's supervisor hands over the control socket of a
# guest run as another user): anything but one listening Unix socket on fd 3 stops bhyve
LISTEN_FDS=1 timeout -k 5 60 sh -c 'LISTEN_PID=$$ exec "$0" "$@" 3</dev/null' "$BHYVE" -s 0,hostbridge -o boot.raw=$G/idle.bin tiny-badfd </dev/null >/dev/null 2>"$TMP/badfd.err"
rc=$?
check "socket activation with fd 3 not a socket: one line, exit 4" "$rc" 4 "$(wc -l <"$TMP/badfd.err"; grep -c 'not a listening Unix stream socket' "$TMP/badfd.err")" "$(printf '1\n1')" "$TMP/badfd.err"
LISTEN_FDS=2 timeout -k 5 60 sh -c 'LISTEN_PID=$$ exec "$0" "$@"' "$BHYVE" -s 0,hostbridge -o boot.raw=$G/idle.bin tiny-badfd </dev/null >/dev/null 2>"$TMP/badfd.err"
rc=$?
check "socket activation with two sockets: one line, exit 4" "$rc" 4 "$(wc -l <"$TMP/badfd.err"; grep -c 'LISTEN_FDS=2' "$TMP/badfd.err")" "$(printf '1\n1')" "$TMP/badfd.err"

echo "# guest tests: $pass passed, $fail failed"
[ "$fail" = 0 ]
